import { describe, expect, it } from 'vitest';
import { CONFIG_REFERENCE, ConfigError, loadConfig, redactConfig, redactUrlCredentials } from './config.js';

function problemsOf(env: NodeJS.ProcessEnv): readonly string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('runs with no configuration at all: every role on SQLite, demo catalog and GraphiQL on', () => {
    expect(loadConfig({})).toEqual({
      nodeEnv: 'development',
      acquirerCountries: { sandbox: 'IE' },
      port: 4000,
      host: '0.0.0.0',
      grpcPort: 50051,
      grpcHost: '0.0.0.0',
      opsPort: 9464,
      databaseUrl: 'sqlite:./data/obol.db',
      database: { kind: 'sqlite', file: './data/obol.db' },
      logLevel: 'info',
      logModuleLevels: {},
      tracesExporter: 'none',
      otlpTracesEndpoint: 'http://localhost:4318/v1/traces',
      otlpHeaders: {},
      tracesSampleRatio: 1,
      serviceName: 'obol',
      roles: ['api', 'grpc', 'worker'],
      checkoutSessionTtlSeconds: 1800,
      paymentMaxFailedAttempts: 5,
      reconcileAfterSeconds: 30,
      workerPollIntervalMs: 500,
      eventBus: 'inprocess',
      kafkaBrokers: [],
      kafkaClientId: 'obol',
      kafkaTopicPartitions: 6,
      entitlementReadModel: 'sql',
      idempotencyStore: 'sql',
      dynamoDbEndpoint: null,
      dynamoDbRegion: null,
      dynamoDbTablePrefix: 'obol_',
      sandboxLatencyMs: 0,
      sandboxFailureRate: 0,
      sandboxTimeoutRate: 0,
      graphqlMaxDepth: 10,
      graphqlMaxCost: 5000,
      graphqlMaxAliases: 15,
      bodyLimitBytes: 102400,
      requestTimeoutMs: 15000,
      shutdownTimeoutMs: 10000,
      seedDemoCatalog: true,
      graphiql: true,
      authMode: 'development',
      authJwksUrl: null,
      authJwksFile: null,
      authIssuer: 'obol-dev',
      authAudience: 'obol',
      authClockSkewSeconds: 30,
      authDevKeyFile: './data/dev-signing-key.json',
      supportRefundLimits: { USD: 10000, EUR: 10000, GBP: 10000, INR: 1000000, JPY: 15000 },
      rateLimitCheckoutPerCustomerPerMinute: 30,
      rateLimitCheckoutPerIpPerMinute: 120,
      cardTestingMaxFailures: 5,
      cardTestingWindowSeconds: 600,
      cardTestingBlockSeconds: 1800,
      trustProxy: false,
      encryptionKeys: null,
      encryptionKeysFile: null,
      devEncryptionKeyFile: './data/dev-encryption-keys.json',
      stripeWebhookSecrets: [],
      braintreeWebhookKeys: [],
      razorpayWebhookSecrets: [],
      stripeSecretKey: null,
      stripeApiUrl: null,
      braintreeMerchantId: null,
      braintreePublicKey: null,
      braintreePrivateKey: null,
      braintreeEnvironment: 'sandbox',
      razorpayKeyId: null,
      razorpayKeySecret: null,
      razorpayApiUrl: null,
      routingConfig: null,
      dunningRetryDays: [1, 3, 5, 7],
      dunningGraceDays: 7,
      dunningOnExhausted: 'cancel',
      invoiceNumberPrefix: 'OBOL',
      subscriptionIncompleteExpiryHours: 23,
      testClocks: true,
    });
  });

  it('reads every variable', () => {
    const config = loadConfig({
      NODE_ENV: 'test',
      PORT: '0',
      HOST: '127.0.0.1',
      DATABASE_URL: 'mysql://obol:s3cret@db.internal:3306/obol',
      LOG_LEVEL: 'debug',
      OBOL_ROLES: 'worker',
      CHECKOUT_SESSION_TTL_SECONDS: '60',
      PAYMENT_MAX_FAILED_ATTEMPTS: '3',
      RECONCILE_AFTER_SECONDS: '45',
      WORKER_POLL_INTERVAL_MS: '250',
      SANDBOX_LATENCY_MS: '20',
      SANDBOX_FAILURE_RATE: '0.25',
      SANDBOX_TIMEOUT_RATE: '1',
      GRAPHQL_MAX_DEPTH: '8',
      GRAPHQL_MAX_COST: '1000',
      GRAPHQL_MAX_ALIASES: '0',
      BODY_LIMIT_BYTES: '2048',
      REQUEST_TIMEOUT_MS: '5000',
      SHUTDOWN_TIMEOUT_MS: '0',
      SEED_DEMO_CATALOG: 'true',
      GRAPHIQL: 'false',
    });
    expect(config).toMatchObject({
      nodeEnv: 'test',
      port: 0,
      host: '127.0.0.1',
      database: { kind: 'mysql', url: 'mysql://obol:s3cret@db.internal:3306/obol' },
      logLevel: 'debug',
      roles: ['worker'],
      checkoutSessionTtlSeconds: 60,
      paymentMaxFailedAttempts: 3,
      reconcileAfterSeconds: 45,
      workerPollIntervalMs: 250,
      sandboxLatencyMs: 20,
      sandboxFailureRate: 0.25,
      sandboxTimeoutRate: 1,
      graphqlMaxDepth: 8,
      graphqlMaxCost: 1000,
      graphqlMaxAliases: 0,
      bodyLimitBytes: 2048,
      requestTimeoutMs: 5000,
      shutdownTimeoutMs: 0,
      seedDemoCatalog: true,
      graphiql: false,
    });
  });

  it('returns a frozen configuration', () => {
    const config = loadConfig({});
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.roles)).toBe(true);
  });

  it('treats an empty value as unset', () => {
    expect(loadConfig({ PORT: '', LOG_LEVEL: '' })).toMatchObject({ port: 4000, logLevel: 'info' });
  });

  it('does not seed the demo catalog on MySQL unless asked to', () => {
    expect(loadConfig({ DATABASE_URL: 'mariadb://root@127.0.0.1:3306/obol' }).seedDemoCatalog).toBe(false);
    expect(loadConfig({ DATABASE_URL: 'mariadb://root@127.0.0.1:3306/obol', SEED_DEMO_CATALOG: 'true' }).seedDemoCatalog).toBe(true);
    expect(loadConfig({ SEED_DEMO_CATALOG: 'false' }).seedDemoCatalog).toBe(false);
  });

  const PRODUCTION = { NODE_ENV: 'production', AUTH_JWKS_FILE: '/etc/obol/jwks.json', ENCRYPTION_KEYS_FILE: '/run/secrets/obol-keys' } as const;

  it('turns GraphiQL off in production unless asked for', () => {
    expect(loadConfig(PRODUCTION).graphiql).toBe(false);
    expect(loadConfig({ ...PRODUCTION, GRAPHIQL: 'true' }).graphiql).toBe(true);
  });

  it('verifies tokens against a JWKS in production and refuses development auth there', () => {
    expect(loadConfig(PRODUCTION).authMode).toBe('jwks');
    expect(problemsOf({ ...PRODUCTION, AUTH_MODE: 'development' })).toEqual([
      'AUTH_MODE: development mode signs its own tokens and refuses to run with NODE_ENV=production; set AUTH_MODE=jwks with AUTH_JWKS_URL or AUTH_JWKS_FILE',
    ]);
    expect(problemsOf({ NODE_ENV: 'production', ENCRYPTION_KEYS_FILE: '/k' })).toEqual(['AUTH_JWKS_URL: AUTH_MODE=jwks needs AUTH_JWKS_URL or AUTH_JWKS_FILE']);
    expect(problemsOf({ NODE_ENV: 'production', AUTH_JWKS_FILE: '/j' })).toEqual([
      'ENCRYPTION_KEYS: production needs ENCRYPTION_KEYS or ENCRYPTION_KEYS_FILE (personal data is encrypted at rest)',
    ]);
    expect(problemsOf({ AUTH_MODE: 'jwks', AUTH_JWKS_URL: 'http://idp.example.com/jwks' })[0]).toMatch(/^AUTH_JWKS_URL: must be an https:\/\/ URL/);
  });

  it('reads the dunning schedule and refuses one whose retries fall after the grace period', () => {
    expect(loadConfig({ DUNNING_RETRY_DAYS: '2, 4', DUNNING_GRACE_DAYS: '10', DUNNING_ON_EXHAUSTED: 'mark_unpaid' })).toMatchObject({ dunningRetryDays: [2, 4], dunningGraceDays: 10, dunningOnExhausted: 'mark_unpaid' });
    expect(loadConfig({ DUNNING_RETRY_DAYS: 'none', DUNNING_GRACE_DAYS: '0' })).toMatchObject({ dunningRetryDays: [], dunningGraceDays: 0 });
    expect(problemsOf({ DUNNING_RETRY_DAYS: '1,3,9' })).toEqual(['DUNNING_GRACE_DAYS: must be at least the last retry day (9): a retry after the grace period would never run']);
    expect(problemsOf({ DUNNING_RETRY_DAYS: '3,1' })).toEqual(['DUNNING_RETRY_DAYS: must list days in increasing order, such as 1,3,5,7 (got "3,1")']);
    expect(problemsOf({ DUNNING_RETRY_DAYS: '1,x' })).toEqual(['DUNNING_RETRY_DAYS: must be comma-separated whole days from 1 to 60, such as 1,3,5,7 (got "1,x")']);
    expect(problemsOf({ DUNNING_ON_EXHAUSTED: 'forgive' })[0]).toMatch(/^DUNNING_ON_EXHAUSTED: /);
    expect(problemsOf({ INVOICE_NUMBER_PREFIX: 'obol' })).toEqual(['INVOICE_NUMBER_PREFIX: must be 1 to 20 capital letters, digits or - (got "obol")']);
    expect(loadConfig({ NODE_ENV: 'production', AUTH_JWKS_FILE: '/j', ENCRYPTION_KEYS_FILE: '/k' }).testClocks).toBe(false);
    expect(loadConfig({ NODE_ENV: 'production', AUTH_JWKS_FILE: '/j', ENCRYPTION_KEYS_FILE: '/k', TEST_CLOCKS: 'true' }).testClocks).toBe(true);
  });

  it('enables gateways only with complete credentials, and never prints their secrets', () => {
    expect(problemsOf({ BRAINTREE_MERCHANT_ID: 'm', BRAINTREE_PUBLIC_KEY: 'p' })).toEqual([
      'BRAINTREE_MERCHANT_ID: the braintree connector needs BRAINTREE_MERCHANT_ID, BRAINTREE_PUBLIC_KEY and BRAINTREE_PRIVATE_KEY together',
    ]);
    expect(problemsOf({ RAZORPAY_KEY_ID: 'rzp_test_x' })).toEqual(['RAZORPAY_KEY_ID: the razorpay connector needs RAZORPAY_KEY_ID and RAZORPAY_KEY_SECRET together']);
    expect(problemsOf({ BRAINTREE_ENVIRONMENT: 'staging' })[0]).toMatch(/^BRAINTREE_ENVIRONMENT: must be sandbox, production/);
    const config = loadConfig({ STRIPE_SECRET_KEY: 'sk_test_secret123', RAZORPAY_KEY_ID: 'rzp_test_x', RAZORPAY_KEY_SECRET: 'rzp_secret456', BRAINTREE_MERCHANT_ID: 'm', BRAINTREE_PUBLIC_KEY: 'p', BRAINTREE_PRIVATE_KEY: 'bt_priv789' });
    const printed = JSON.stringify(redactConfig(config));
    for (const secret of ['sk_test_secret123', 'rzp_secret456', 'bt_priv789']) expect(printed).not.toContain(secret);
  });

  it('reads webhook secrets for rotation and never prints them', () => {
    const config = loadConfig({ STRIPE_WEBHOOK_SECRETS: 'whsec_old, whsec_new', BRAINTREE_WEBHOOK_KEYS: 'pub1:priv1,pub2:priv2', RAZORPAY_WEBHOOK_SECRETS: 'rzp_s' });
    expect(config.stripeWebhookSecrets).toEqual(['whsec_old', 'whsec_new']);
    expect(config.braintreeWebhookKeys).toEqual([{ publicKey: 'pub1', privateKey: 'priv1' }, { publicKey: 'pub2', privateKey: 'priv2' }]);
    const printed = JSON.stringify(redactConfig(config));
    for (const secret of ['whsec_old', 'whsec_new', 'priv1', 'priv2', 'rzp_s']) expect(printed).not.toContain(secret);
    expect(problemsOf({ BRAINTREE_WEBHOOK_KEYS: 'only-one-part' })).toEqual(['BRAINTREE_WEBHOOK_KEYS: must be a comma-separated list of publicKey:privateKey pairs (got "[redacted]")']);
  });

  it('reads the Kafka settings and refuses EVENT_BUS=kafka without brokers or with malformed ones', () => {
    const c = loadConfig({ EVENT_BUS: 'kafka', KAFKA_BROKERS: 'kafka-1:9092, 10.0.0.7:19092', KAFKA_TOPIC_PARTITIONS: '12' });
    expect(c).toMatchObject({ eventBus: 'kafka', kafkaBrokers: ['kafka-1:9092', '10.0.0.7:19092'], kafkaTopicPartitions: 12 });
    expect(() => loadConfig({ EVENT_BUS: 'kafka' })).toThrow(/KAFKA_BROKERS: EVENT_BUS=kafka needs the brokers/);
    expect(() => loadConfig({ KAFKA_BROKERS: 'kafka-1' })).toThrow(/KAFKA_BROKERS: must be a comma-separated list of host:port/);
    expect(() => loadConfig({ EVENT_BUS: 'rabbit' })).toThrow(/EVENT_BUS/);
  });

  it('keeps both stores in SQL by default and reads the DynamoDB settings', () => {
    expect(loadConfig({})).toMatchObject({ entitlementReadModel: 'sql', idempotencyStore: 'sql', dynamoDbEndpoint: null, dynamoDbRegion: null, dynamoDbTablePrefix: 'obol_' });
    const c = loadConfig({ ENTITLEMENT_READ_MODEL: 'dynamodb', IDEMPOTENCY_STORE: 'dynamodb', DYNAMODB_REGION: 'eu-west-1', DYNAMODB_ENDPOINT: 'http://127.0.0.1:18000', DYNAMODB_TABLE_PREFIX: 'staging_obol_' });
    expect(c).toMatchObject({ entitlementReadModel: 'dynamodb', idempotencyStore: 'dynamodb', dynamoDbRegion: 'eu-west-1', dynamoDbEndpoint: 'http://127.0.0.1:18000', dynamoDbTablePrefix: 'staging_obol_' });
    expect(loadConfig({ IDEMPOTENCY_STORE: 'dynamodb', DYNAMODB_REGION: 'us-gov-west-1' }).dynamoDbEndpoint).toBeNull();
  });

  it('refuses a DynamoDB store without a region, and malformed DynamoDB settings', () => {
    expect(problemsOf({ ENTITLEMENT_READ_MODEL: 'dynamodb' })).toEqual(['DYNAMODB_REGION: ENTITLEMENT_READ_MODEL=dynamodb needs the AWS region of the tables (such as eu-west-1)']);
    expect(problemsOf({ ENTITLEMENT_READ_MODEL: 'dynamodb', IDEMPOTENCY_STORE: 'dynamodb' })).toEqual([
      'DYNAMODB_REGION: ENTITLEMENT_READ_MODEL=dynamodb and IDEMPOTENCY_STORE=dynamodb need the AWS region of the tables (such as eu-west-1)',
    ]);
    // A region alone, with both stores in SQL, is harmless.
    expect(loadConfig({ DYNAMODB_REGION: 'eu-west-1' }).dynamoDbRegion).toBe('eu-west-1');
    expect(problemsOf({ IDEMPOTENCY_STORE: 'redis' })).toEqual(['IDEMPOTENCY_STORE: must be one of sql, dynamodb (got "redis")']);
    expect(problemsOf({ DYNAMODB_REGION: 'Ireland' })).toEqual(['DYNAMODB_REGION: must be an AWS region such as eu-west-1 (got "Ireland")']);
    expect(problemsOf({ DYNAMODB_TABLE_PREFIX: 'obol prod/' })).toEqual(['DYNAMODB_TABLE_PREFIX: must be up to 200 letters, digits, _, . or - (got "obol prod/")']);
    expect(problemsOf({ DYNAMODB_ENDPOINT: 'dynamodb.local' })[0]).toMatch(/^DYNAMODB_ENDPOINT: must be a URL/);
  });

  it('reads acquirer countries per connector and names a malformed entry', () => {
    expect(loadConfig({ ACQUIRER_COUNTRIES: 'stripe:IE, braintree:NL' }).acquirerCountries).toEqual({ stripe: 'IE', braintree: 'NL' });
    expect(loadConfig({ ACQUIRER_COUNTRIES: 'none' }).acquirerCountries).toEqual({});
    expect(() => loadConfig({ ACQUIRER_COUNTRIES: 'stripe:ireland' })).toThrow(/ACQUIRER_COUNTRIES: must be a comma-separated list of connector:COUNTRY/);
  });

  it('parses support refund limits per currency and never prints encryption keys', () => {
    expect(loadConfig({ SUPPORT_REFUND_LIMITS: 'USD:500,JPY:1000' }).supportRefundLimits).toEqual({ USD: 500, JPY: 1000 });
    expect(problemsOf({ SUPPORT_REFUND_LIMITS: 'USD:5.00' })[0]).toMatch(/^SUPPORT_REFUND_LIMITS: must be a comma-separated list/);
    const secret = 'k1:QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=';
    expect(JSON.stringify(redactConfig(loadConfig({ ENCRYPTION_KEYS: secret })))).not.toContain('QUFB');
    expect(problemsOf({ ENCRYPTION_KEYS: secret, ENCRYPTION_KEYS_FILE: '/k' }).join(' ')).not.toContain('QUFB');
  });

  it('reads log levels per module and names an unknown module or level', () => {
    expect(loadConfig({ LOG_MODULE_LEVELS: 'payments=debug, events = warn' }).logModuleLevels).toEqual({ payments: 'debug', events: 'warn' });
    expect(() => loadConfig({ LOG_MODULE_LEVELS: 'paymnts=debug' })).toThrow(/LOG_MODULE_LEVELS: has an unknown module "paymnts" \(modules: http, graphql/);
    expect(() => loadConfig({ LOG_MODULE_LEVELS: 'payments=loud' })).toThrow(/LOG_MODULE_LEVELS: has an unknown level "loud" for payments/);
    expect(() => loadConfig({ LOG_MODULE_LEVELS: 'payments' })).toThrow(/LOG_MODULE_LEVELS: must be a comma-separated list of module=level/);
  });

  it('reads the OpenTelemetry exporter settings and never prints the OTLP headers', () => {
    const config = loadConfig({
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://collector.internal:4318/v1/traces',
      OTEL_EXPORTER_OTLP_HEADERS: 'x-honeycomb-team=s3cr3t%2Bkey, X-Dataset=obol',
      OTEL_TRACES_SAMPLER_ARG: '0.25',
      OTEL_SERVICE_NAME: 'obol-api',
    });
    expect(config).toMatchObject({ tracesExporter: 'otlp', otlpTracesEndpoint: 'https://collector.internal:4318/v1/traces', otlpHeaders: { 'x-honeycomb-team': 's3cr3t+key', 'x-dataset': 'obol' }, tracesSampleRatio: 0.25, serviceName: 'obol-api' });
    expect(JSON.stringify(redactConfig(config))).not.toContain('s3cr3t');
    // Unset, the name says the role of a one-role process, so each Deployment's spans are apart.
    expect(loadConfig({ OBOL_ROLES: 'worker' }).serviceName).toBe('obol-worker');
    expect(loadConfig({ OBOL_ROLES: 'api,worker' }).serviceName).toBe('obol');
    const refused = (() => {
      try {
        loadConfig({ OTEL_TRACES_EXPORTER: 'jaeger', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'collector:4318', OTEL_EXPORTER_OTLP_HEADERS: 'novalue,k=%zz s3cr3t', OTEL_TRACES_SAMPLER_ARG: '25' });
      } catch (err) {
        return err as ConfigError;
      }
      throw new Error('accepted');
    })();
    expect(refused.problems.map((p) => p.split(':')[0])).toEqual(['OTEL_TRACES_EXPORTER', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'OTEL_EXPORTER_OTLP_HEADERS', 'OTEL_TRACES_SAMPLER_ARG']);
    expect(refused.message).not.toContain('s3cr3t');
  });

  it('accepts roles with spaces and repeats, keeping each once', () => {
    expect(loadConfig({ OBOL_ROLES: ' api , worker,api' }).roles).toEqual(['api', 'worker']);
  });

  it('runs every role by default, grpc included, on its own port', () => {
    const config = loadConfig({});
    expect(config.roles).toEqual(['api', 'grpc', 'worker']);
    expect(config.grpcPort).toBe(50051);
    expect(config.grpcHost).toBe('0.0.0.0');
    expect(loadConfig({ OBOL_ROLES: 'grpc', GRPC_PORT: '0', GRPC_HOST: '127.0.0.1' })).toMatchObject({ roles: ['grpc'], grpcPort: 0, grpcHost: '127.0.0.1' });
    expect(problemsOf({ GRPC_PORT: '70000', GRPC_HOST: 'grpc://x' })).toEqual([
      'GRPC_PORT: must be a whole number from 0 to 65535 (got "70000")',
      'GRPC_HOST: must be a host name or IP address to listen on, not a URL (got "grpc://x")',
    ]);
  });

  it('serves the ops endpoints of a process without the api role on OPS_PORT', () => {
    expect(loadConfig({}).opsPort).toBe(9464);
    expect(loadConfig({ OBOL_ROLES: 'worker', OPS_PORT: '0' })).toMatchObject({ roles: ['worker'], opsPort: 0 });
    expect(problemsOf({ OPS_PORT: '-1' })).toEqual(['OPS_PORT: must be a whole number from 0 to 65535 (got "-1")']);
  });

  it('refuses unknown and empty roles', () => {
    expect(problemsOf({ OBOL_ROLES: 'api,,web' })).toEqual([
      'OBOL_ROLES: has an empty entry (got "api,,web")',
      'OBOL_ROLES: has an unknown role "web" (roles: api, grpc, worker) (got "api,,web")',
    ]);
  });

  it('parses numbers strictly', () => {
    for (const bad of ['12abc', '1e3', '0x10', ' 12', '12.0', '12.5', '+12', '-', '١٢']) {
      expect(problemsOf({ PORT: bad })).toEqual([`PORT: must be a whole number from 0 to 65535 (got ${JSON.stringify(bad)})`]);
    }
  });

  it('enforces ranges, naming the unit', () => {
    expect(problemsOf({ PORT: '65536' })).toEqual(['PORT: must be a whole number from 0 to 65535 (got "65536")']);
    expect(problemsOf({ CHECKOUT_SESSION_TTL_SECONDS: '59' })).toEqual([
      'CHECKOUT_SESSION_TTL_SECONDS: must be a whole number of seconds from 60 to 86400 (got "59")',
    ]);
    expect(problemsOf({ CHECKOUT_SESSION_TTL_SECONDS: '86401' })).toHaveLength(1);
  });

  it('reads rates as probabilities, not percentages', () => {
    expect(loadConfig({ SANDBOX_FAILURE_RATE: '.5' }).sandboxFailureRate).toBe(0.5);
    for (const bad of ['5%', '1.5', '-0.1', '50', 'half', '1e-2']) {
      expect(problemsOf({ SANDBOX_FAILURE_RATE: bad })).toEqual([
        `SANDBOX_FAILURE_RATE: must be a probability from 0 to 1, such as 0.05 (got ${JSON.stringify(bad)})`,
      ]);
    }
  });

  it('accepts only true or false for switches', () => {
    expect(problemsOf({ GRAPHIQL: 'yes' })).toEqual(['GRAPHIQL: must be true or false (got "yes")']);
    expect(problemsOf({ SEED_DEMO_CATALOG: 'TRUE' })).toEqual(['SEED_DEMO_CATALOG: must be true or false (got "TRUE")']);
  });

  it('lists the allowed values of enumerations', () => {
    expect(problemsOf({ NODE_ENV: 'prod', LOG_LEVEL: 'verbose' })).toEqual([
      'NODE_ENV: must be one of development, test, production (got "prod")',
      'LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent (got "verbose")',
    ]);
  });

  it('refuses a URL as HOST', () => {
    expect(problemsOf({ HOST: 'http://localhost' })).toEqual([
      'HOST: must be a host name or IP address to listen on, not a URL (got "http://localhost")',
    ]);
    expect(loadConfig({ HOST: '::' }).host).toBe('::');
    expect(loadConfig({ HOST: '[::1]' }).host).toBe('::1');
  });

  it('refuses database URLs of other kinds, or without a database, never echoing the password', () => {
    expect(problemsOf({ DATABASE_URL: 'postgres://app:hunter2@db/obol' })).toEqual([
      'DATABASE_URL: must start with sqlite:, mysql:// or mariadb:// (got "postgres://app:[redacted]@db/obol")',
    ]);
    expect(problemsOf({ DATABASE_URL: 'mysql://app:hunter2@db:3306' })).toEqual([
      'DATABASE_URL: must be a valid URL naming a database, such as mysql://user:password@127.0.0.1:3306/obol (got "mysql://app:[redacted]@db:3306")',
    ]);
    expect(problemsOf({ DATABASE_URL: 'sqlite:' })).toHaveLength(1);
  });

  it('collects every problem before failing, in a readable message', () => {
    let error: unknown;
    try {
      loadConfig({ PORT: 'eighty', LOG_LEVEL: 'loud', SANDBOX_TIMEOUT_RATE: '2', DATABASE_URL: 'mysql://u:topsecret@h' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const configError = error as ConfigError;
    expect(configError.problems).toHaveLength(4);
    expect(configError.problems.map((p) => p.split(':')[0])).toEqual(['PORT', 'DATABASE_URL', 'LOG_LEVEL', 'SANDBOX_TIMEOUT_RATE']);
    expect(configError.message).toContain('Invalid configuration (4 problems)');
    expect(configError.message).toContain('  - PORT: must be a whole number from 0 to 65535 (got "eighty")');
    expect(configError.message).not.toContain('topsecret');
  });

  it('cuts very long values short in messages', () => {
    const [problem] = problemsOf({ LOG_LEVEL: 'x'.repeat(10_000) });
    expect(problem!.length).toBeLessThan(300);
  });

  it('ignores variables it does not know', () => {
    expect(() => loadConfig({ PATH: '/usr/bin', HOME: '/root' })).not.toThrow();
  });
});

describe('redactConfig', () => {
  it('hides the database password and keeps everything else', () => {
    const config = loadConfig({ DATABASE_URL: 'mysql://obol:s3cr%40t@db.internal:3306/obol?ssl=true' });
    const printable = redactConfig(config);
    expect(printable.databaseUrl).toBe('mysql://obol:[redacted]@db.internal:3306/obol?ssl=true');
    expect(printable.database).toEqual({ kind: 'mysql', url: 'mysql://obol:[redacted]@db.internal:3306/obol?ssl=true' });
    expect(JSON.stringify(printable)).not.toContain('s3cr');
    expect({ ...printable, databaseUrl: config.databaseUrl, database: config.database }).toEqual(config);
    expect(config.databaseUrl).toContain('s3cr%40t');
  });

  it('leaves a SQLite location as it is', () => {
    const config = loadConfig({});
    expect(redactConfig(config)).toEqual(config);
  });
});

describe('redactUrlCredentials', () => {
  it('hides passwords even in malformed URLs, and credential-like query parameters', () => {
    expect(redactUrlCredentials('mysql://user:p@ss@host/db')).toBe('mysql://user:[redacted]@host/db');
    expect(redactUrlCredentials('mysql://user@host/db')).toBe('mysql://user@host/db');
    expect(redactUrlCredentials('mysql://host/db?user=a&password=b&sslKey=c&x=1')).toBe(
      'mysql://host/db?user=a&password=[redacted]&sslKey=[redacted]&x=1',
    );
  });
});

describe('CONFIG_REFERENCE', () => {
  it('documents every variable once, with a default and a description', () => {
    const names = CONFIG_REFERENCE.map((v) => v.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toEqual([
      'NODE_ENV',
      'PORT',
      'HOST',
      'GRPC_PORT',
      'GRPC_HOST',
      'OPS_PORT',
      'DATABASE_URL',
      'LOG_LEVEL',
      'LOG_MODULE_LEVELS',
      'OTEL_TRACES_EXPORTER',
      'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
      'OTEL_EXPORTER_OTLP_HEADERS',
      'OTEL_TRACES_SAMPLER_ARG',
      'OTEL_SERVICE_NAME',
      'OBOL_ROLES',
      'CHECKOUT_SESSION_TTL_SECONDS',
      'PAYMENT_MAX_FAILED_ATTEMPTS',
      'RECONCILE_AFTER_SECONDS',
      'WORKER_POLL_INTERVAL_MS',
      'EVENT_BUS',
      'KAFKA_BROKERS',
      'KAFKA_CLIENT_ID',
      'KAFKA_TOPIC_PARTITIONS',
      'ENTITLEMENT_READ_MODEL',
      'IDEMPOTENCY_STORE',
      'DYNAMODB_ENDPOINT',
      'DYNAMODB_REGION',
      'DYNAMODB_TABLE_PREFIX',
      'SANDBOX_LATENCY_MS',
      'SANDBOX_FAILURE_RATE',
      'SANDBOX_TIMEOUT_RATE',
      'GRAPHQL_MAX_DEPTH',
      'GRAPHQL_MAX_COST',
      'GRAPHQL_MAX_ALIASES',
      'BODY_LIMIT_BYTES',
      'REQUEST_TIMEOUT_MS',
      'SHUTDOWN_TIMEOUT_MS',
      'SEED_DEMO_CATALOG',
      'GRAPHIQL',
      'AUTH_MODE',
      'AUTH_JWKS_URL',
      'AUTH_JWKS_FILE',
      'AUTH_ISSUER',
      'AUTH_AUDIENCE',
      'AUTH_CLOCK_SKEW_SECONDS',
      'AUTH_DEV_KEY_FILE',
      'SUPPORT_REFUND_LIMITS',
      'RATE_LIMIT_CHECKOUT_PER_CUSTOMER',
      'RATE_LIMIT_CHECKOUT_PER_IP',
      'CARD_TESTING_MAX_FAILURES',
      'CARD_TESTING_WINDOW_SECONDS',
      'CARD_TESTING_BLOCK_SECONDS',
      'TRUST_PROXY',
      'ENCRYPTION_KEYS',
      'ENCRYPTION_KEYS_FILE',
      'STRIPE_WEBHOOK_SECRETS',
      'BRAINTREE_WEBHOOK_KEYS',
      'RAZORPAY_WEBHOOK_SECRETS',
      'STRIPE_SECRET_KEY',
      'STRIPE_API_URL',
      'BRAINTREE_MERCHANT_ID',
      'BRAINTREE_PUBLIC_KEY',
      'BRAINTREE_PRIVATE_KEY',
      'BRAINTREE_ENVIRONMENT',
      'RAZORPAY_KEY_ID',
      'RAZORPAY_KEY_SECRET',
      'RAZORPAY_API_URL',
      'ACQUIRER_COUNTRIES',
      'ROUTING_CONFIG',
      'DUNNING_RETRY_DAYS',
      'DUNNING_GRACE_DAYS',
      'DUNNING_ON_EXHAUSTED',
      'INVOICE_NUMBER_PREFIX',
      'SUBSCRIPTION_INCOMPLETE_EXPIRY_HOURS',
      'TEST_CLOCKS',
      'DEV_ENCRYPTION_KEY_FILE',
    ]);
    const optional = new Set([
      'AUTH_JWKS_URL',
      'AUTH_JWKS_FILE',
      'ENCRYPTION_KEYS',
      'ENCRYPTION_KEYS_FILE',
      'STRIPE_WEBHOOK_SECRETS',
      'BRAINTREE_WEBHOOK_KEYS',
      'RAZORPAY_WEBHOOK_SECRETS',
      'STRIPE_SECRET_KEY',
      'STRIPE_API_URL',
      'BRAINTREE_MERCHANT_ID',
      'BRAINTREE_PUBLIC_KEY',
      'BRAINTREE_PRIVATE_KEY',
      'RAZORPAY_KEY_ID',
      'RAZORPAY_KEY_SECRET',
      'RAZORPAY_API_URL',
      'ROUTING_CONFIG',
      'KAFKA_BROKERS',
      'DYNAMODB_ENDPOINT',
      'DYNAMODB_REGION',
      'LOG_MODULE_LEVELS',
      'OTEL_EXPORTER_OTLP_HEADERS',
    ]);
    for (const entry of CONFIG_REFERENCE) {
      if (!optional.has(entry.name)) expect(entry.default, entry.name).not.toBe('');
      expect(entry.description, entry.name).toMatch(/\.$|…$/);
    }
  });

  it('documents defaults that are the values actually used', () => {
    const defaults = loadConfig({});
    for (const entry of CONFIG_REFERENCE) {
      if (entry.name === 'SEED_DEMO_CATALOG' || entry.name === 'GRAPHIQL' || entry.name === 'AUTH_MODE' || entry.name === 'TEST_CLOCKS' || entry.name === 'OTEL_SERVICE_NAME') continue;
      // Setting a variable to its documented default changes nothing.
      expect(loadConfig({ [entry.name]: entry.default }), entry.name).toEqual(defaults);
    }
  });

  it('reads DATABASE_URL from a mounted secret file, reporting an unreadable one without its content', async () => {
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'obol-secret-'));
    try {
      const file = join(dir, 'db');
      writeFileSync(file, 'mysql://obol:hunter2@db:3306/obol\n');
      const config = loadConfig({ DATABASE_URL_FILE: file });
      expect(config.database).toEqual({ kind: 'mysql', url: 'mysql://obol:hunter2@db:3306/obol' });
      expect(JSON.stringify(redactConfig(config))).not.toContain('hunter2');
      expect(problemsOf({ DATABASE_URL_FILE: join(dir, 'missing') })).toEqual([`DATABASE_URL_FILE: cannot read ${JSON.stringify(join(dir, 'missing'))} (ENOENT)`]);
      expect(problemsOf({ DATABASE_URL_FILE: file, DATABASE_URL: 'sqlite:x.db' })).toEqual(['DATABASE_URL_FILE: set DATABASE_URL or DATABASE_URL_FILE, not both']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
