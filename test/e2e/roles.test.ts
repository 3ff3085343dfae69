/**
 * The production topology in miniature: `obol serve --roles api,grpc` and `obol serve --roles
 * worker` as two processes on MariaDB and Kafka. A learner pays through GraphQL on the api
 * process; the worker relays `checkout.completed` to Kafka and its entitlements consumer (a Kafka
 * consumer group) grants access; the api process's gRPC check then answers yes. A subscription
 * takes the same road on `obol.subscriptions.v1`, both ways. Nothing passes between the two
 * processes except through MariaDB and Kafka.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { OBOL_BIN, stopChildren, waitForLine } from '../support/processes.js';
import { describeWithKafka, uniqueServiceName } from '../support/services.js';

vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 });

const PROTO_DIR = new URL('../../proto', import.meta.url).pathname;
const entitlementsPackage = grpc.loadPackageDefinition(protoLoader.loadSync(['obol/v1/entitlements.proto'], { keepCase: true, longs: String, enums: String, defaults: true, includeDirs: [PROTO_DIR] })) as unknown as {
  obol: { v1: { EntitlementService: grpc.ServiceClientConstructor } };
};

describeWithKafka('api and worker as separate processes on MariaDB and Kafka', (brokers) => {
  let db: TestDatabase;
  let dir: string;
  const children: ChildProcessWithoutNullStreams[] = [];
  let env: NodeJS.ProcessEnv;
  let graphqlUrl: string;
  let grpcPort: number;

  const start = (roles: string) => {
    const child = spawn(process.execPath, [OBOL_BIN, 'serve', '--roles', roles], { env });
    children.push(child);
    return child;
  };

  beforeAll(async () => {
    db = await createTestDatabase('mysql');
    dir = mkdtempSync(join(tmpdir(), 'obol-roles-'));
    env = {
      ...process.env,
      NODE_ENV: 'development',
      LOG_LEVEL: 'info',
      DATABASE_URL: db.url,
      SEED_DEMO_CATALOG: 'true',
      PORT: '0',
      HOST: '127.0.0.1',
      GRPC_PORT: '0',
      GRPC_HOST: '127.0.0.1',
      // The worker process serves /healthz, /readyz and /metrics on a port of its own.
      OPS_PORT: '0',
      AUTH_DEV_KEY_FILE: join(dir, 'signing-key.json'),
      DEV_ENCRYPTION_KEY_FILE: join(dir, 'encryption-keys.json'),
      EVENT_BUS: 'kafka',
      KAFKA_BROKERS: brokers.join(','),
      KAFKA_CLIENT_ID: uniqueServiceName('obol-roles'),
      WORKER_POLL_INTERVAL_MS: '100',
    };
    // The api process migrates and seeds first; the worker starts against the ready schema.
    const api = start('api,grpc');
    const [http, rpc] = await Promise.all([waitForLine(api, (l) => l.msg === 'obol is listening', 60_000), waitForLine(api, (l) => l.msg === 'obol grpc is listening', 60_000)]);
    graphqlUrl = `http://127.0.0.1:${String(http.port)}/graphql`;
    grpcPort = Number(rpc.port);
    const worker = start('worker');
    await waitForLine(worker, (l) => l.msg === 'worker started', 60_000);
  });

  afterAll(async () => {
    await stopChildren(children);
    rmSync(dir, { recursive: true, force: true });
    await db?.drop();
  });

  const token = (sub: string, role: string): string => {
    const out = spawnSync(process.execPath, [OBOL_BIN, 'token', '--sub', sub, '--role', role], { encoding: 'utf8', env });
    if (out.status !== 0) throw new Error(out.stderr);
    return out.stdout.trim();
  };

  /** GraphQL on the api process, as the given token; any error fails the test. */
  const graphqlAs =
    (bearer: string) =>
    async (query: string, variables: Record<string, unknown>): Promise<Record<string, any>> => {
      const res = await fetch(graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}` }, body: JSON.stringify({ query, variables }) });
      const body = (await res.json()) as { data?: Record<string, any>; errors?: unknown };
      expect(body.errors).toBeUndefined();
      return body.data!;
    };

  /** The api process's gRPC CheckEntitlement, polled until it answers `want` (or a minute passes); returns its last answer. */
  async function entitlementBecomes(customerId: string, resource: string, want: boolean): Promise<boolean> {
    const service = token('svc_enrolment', 'service');
    const client = new entitlementsPackage.obol.v1.EntitlementService(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure());
    const check = () =>
      new Promise<boolean>((resolve, reject) => {
        const metadata = new grpc.Metadata();
        metadata.set('authorization', `Bearer ${service}`);
        (client as unknown as { CheckEntitlement: (req: object, md: grpc.Metadata, cb: (err: grpc.ServiceError | null, reply: { decision: { allowed: boolean } }) => void) => void }).CheckEntitlement(
          { customer_id: customerId, resource },
          metadata,
          (err, reply) => (err ? reject(err) : resolve(reply.decision.allowed)),
        );
      });
    try {
      const started = performance.now();
      let allowed = await check();
      while (allowed !== want && performance.now() - started < 60_000) {
        await new Promise((r) => setTimeout(r, 200));
        allowed = await check();
      }
      return allowed;
    } finally {
      client.close();
    }
  }

  it('pays through GraphQL on the api process and the gRPC check answers yes once the worker has applied the event from Kafka', async () => {
    const customerId = `cus_roles_${randomUUID().slice(0, 8)}`;
    const gql = graphqlAs(token(customerId, 'learner'));
    const created = await gql(`mutation($i: CreateCheckoutSessionInput!) { createCheckoutSession(input: $i) { checkoutSession { id } } }`, {
      i: { customerId, country: 'US', items: [{ priceId: 'price_ml_certificate_usd', quantity: 1 }], idempotencyKey: randomUUID() },
    });
    const confirmed = await gql(`mutation($i: ConfirmCheckoutSessionInput!) { confirmCheckoutSession(input: $i) { payment { status } } }`, {
      i: { sessionId: created.createCheckoutSession.checkoutSession.id, paymentMethodToken: 'tok_visa', idempotencyKey: randomUUID() },
    });
    expect(confirmed.confirmCheckoutSession.payment.status).toBe('succeeded');

    expect(await entitlementBecomes(customerId, 'course:machine-learning', true)).toBe(true);

    // The grant came through the Kafka consumer group, not an in-process call: the worker's
    // inbox recorded the event, and the api process never ran a worker.
    const inbox = await db.db.kysely.selectFrom('consumer_inbox').select(['consumer_group', 'event_type']).where('consumer_group', '=', 'entitlements').execute();
    expect(inbox.map((r) => r.event_type)).toContain('checkout.completed');
  });

  it('a subscription started through GraphQL grants its product through obol.subscriptions.v1 on Kafka, and canceling it now takes the access away', async () => {
    const customerId = `cus_roles_sub_${randomUUID().slice(0, 8)}`;
    const gql = graphqlAs(token(customerId, 'learner'));
    const started = await gql(`mutation($i: StartSubscriptionInput!) { startSubscription(input: $i) { subscription { id status } } }`, {
      i: { priceId: 'price_plus_monthly_usd', country: 'US', paymentMethodToken: 'tok_visa', trialDays: 0, idempotencyKey: randomUUID() },
    });
    expect(started.startSubscription.subscription.status).toBe('active');

    expect(await entitlementBecomes(customerId, 'course:machine-learning', true)).toBe(true);
    await gql(`mutation($i: CancelSubscriptionInput!) { cancelSubscription(input: $i) { subscription { status } } }`, {
      i: { subscriptionId: started.startSubscription.subscription.id, atPeriodEnd: false, idempotencyKey: randomUUID() },
    });
    expect(await entitlementBecomes(customerId, 'course:machine-learning', false)).toBe(false);
    const inbox = await db.db.kysely.selectFrom('consumer_inbox').select('event_type').where('consumer_group', '=', 'entitlements').execute();
    expect(inbox.map((r) => r.event_type)).toEqual(expect.arrayContaining(['subscription.activated', 'subscription.canceled']));
  });
});
