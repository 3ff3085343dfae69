/**
 * Malformed input: at least 10,000 generated requests that no correct client would send, spread
 * over the three ways in (GraphQL, gRPC, gateway webhooks): bytes that are not JSON or protobuf,
 * JSON of the wrong shape, broken GraphQL, real operations with wrong, missing, huge, hostile or
 * card-number-bearing values, over-deep and over-aliased queries, bogus tokens and signatures.
 *
 * Every one must get a client error (HTTP < 500 without INTERNAL; a gRPC status other than
 * INTERNAL, UNKNOWN or DATA_LOSS), and together they must change nothing: every table's row count
 * (the harness's snapshot, plus the webhook inbox) is the same afterwards. Each generated mutation
 * carries at least one value that cannot be valid (an id no row has, a price that does not exist),
 * so any row it wrote would be a bug, not chance.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signDevelopmentToken } from '../../src/platform/auth/index.js';
import { startGrpcServer, type GrpcServer } from '../../src/platform/grpc/server.js';
import type { TestDialect } from '../support/databases.js';
import { startHarness, type Harness } from '../support/harness.js';
import { byProfile, printFigures } from './support.js';

const GRAPHQL_RUNS = byProfile(6000, 30_000);
const WEBHOOK_RUNS = byProfile(2500, 10_000);
const GRPC_RUNS = byProfile(2000, 10_000);
const SEED = Number(process.env.FAULTS_SEED ?? Date.now() % 2_147_483_647);

// MariaDB where it is available, SQLite otherwise (the requests are refused before most queries either way).
const dialect: TestDialect = process.env.OBOL_TEST_MYSQL === '1' ? 'mysql' : 'sqlite';

// ---- values -------------------------------------------------------------------------------

/** Strings a hostile or broken client sends. */
const junk: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom(
    '',
    ' ',
    '\u0000',
    '\uFFFF\uD800',
    'a'.repeat(5000),
    '4242 4242 4242 4242',
    '4000-0566-5566-5556',
    '5555555555554444',
    "'; DROP TABLE orders; --",
    '" OR 1=1 --',
    '../../etc/passwd',
    '${jndi:ldap://x}',
    '<script>alert(1)</script>',
    'cs_01JAAAAAAAAAAAAAAAAAAAAAAA',
    'pay_01JAAAAAAAAAAAAAAAAAAAAAAA',
    'price_does_not_exist',
    'cus_',
    'NaN',
    '-1',
    '1e309',
  ),
);

/** Any JSON value, including the wrong type where a string or number belongs. */
const anyJson: fc.Arbitrary<unknown> = fc.oneof(junk, fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.jsonValue({ maxDepth: 3 }));
/** A number a field of minor units or quantities must refuse or treat as absent. */
const badNumber: fc.Arbitrary<unknown> = fc.oneof(fc.constantFrom(0, -1, -2_147_483_648, 2_147_483_648, Number.MAX_SAFE_INTEGER + 2, 1.5, 1e308), junk);
/** An id no row can have: random junk, or a well-formed id of the right kind that does not exist. */
const missingId = (prefix: string): fc.Arbitrary<string> => fc.oneof(junk, fc.uuid().map((u) => `${prefix}_${u.replaceAll('-', '').toUpperCase().slice(0, 26)}`));
/** An idempotency key, sometimes itself malformed. */
const idemKey: fc.Arbitrary<unknown> = fc.oneof(fc.uuid(), junk, fc.constant(null));

// ---- GraphQL --------------------------------------------------------------------------------

interface GraphQLCase {
  readonly body: string;
  readonly auth: 'admin' | 'learner' | 'anonymous' | 'junk';
  readonly contentType: string;
}

