/**
 * The whole app with both optional stores in DynamoDB (IDEMPOTENCY_STORE=dynamodb,
 * ENTITLEMENT_READ_MODEL=dynamodb): a replayed checkout returns its first response, and after the
 * worker's round the access check answers from the DynamoDB table, which the test reads directly,
 * while the SQL tables those stores replace stay empty. A full refund and a lost dispute revoke
 * through the same DynamoDB rows, and so do a subscription's start, renewal and end.
 */
import { DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { key, startHarness, type Harness } from '../support/harness.js';
import { describeWithDynamoDb, dynamoDbClientConfig, uniqueServiceName } from '../support/services.js';
import { money, parseCurrency, type CurrencyCode } from '../../src/money/index.js';
import { applyDisputeEvent } from '../../src/payments/disputes/index.js';
import type { Caller } from '../../src/kernel/index.js';
import { advanceClock, attachCustomer, cancelSubscription, createClock, startSubscription } from '../../src/subscriptions/index.js';
import { CONFIRM, CREATE, REFUND } from './fragments.js';

const USD = parseCurrency('USD') as CurrencyCode;

const CHECK = `query Check($resource: String!) { checkAccess(resource: $resource) { resource allowed via validUntil } }`;

describeWithDynamoDb('the app on DynamoDB stores', (endpoint) => {
  const prefix = `${uniqueServiceName('obol')}_`;
  const config = dynamoDbClientConfig(endpoint);
  const savedEnv = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
  let h: Harness;
  let documents: DynamoDBDocumentClient;

  beforeAll(async () => {
    // The app takes credentials from the SDK's default chain, as in production; DynamoDB Local accepts any.
    process.env.AWS_ACCESS_KEY_ID = config.credentials && 'accessKeyId' in config.credentials ? config.credentials.accessKeyId : 'obolTest';
    process.env.AWS_SECRET_ACCESS_KEY = config.credentials && 'secretAccessKey' in config.credentials ? config.credentials.secretAccessKey : 'obolTest';
    h = await startHarness('sqlite', { IDEMPOTENCY_STORE: 'dynamodb', ENTITLEMENT_READ_MODEL: 'dynamodb', DYNAMODB_ENDPOINT: endpoint, DYNAMODB_REGION: 'us-east-1', DYNAMODB_TABLE_PREFIX: prefix });
    documents = DynamoDBDocumentClient.from(new DynamoDBClient(config));
  });
  afterAll(async () => {
    await h?.close();
    for (const table of ['idempotency_keys', 'entitlement_access']) await documents?.send(new DeleteTableCommand({ TableName: `${prefix}${table}` })).catch(() => undefined);
    documents?.destroy();
    if (savedEnv.id === undefined) delete process.env.AWS_ACCESS_KEY_ID;
    else process.env.AWS_ACCESS_KEY_ID = savedEnv.id;
    if (savedEnv.secret === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
    else process.env.AWS_SECRET_ACCESS_KEY = savedEnv.secret;
  });

  it('replays a checkout by its key from DynamoDB, and answers the access check from DynamoDB after the worker round', async () => {
    const customerId = 'cus_dynamodb_stores';
    const learner = await h.token({ sub: customerId, roles: ['learner'] });
    const createInput = { country: 'US', items: [{ priceId: 'price_ml_certificate_usd', quantity: 1 }], idempotencyKey: key('create') };
    const created = await h.gql(CREATE, { input: createInput }, { as: learner });
    expect(created.errors).toBeUndefined();
    const before = await h.snapshot();
    expect(await h.gql(CREATE, { input: createInput }, { as: learner })).toEqual(created);
    expect(await h.snapshot()).toEqual(before); // no second session
    const sessionId = created.data!.createCheckoutSession.checkoutSession.id as string;

    const confirmInput = { sessionId, paymentMethodToken: 'tok_visa', idempotencyKey: key('confirm') };
    const confirmed = await h.gql(CONFIRM, { input: confirmInput }, { as: learner });
    expect(confirmed.data!.confirmCheckoutSession.payment.status).toBe('succeeded');
    const charges = (await h.app.sandbox.chargeLog()).length;
    expect(await h.gql(CONFIRM, { input: confirmInput }, { as: learner })).toEqual(confirmed);
    expect((await h.app.sandbox.chargeLog()).length).toBe(charges);

    // The keys live in DynamoDB, completed with the response a replay returns; none in SQL.
    const { Item: idem } = await documents.send(new GetCommand({ TableName: `${prefix}idempotency_keys`, Key: { pk: JSON.stringify([`customer:${customerId}`, createInput.idempotencyKey]) }, ConsistentRead: true }));
    expect(idem).toMatchObject({ status: 'completed', operation: 'createCheckoutSession' });
    expect(JSON.parse(idem!.response as string)).toMatchObject({ checkoutSession: { id: sessionId, status: 'open', total: 4900 } });
    expect(before.idempotency_keys).toBe(0);

    const check = () => h.gql(CHECK, { resource: 'course:machine-learning' }, { as: learner });
    expect((await check()).data!.checkAccess.allowed).toBe(false);
    await h.runWorker();
    expect((await check()).data!.checkAccess).toEqual({ resource: 'course:machine-learning', allowed: true, via: 'course:machine-learning', validUntil: null });

    const { Item: row } = await documents.send(new GetCommand({ TableName: `${prefix}entitlement_access`, Key: { customer_id: customerId, resource: 'course:machine-learning' }, ConsistentRead: true }));
    expect(row).toMatchObject({ customer_id: customerId, resource: 'course:machine-learning', version: 1 });
    expect(row!.windows).toEqual([[expect.any(Number), null]]);
    // Only DynamoDB holds the read model: the SQL table it replaces has no row for the learner.
    expect(await h.app.db.kysely.selectFrom('entitlement_access').select('resource').where('customer_id', '=', customerId).execute()).toEqual([]);
  });

  /** A paid certificate for a new learner, granted through the worker round. */
  async function paidCertificate(customerId: string) {
    const learner = await h.token({ sub: customerId, roles: ['learner'] });
    const created = await h.gql(CREATE, { input: { country: 'US', items: [{ priceId: 'price_ml_certificate_usd', quantity: 1 }], idempotencyKey: key('create') } }, { as: learner });
    const sessionId = created.data!.createCheckoutSession.checkoutSession.id as string;
    const confirmed = await h.gql(CONFIRM, { input: { sessionId, paymentMethodToken: 'tok_visa', idempotencyKey: key('confirm') } }, { as: learner });
    const payment = confirmed.data!.confirmCheckoutSession.payment as { id: string; amountCaptured: { amount: number } };
    await h.runWorker();
    const check = async () => (await h.gql(CHECK, { resource: 'course:machine-learning' }, { as: learner })).data!.checkAccess.allowed as boolean;
    expect(await check()).toBe(true);
    const row = async () =>
      (await documents.send(new GetCommand({ TableName: `${prefix}entitlement_access`, Key: { customer_id: customerId, resource: 'course:machine-learning' }, ConsistentRead: true }))).Item;
    return { payment, check, row };
  }

  it('revokes on a full refund: the DynamoDB row closes its window and the check answers no', async () => {
    const { payment, check, row } = await paidCertificate('cus_dynamodb_refund');
    h.clock.advance(60_000); // a minute of access, then the refund
    const refunded = await h.gql(REFUND, { input: { paymentId: payment.id, idempotencyKey: key('refund') } });
    expect(refunded.data!.refundPayment.result).toBe('succeeded');
    await h.runWorker();
    expect(await check()).toBe(false);
    const closed = await row();
    expect(closed).toMatchObject({ version: 2 });
    const [[from, until]] = closed!.windows as [[number, number]];
    expect(until - from).toBe(60_000); // access ended exactly when the refund happened
  });

  it('a subscription grants, renews and ends through the same DynamoDB row', async () => {
    const DAY = 86_400_000;
    const admin: Caller = { actor: { subject: 'staff_dynamodb', roles: ['admin'], customerId: null, kind: 'staff' }, requestId: null, ip: null };
    const customerId = 'cus_dynamodb_subscription';
    const t0 = Date.UTC(2027, 0, 15, 12, 0, 0);
    const deps = { ...h.app.subscriptions, jobs: h.app.jobs };
    const clock = await createClock(deps, { caller: admin, name: 'dynamodb subscription', frozenTime: t0 });
    await attachCustomer(deps, { caller: admin, clockId: clock.id, customerId });
    const started = await startSubscription(deps, { caller: admin, customerId, priceId: 'price_plus_monthly_usd', country: 'US', paymentMethodToken: 'tok_visa', cardCountry: null, couponCode: null, trialDays: 0, requestKey: key('subscribe') });
    expect(started.subscription.status).toBe('active');
    await h.runWorker();
    const row = async () => (await documents.send(new GetCommand({ TableName: `${prefix}entitlement_access`, Key: { customer_id: customerId, resource: 'catalog:all' }, ConsistentRead: true }))).Item;
    const feb15 = Date.UTC(2027, 1, 15, 12, 0, 0);
    expect((await row())!.windows).toEqual([[t0, feb15]]);

    await advanceClock(deps, { caller: admin, clockId: clock.id, to: feb15 + DAY });
    await h.runWorker();
    const mar15 = Date.UTC(2027, 2, 15, 12, 0, 0);
    expect((await row())!.windows).toEqual([[t0, mar15]]);

    await cancelSubscription(deps, { caller: admin, subscriptionId: started.subscription.id, atPeriodEnd: false, refund: 'none', requestKey: key('cancel') });
    await h.runWorker();
    expect((await row())!.windows).toEqual([[t0, feb15 + DAY]]);
    const access = await h.gql(`query($c: ID, $at: DateTime) { checkAccess(customerId: $c, resource: "course:machine-learning", at: $at) { allowed via } }`, { c: customerId, at: new Date(feb15).toISOString() });
    expect(access.data!.checkAccess).toEqual({ allowed: true, via: 'catalog:all' });
    const after = await h.gql(`query($c: ID, $at: DateTime) { checkAccess(customerId: $c, resource: "course:machine-learning", at: $at) { allowed } }`, { c: customerId, at: new Date(feb15 + 2 * DAY).toISOString() });
    expect(after.data!.checkAccess.allowed).toBe(false);
  });

  it('revokes on a lost dispute through the same path', async () => {
    const { payment, check, row } = await paidCertificate('cus_dynamodb_dispute');
    const base = { connector: 'sandbox', gatewayDisputeId: `dp_dyn_${Date.now()}`, paymentId: payment.id, amount: money(payment.amountCaptured.amount, USD), fee: null, reason: 'fraudulent', occurredAt: h.clock.now() };
    await applyDisputeEvent(h.app.payments, { ...base, kind: 'opened' });
    await h.runWorker();
    expect(await check()).toBe(true); // an open dispute keeps access
    h.clock.advance(60_000);
    await applyDisputeEvent(h.app.payments, { ...base, kind: 'lost', occurredAt: h.clock.now() });
    await h.runWorker();
    expect(await check()).toBe(false);
    expect((await row())!.windows).toEqual([[expect.any(Number), expect.any(Number)]]);
  });
});
