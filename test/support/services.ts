/**
 * Where the tests find the real Kafka broker and DynamoDB Local that
 * scripts/services/services.mjs fetches and starts (`node scripts/services/services.mjs start all`).
 *
 * Endpoints come from KAFKA_BROKERS (comma-separated host:port) and DYNAMODB_ENDPOINT (a URL), as
 * `.ci/run` exports them; without them, the script's default ports (OBOL_KAFKA_PORT,
 * OBOL_DYNAMODB_PORT) are tried. Whether a service answers is checked once per test process.
 *
 * A suite declared with describeWithKafka or describeWithDynamoDb runs when its service answers.
 * When it does not: in CI it fails (a service the project requires is missing), elsewhere its
 * tests are reported skipped after a loud warning naming the command that starts the service.
 */
import { randomBytes } from 'node:crypto';
import { Admin } from '@platformatic/kafka';
import { DynamoDBClient, ListTablesCommand, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { describe, it } from 'vitest';

const START_COMMAND = 'node scripts/services/services.mjs start';

function isCi(): boolean {
  return process.env.CI === 'true' || process.env.CI === '1';
}

function portFromEnv(name: string, fallback: number): number {
  const value = Number(process.env[name]);
  return Number.isInteger(value) && value > 0 ? value : fallback;
}

/** The brokers the tests are configured to use, whether or not they answer. */
export function configuredKafkaBrokers(): string[] {
  const listed = (process.env.KAFKA_BROKERS ?? '')
    .split(',')
    .map((broker) => broker.trim())
    .filter((broker) => broker.length > 0);
  return listed.length > 0 ? listed : [`127.0.0.1:${portFromEnv('OBOL_KAFKA_PORT', 19092)}`];
}

/** The DynamoDB endpoint the tests are configured to use, whether or not it answers. */
export function configuredDynamoDbEndpoint(): string {
  const url = process.env.DYNAMODB_ENDPOINT?.trim();
  return url ? url : `http://127.0.0.1:${portFromEnv('OBOL_DYNAMODB_PORT', 18000)}`;
}

/**
 * Client settings for DynamoDB Local: any region and credentials are accepted (the script starts
 * it with -sharedDb, so all of them see the same tables), but the access key id must be letters
 * and digits only, or it answers UnrecognizedClientException.
 */
export function dynamoDbClientConfig(endpoint: string): DynamoDBClientConfig {
  return {
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'obolTest', secretAccessKey: 'obolTest' },
  };
}

/**
 * A name no other test file or earlier run has used: topics, groups and tables outlive a test
 * file, because the services are shared by the whole run (and by reruns until they are stopped).
 */
export function uniqueServiceName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

let kafkaCheck: Promise<string[] | null> | undefined;
let dynamoDbCheck: Promise<string | null> | undefined;

/** The brokers, if a Kafka broker answers a metadata request there; otherwise null. */
export function kafkaBrokers(): Promise<string[] | null> {
  kafkaCheck ??= (async () => {
    const brokers = configuredKafkaBrokers();
    const admin = new Admin({ clientId: 'obol-test-probe', bootstrapBrokers: brokers, retries: 0, connectTimeout: 2000, requestTimeout: 5000, timeout: 5000 });
    try {
      const metadata = await admin.metadata({ topics: [] });
      return metadata.brokers.size > 0 ? brokers : null;
    } catch {
      return null;
    } finally {
      await admin.close().catch(() => undefined);
    }
  })();
  return kafkaCheck;
}

/** The endpoint, if DynamoDB (Local) answers ListTables there; otherwise null. */
export function dynamoDbEndpoint(): Promise<string | null> {
  dynamoDbCheck ??= (async () => {
    const endpoint = configuredDynamoDbEndpoint();
    const client = new DynamoDBClient({ ...dynamoDbClientConfig(endpoint), maxAttempts: 1, requestHandler: { connectionTimeout: 2000, requestTimeout: 5000 } });
    try {
      await client.send(new ListTablesCommand({ Limit: 1 }));
      return endpoint;
    } catch {
      return null;
    } finally {
      client.destroy();
    }
  })();
  return dynamoDbCheck;
}

interface ServiceCheck<T> {
  readonly title: string;
  readonly service: 'kafka' | 'dynamodb';
  readonly where: string;
  readonly envName: string;
  /** What the suite would have been given, for declaring its tests as skipped. */
  readonly configured: T;
  readonly reachable: () => Promise<T | null>;
}

function describeWithService<T>(check: ServiceCheck<T>, name: string, suite: (endpoint: T) => void): void {
  // Vitest awaits an async suite factory while collecting, so the check happens before any test
  // of the suite is declared, and the outcome decides what is declared.
  describe(name, async () => {
    const endpoint = await check.reachable();
    if (endpoint !== null) {
      suite(endpoint);
      return;
    }
    const reason = `${check.title} is not reachable at ${check.where}`;
    if (isCi()) {
      it(`${check.title} is required in CI but not reachable at ${check.where}`, () => {
        throw new Error(`${reason}. .ci/run starts it with \`${START_COMMAND} ${check.service}\` and exports ${check.envName}; did that step fail?`);
      });
      return;
    }
    const bar = '!'.repeat(78);
    console.warn(
      `\n${bar}\n!! "${name}" SKIPPED: ${reason}.\n!! Start it with: ${START_COMMAND} ${check.service}  (or set ${check.envName})\n!! CI will fail without it.\n${bar}\n`,
    );
    // The suite is still declared, under a skipped block, so every one of its tests is reported
    // as skipped rather than silently missing; a skipped block runs none of its hooks.
    describe.skip(`SKIPPED: ${reason}`, () => suite(check.configured));
  });
}

/** Declares a suite that needs Kafka; `suite` receives the bootstrap brokers. */
export function describeWithKafka(name: string, suite: (brokers: readonly string[]) => void): void {
  const configured = configuredKafkaBrokers();
  describeWithService<readonly string[]>(
    { title: 'Kafka', service: 'kafka', where: configured.join(','), envName: 'KAFKA_BROKERS', configured, reachable: kafkaBrokers },
    name,
    suite,
  );
}

/** Declares a suite that needs DynamoDB; `suite` receives the endpoint URL. */
export function describeWithDynamoDb(name: string, suite: (endpoint: string) => void): void {
  const configured = configuredDynamoDbEndpoint();
  describeWithService<string>(
    { title: 'DynamoDB', service: 'dynamodb', where: configured, envName: 'DYNAMODB_ENDPOINT', configured, reachable: dynamoDbEndpoint },
    name,
    suite,
  );
}