/** Real operations, each with at least one value that cannot be valid. */
const operations: fc.Arbitrary<{ query: string; variables: unknown }> = fc.oneof(
  fc.record({
    query: fc.constant('mutation($input: CreateCheckoutSessionInput!) { createCheckoutSession(input: $input) { checkoutSession { id } } }'),
    variables: fc.record({
      input: fc.record(
        {
          customerId: fc.oneof(junk, fc.constant('cus_malformed')),
          country: fc.oneof(junk, fc.constantFrom('US', 'DE', 'ZZ')),
          // Never a price that exists: the one value guaranteed to be refused.
          items: fc.array(fc.record({ priceId: missingId('price'), quantity: badNumber }, { requiredKeys: [] }), { maxLength: 4 }),
          couponCode: junk,
          idempotencyKey: idemKey,
          billingDetails: anyJson,
        },
        { requiredKeys: ['items'] },
      ),
    }),
  }),
  fc.record({
    query: fc.constant('mutation($input: ConfirmCheckoutSessionInput!) { confirmCheckoutSession(input: $input) { payment { id status } } }'),
    variables: fc.record({ input: fc.record({ sessionId: missingId('cs'), paymentMethodToken: fc.oneof(junk, fc.constant('tok_visa')), idempotencyKey: idemKey, cardCountry: junk }, { requiredKeys: ['sessionId'] }) }),
  }),
  fc.record({
    query: fc.constant('mutation($input: RefundPaymentInput!) { refundPayment(input: $input) { result } }'),
    variables: fc.record({ input: fc.record({ paymentId: missingId('pay'), amount: badNumber, idempotencyKey: idemKey, reason: junk }, { requiredKeys: ['paymentId'] }) }),
  }),
  fc.record({
    query: fc.constantFrom(
      'mutation($input: CapturePaymentInput!) { capturePayment(input: $input) { result } }',
      'mutation($input: VoidPaymentInput!) { voidPayment(input: $input) { result } }',
    ),
    variables: fc.record({ input: fc.record({ paymentId: missingId('pay'), amount: badNumber, idempotencyKey: idemKey }, { requiredKeys: ['paymentId'] }) }),
  }),
  fc.record({
    query: fc.constant('mutation($input: StartSubscriptionInput!) { startSubscription(input: $input) { subscription { id } } }'),
    variables: fc.record({ input: fc.record({ priceId: missingId('price'), country: junk, paymentMethodToken: junk, trialDays: badNumber, idempotencyKey: idemKey }, { requiredKeys: ['priceId'] }) }),
  }),
  fc.record({
    query: fc.constant('mutation($input: CancelSubscriptionInput!) { cancelSubscription(input: $input) { subscription { id } } }'),
    variables: fc.record({ input: fc.record({ subscriptionId: missingId('sub'), atPeriodEnd: anyJson, idempotencyKey: idemKey }, { requiredKeys: ['subscriptionId'] }) }),
  }),
  fc.record({
    query: fc.constantFrom(
      'query($id: ID!) { payment(id: $id) { id status } }',
      'query($id: ID!) { checkoutSession(id: $id) { id } }',
      'query($id: ID!) { subscription(id: $id) { id } }',
      'query($resource: String!, $at: String) { checkAccess(resource: $resource, at: $at) { allowed } }',
    ),
    variables: fc.record({ id: anyJson, resource: anyJson, at: anyJson }),
  }),
  fc.record({
    query: fc.constantFrom('{ prices(country: "US", currency: "USD") { id } }', '{ trialBalance { balanced } }', '{ auditLog(first: 5) { nodes { action } } }'),
    variables: fc.oneof(anyJson, fc.dictionary(junk, anyJson, { maxKeys: 3 })),
  }),
);

/** Queries past the schema limits: too deep, too many aliases, too costly. */
const overLimit: fc.Arbitrary<string> = fc.oneof(
  fc.integer({ min: 11, max: 40 }).map((depth) => `{ ${'products { prices { product { '.repeat(Math.ceil(depth / 3))}id${' } } }'.repeat(Math.ceil(depth / 3))} }`),
  fc.integer({ min: 16, max: 200 }).map((n) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: prices(country: "US", currency: "USD") { id }`).join(' ')} }`),
  fc.integer({ min: 2, max: 50 }).map((n) => `{ ${'__typename '.repeat(n * 100)} }`),
);

const graphqlCases: fc.Arbitrary<GraphQLCase> = fc.record({
  body: fc.oneof(
    // Not JSON at all, or JSON that is not a GraphQL request.
    fc.string({ maxLength: 200 }),
    fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
    // JSON, but the query is not GraphQL.
    junk.map((query) => JSON.stringify({ query })),
    fc.record({ query: anyJson, variables: anyJson, operationName: anyJson }).map((v) => JSON.stringify(v)),
    // Real operations with wrong values.
    operations.map((op) => JSON.stringify(op)),
    overLimit.map((query) => JSON.stringify({ query })),
    // Cut off half-way.
    operations.chain((op) => {
      const text = JSON.stringify(op);
      return fc.integer({ min: 0, max: Math.max(0, text.length - 1) }).map((n) => text.slice(0, n));
    }),
  ),
  auth: fc.constantFrom('admin', 'admin', 'admin', 'learner', 'anonymous', 'junk'),
  contentType: fc.constantFrom('application/json', 'application/json', 'application/json', 'text/plain', 'application/graphql-response+json', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x'),
});

// ---- webhooks -------------------------------------------------------------------------------

interface WebhookCase {
  readonly gateway: 'stripe' | 'razorpay' | 'braintree';
  readonly body: string;
  readonly headers: Record<string, string>;
}

const webhookCases: fc.Arbitrary<WebhookCase> = fc.record({
  gateway: fc.constantFrom('stripe', 'razorpay', 'braintree'),
  body: fc.oneof(
    fc.string({ maxLength: 300 }),
    fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
    fc.record({ id: junk, type: fc.constantFrom('charge.dispute.created', 'payment_intent.succeeded', 'x'), data: anyJson }).map((v) => JSON.stringify(v)),
    fc.record({ bt_signature: junk, bt_payload: junk }).map((v) => new URLSearchParams(v).toString()),
    fc.constant(''),
  ),
  // Signatures that are missing, garbage, or well-formed but made with a key Obol does not hold.
  headers: fc.record(
    {
      'stripe-signature': fc.oneof(junk, fc.integer({ min: 0 }).map((t) => `t=${t},v1=${'ab'.repeat(32)}`)),
      'x-razorpay-signature': fc.oneof(junk, fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 64, maxLength: 64 })),
      'x-razorpay-event-id': junk,
      'content-type': fc.constantFrom('application/json', 'application/x-www-form-urlencoded', 'text/plain', 'application/octet-stream'),
    },
    { requiredKeys: [] },
  ),
});

// ---- gRPC -----------------------------------------------------------------------------------

const PROTO_DIR = new URL('../../proto', import.meta.url).pathname;
const METHODS = [
  '/obol.v1.CheckoutService/CreateCheckoutSession',
  '/obol.v1.CheckoutService/ConfirmCheckoutSession',
  '/obol.v1.PaymentService/GetPayment',
  '/obol.v1.PaymentService/ListPayments',
  '/obol.v1.PaymentService/CapturePayment',
  '/obol.v1.PaymentService/RefundPayment',
  '/obol.v1.EntitlementService/CheckEntitlement',
  '/obol.v1.EntitlementService/BatchCheckEntitlements',
  '/obol.v1.EntitlementService/ListEntitlements',
  '/obol.v1.SubscriptionService/GetSubscription',
  '/obol.v1.SubscriptionService/ListSubscriptions',
  '/obol.v1.SubscriptionService/ListInvoices',
  '/obol.v1.SubscriptionService/GetInvoice',
  '/obol.v1.SubscriptionService/CreateSubscription',
  '/obol.v1.SubscriptionService/CancelSubscription',
  '/obol.v1.SubscriptionService/ResumeSubscription',
  '/obol.v1.SubscriptionService/ChangeSubscriptionPlan',
  '/obol.v1.SubscriptionService/UpdateSubscriptionPaymentMethod',
  '/obol.v1.NoSuchService/Nothing',
] as const;

/** The request type of a method, to encode well-formed messages with wrong values. */
const definitions = protoLoader.loadSync(['obol/v1/payments.proto', 'obol/v1/checkout.proto', 'obol/v1/entitlements.proto', 'obol/v1/subscriptions.proto'], {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  includeDirs: [PROTO_DIR],
});

function requestSerializer(path: string): ((value: object) => Buffer) | undefined {
  const [, service, method] = /^\/([^/]+)\/([^/]+)$/.exec(path) ?? [];
  const def = service === undefined ? undefined : (definitions[service] as protoLoader.ServiceDefinition | undefined);
  return method === undefined ? undefined : def?.[method]?.requestSerialize;
}

interface GrpcCase {
  readonly path: (typeof METHODS)[number];
  readonly payload: { readonly kind: 'bytes'; readonly bytes: Uint8Array } | { readonly kind: 'message'; readonly fields: Record<string, unknown> };
  readonly auth: 'service' | 'none' | 'junk';
}

/** Field values for any of the request messages: unknown ids, junk strings, bad numbers. */
const grpcFields: fc.Arbitrary<Record<string, unknown>> = fc.record(
  {
    customer_id: junk,
    session_id: missingId('cs'),
    payment_id: missingId('pay'),
    subscription_id: missingId('sub'),
    invoice_id: missingId('in'),
    price_id: missingId('price'),
    new_price_id: missingId('price'),
    resource: junk,
    resources: fc.array(junk, { maxLength: 5 }),
    country: junk,
    idempotency_key: fc.oneof(fc.uuid(), junk),
    payment_method_token: fc.oneof(junk, fc.constant('tok_visa')),
    items: fc.array(fc.record({ price_id: missingId('price'), quantity: fc.integer() }), { maxLength: 3 }),
    page_size: fc.integer(),
    page_token: junk,
  },
  { requiredKeys: [] },
).map((fields) => {
  // Each message must carry an id that cannot exist, so a write can only be a bug.
  return { ...fields, session_id: fields.session_id ?? 'cs_MISSING', payment_id: fields.payment_id ?? 'pay_MISSING', subscription_id: fields.subscription_id ?? 'sub_MISSING', price_id: fields.price_id ?? 'price_missing' };
});

const grpcCases: fc.Arbitrary<GrpcCase> = fc.record({
  path: fc.constantFrom(...METHODS),
  payload: fc.oneof(
    fc.uint8Array({ maxLength: 200 }).map((bytes) => ({ kind: 'bytes' as const, bytes })),
    grpcFields.map((fields) => ({ kind: 'message' as const, fields })),
  ),
  auth: fc.constantFrom('service', 'service', 'service', 'none', 'junk'),
});

/** Statuses that mean the server failed rather than refused. */
const SERVER_FAULT_STATUSES = new Set([grpc.status.INTERNAL, grpc.status.UNKNOWN, grpc.status.DATA_LOSS]);

describe(`faults: malformed input over GraphQL, gRPC and webhooks [${dialect}]`, () => {
  let h: Harness;
  let grpcServer: GrpcServer;
  let client: grpc.Client;
  let learner: string;
  let service: string;

  beforeAll(async () => {
    h = await startHarness(dialect, { STRIPE_WEBHOOK_SECRETS: 'whsec_malformed', RAZORPAY_WEBHOOK_SECRETS: 'rzp_malformed', BRAINTREE_WEBHOOK_KEYS: 'pub_malformed:priv_malformed', LOG_LEVEL: 'warn' });
    grpcServer = await startGrpcServer(h.app, { host: '127.0.0.1', port: 0 });
    client = new grpc.Client(`127.0.0.1:${grpcServer.port}`, grpc.credentials.createInsecure());
    learner = await h.token({ sub: 'cus_malformed', roles: ['learner'] });
    service = await signDevelopmentToken({ config: h.app.config, subject: 'svc_malformed', roles: ['service'] });
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await grpcServer?.close();
    await h?.close();
  }, 60_000);

  async function state(): Promise<Record<string, number>> {
    const snapshot = await h.snapshot();
    const inbox = await h.app.db.kysely.selectFrom('webhook_inbox').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirst();
    return { ...snapshot, webhook_inbox: Number(inbox?.n ?? 0) };
  }

  it(
    `answers ${GRAPHQL_RUNS + WEBHOOK_RUNS + GRPC_RUNS}+ malformed requests without a server error and changes no row`,
    async () => {
      const startedAt = performance.now();
      const before = await state();
      const serverErrors: string[] = [];
      /** Records a server error and fails the property, so fast-check reports (and shrinks) the request. */
      const fail = (what: string): never => {
        serverErrors.push(what);
        throw new Error(what);
      };
      const counts = { graphql: 0, webhooks: 0, grpc: 0, refused: 0 };

      await fc.assert(
        fc.asyncProperty(graphqlCases, async (c) => {
          const authorization = c.auth === 'admin' ? undefined : c.auth === 'learner' ? `Bearer ${learner}` : c.auth === 'junk' ? 'Bearer eyJhbGciOiJub25lIn0.e30.' : undefined;
          const headers: Record<string, string> = { 'content-type': c.contentType, ...(authorization ? { authorization } : {}) };
          const res =
            c.auth === 'admin'
              ? await h.server.inject({ method: 'POST', url: '/graphql', payload: c.body, headers: { ...headers, authorization: `Bearer ${await adminToken()}` } })
              : await h.server.inject({ method: 'POST', url: '/graphql', payload: c.body, headers });
          counts.graphql += 1;
          const internal = res.body.includes('"INTERNAL"');
          if (res.statusCode >= 400 || res.body.includes('"errors"')) counts.refused += 1;
          if (res.statusCode >= 500 || internal) fail(`graphql answered ${res.statusCode} ${res.body.slice(0, 300)}`);
        }),
        { numRuns: GRAPHQL_RUNS, seed: SEED, endOnFailure: true },
      );

      await fc.assert(
        fc.asyncProperty(webhookCases, async (c) => {
          const res = await h.server.inject({ method: 'POST', url: `/webhooks/${c.gateway}`, payload: c.body, headers: c.headers });
          counts.webhooks += 1;
          counts.refused += res.statusCode >= 400 ? 1 : 0;
          if (res.statusCode >= 500) fail(`webhook ${c.gateway} answered ${res.statusCode} ${res.body.slice(0, 300)}`);
          // A delivery Obol cannot verify is never acknowledged (the gateway must not think it was taken).
          if (res.statusCode < 400) fail(`webhook ${c.gateway} answered ${res.statusCode} to an unverifiable delivery`);
        }),
        { numRuns: WEBHOOK_RUNS, seed: SEED, endOnFailure: true },
      );

      await fc.assert(
        fc.asyncProperty(grpcCases, async (c) => {
          const metadata = new grpc.Metadata();
          if (c.auth === 'service') metadata.set('authorization', `Bearer ${service}`);
          if (c.auth === 'junk') metadata.set('authorization', 'Bearer not.a.token');
          const serialize = requestSerializer(c.path);
          const payload = c.payload.kind === 'bytes' || serialize === undefined ? Buffer.from(c.payload.kind === 'bytes' ? c.payload.bytes : []) : serialize(c.payload.fields);
          const { code } = await new Promise<{ code: grpc.status; details: string }>((resolve) => {
            client.makeUnaryRequest(
              c.path,
              (b: Buffer) => b,
              (b: Buffer) => b,
              payload,
              metadata,
              { deadline: Date.now() + 10_000 },
              (err) => resolve(err ? { code: err.code, details: err.details } : { code: grpc.status.OK, details: '' }),
            );
          });
          counts.grpc += 1;
          if (code !== grpc.status.OK) counts.refused += 1;
          if (SERVER_FAULT_STATUSES.has(code)) fail(`grpc ${c.path} answered ${grpc.status[code]}`);
        }),
        { numRuns: GRPC_RUNS, seed: SEED, endOnFailure: true },
      );

      const after = await state();
      const changed = Object.keys({ ...before, ...after }).filter((table) => before[table] !== after[table]);
      const attempted = counts.graphql + counts.webhooks + counts.grpc;
      printFigures(
        `malformed[${dialect}]`,
        { attempted, succeeded: attempted - serverErrors.length, lost: 0, doubled: 0, graphql: counts.graphql, webhooks: counts.webhooks, grpc: counts.grpc, refused: counts.refused, serverErrors: serverErrors.length, tablesChanged: changed.length, seed: SEED },
        startedAt,
      );
      expect(serverErrors).toEqual([]);
      expect(changed.map((t) => `${t}: ${before[t]} → ${after[t]}`)).toEqual([]);
      expect(attempted).toBeGreaterThanOrEqual(10_000);
    },
    byProfile(240_000, 1_800_000),
  );

  // Both were server errors until the malformed-input run found them (graphql/yoga.ts, grpc/service.ts).
  it('answers a query over the alias limit as a client error (HTTP < 500), not a server error', async () => {
    const aliases = `{ ${Array.from({ length: 20 }, (_, i) => `a${i}: prices(country: "US", currency: "USD") { id }`).join(' ')} }`;
    const res = await h.server.inject({ method: 'POST', url: '/graphql', payload: JSON.stringify({ query: aliases }), headers: { 'content-type': 'application/json', authorization: `Bearer ${await adminToken()}` } });
    expect(res.statusCode).toBeLessThan(500);
  });

  it('answers a gRPC request that is not valid protobuf with INVALID_ARGUMENT, not INTERNAL', async () => {
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${service}`);
    const code = await new Promise<grpc.status>((resolve) => {
      client.makeUnaryRequest('/obol.v1.PaymentService/GetPayment', (b: Buffer) => b, (b: Buffer) => b, Buffer.from([0xf1, 0xd0]), metadata, { deadline: Date.now() + 10_000 }, (err) => resolve(err ? err.code : grpc.status.OK));
    });
    expect(code).toBe(grpc.status.INVALID_ARGUMENT);
  });

  let admin: string | undefined;
  async function adminToken(): Promise<string> {
    admin ??= await h.token({ sub: 'staff_malformed', roles: ['admin'] });
    return admin;
  }
});
