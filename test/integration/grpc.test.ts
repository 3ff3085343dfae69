/**
 * The internal gRPC API, from the outside: a plain @grpc/grpc-js client built at run time from
 * the .proto files (with @grpc/proto-loader, not Obol's generated code) calls every method, the
 * standard health and reflection services answer, deadlines are honoured, tokens are required,
 * and Obol's typed errors arrive as gRPC status codes with google.rpc.ErrorInfo details.
 * Plus the contracts themselves: `buf lint` passes and the committed generated code is current.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/kernel/index.js';
import { signDevelopmentToken } from '../../src/platform/auth/index.js';
import { startGrpcServer, type GrpcServer } from '../../src/platform/grpc/server.js';
import { describeEachDatabase } from '../support/databases.js';
import { key, startHarness, type Harness } from '../support/harness.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const PROTO_DIR = join(ROOT, 'proto');
const require = createRequire(import.meta.url);
const REFLECTION_PROTO = require.resolve('@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto');
const BUF = join(ROOT, 'node_modules/.bin/buf');

const LOADER_OPTIONS: protoLoader.Options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };
const definitions = grpc.loadPackageDefinition(
  protoLoader.loadSync(['obol/v1/payments.proto', 'obol/v1/checkout.proto', 'obol/v1/entitlements.proto', 'obol/v1/subscriptions.proto', 'grpc/health/v1/health.proto'], { ...LOADER_OPTIONS, includeDirs: [PROTO_DIR] }),
) as any;
const reflectionDefinitions = grpc.loadPackageDefinition(protoLoader.loadSync(REFLECTION_PROTO, LOADER_OPTIONS)) as any;

/** google.rpc.Status and ErrorInfo, decoded from the proto files as any client would. */
const richErrors = protobuf.loadSync([join(PROTO_DIR, 'google/rpc/status.proto'), join(PROTO_DIR, 'google/rpc/error_details.proto')]);
const StatusType = richErrors.lookupType('google.rpc.Status');
const ErrorInfoType = richErrors.lookupType('google.rpc.ErrorInfo');

type Reply = Record<string, any>;

interface CallFailure {
  readonly code: grpc.status;
  readonly message: string;
  /** The Obol code from the `obol-error-code` trailer. */
  readonly obolCode: string | undefined;
  /** google.rpc.ErrorInfo from `grpc-status-details-bin`. */
  readonly info: { reason: string; domain: string; metadata: Record<string, string> } | undefined;
  readonly statusCodeInDetails: number | undefined;
}

function failureOf(err: grpc.ServiceError): CallFailure {
  const bin = err.metadata?.get('grpc-status-details-bin')[0];
  const obol = err.metadata?.get('obol-error-code')[0];
  let info: CallFailure['info'];
  let statusCodeInDetails: number | undefined;
  if (Buffer.isBuffer(bin)) {
    const decoded = StatusType.toObject(StatusType.decode(bin), { defaults: true }) as { code: number; details: { type_url: string; value: Uint8Array }[] };
    statusCodeInDetails = decoded.code;
    const any = decoded.details.find((d) => d.type_url === 'type.googleapis.com/google.rpc.ErrorInfo');
    if (any) info = ErrorInfoType.toObject(ErrorInfoType.decode(any.value), { defaults: true }) as CallFailure['info'];
  }
  return { code: err.code, message: err.details, obolCode: typeof obol === 'string' ? obol : undefined, info, statusCodeInDetails };
}

type Outcome = { readonly ok: true; readonly reply: Reply; readonly ms: number } | { readonly ok: false; readonly error: CallFailure; readonly ms: number };

function call(client: grpc.Client, method: string, request: Record<string, unknown>, options: { token?: string | null; authorization?: string; deadlineMs?: number } = {}): Promise<Outcome> {
  const metadata = new grpc.Metadata();
  if (options.authorization !== undefined) metadata.set('authorization', options.authorization);
  else if (options.token) metadata.set('authorization', `Bearer ${options.token}`);
  const started = Date.now();
  return new Promise((resolve) => {
    (client as any)[method](request, metadata, { deadline: Date.now() + (options.deadlineMs ?? 10_000) }, (err: grpc.ServiceError | null, reply: Reply) => {
      const ms = Date.now() - started;
      resolve(err ? { ok: false, error: failureOf(err), ms } : { ok: true, reply, ms });
    });
  });
}

async function ok(outcome: Promise<Outcome>): Promise<Reply> {
  const o = await outcome;
  if (!o.ok) throw new Error(`expected success, got ${grpc.status[o.error.code]} ${o.error.obolCode ?? ''}: ${o.error.message}`);
  return o.reply;
}

async function failed(outcome: Promise<Outcome>): Promise<CallFailure> {
  const o = await outcome;
  if (o.ok) throw new Error(`expected an error, got ${JSON.stringify(o.reply)}`);
  return o.error;
}

/** Every file under `dir`, relative to it. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else out.push(relative(dir, path));
    }
  };
  walk(dir);
  return out.sort();
}

describe('protobuf contracts', () => {
  it('pass buf lint with the STANDARD rules', () => {
    const run = spawnSync(BUF, ['lint'], { cwd: ROOT, encoding: 'utf8' });
    expect(run.stdout + run.stderr).toBe('');
    expect(run.status).toBe(0);
  });

  it('have committed generated TypeScript that regenerating leaves unchanged', () => {
    const out = mkdtempSync(join(tmpdir(), 'obol-buf-'));
    try {
      const run = spawnSync(BUF, ['generate', '-o', out], { cwd: ROOT, encoding: 'utf8' });
      expect(run.status, run.stderr).toBe(0);
      const fresh = join(out, 'src/gen');
      const committed = join(ROOT, 'src/gen');
      expect(existsSync(fresh)).toBe(true);
      expect(filesUnder(committed)).toEqual(filesUnder(fresh));
      for (const file of filesUnder(fresh)) expect(readFileSync(join(committed, file), 'utf8'), `${file} is stale: run npm run proto:generate`).toBe(readFileSync(join(fresh, file), 'utf8'));
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

describeEachDatabase('gRPC API', (dialect) => {
  // Slow enough that a short deadline expires while the gateway is still "answering".
  const GATEWAY_LATENCY_MS = 400;
  let h: Harness;
  let server: GrpcServer;
  let payments: grpc.Client;
  let checkout: grpc.Client;
  let entitlements: grpc.Client;
  let subscriptions: grpc.Client;
  let health: grpc.Client;
  let reflection: grpc.Client;
  let service: string;
  let n = 0;

  beforeAll(async () => {
    h = await startHarness(dialect, { SANDBOX_LATENCY_MS: String(GATEWAY_LATENCY_MS) });
    server = await startGrpcServer(h.app, { host: '127.0.0.1', port: 0 });
    const address = `127.0.0.1:${server.port}`;
    const insecure = grpc.credentials.createInsecure();
    payments = new definitions.obol.v1.PaymentService(address, insecure);
    checkout = new definitions.obol.v1.CheckoutService(address, insecure);
    entitlements = new definitions.obol.v1.EntitlementService(address, insecure);
    subscriptions = new definitions.obol.v1.SubscriptionService(address, insecure);
    health = new definitions.grpc.health.v1.Health(address, insecure);
    reflection = new reflectionDefinitions.grpc.reflection.v1.ServerReflection(address, insecure);
    service = await h.token({ sub: 'svc_course_player', roles: ['service'] });
  });
  afterAll(async () => {
    for (const c of [payments, checkout, entitlements, subscriptions, health, reflection]) c?.close();
    await server?.close({ graceMs: 1000 });
    await h?.close();
  });

  // No long digit runs: 13 digits that pass Luhn would be refused as a card number.
  const customer = () => `cus_grpc_${dialect}_${++n}_${randomUUID().slice(0, 8)}`;

  async function openSession(customerId: string, extra: Record<string, unknown> = {}, token = service) {
    const reply = await ok(
      call(checkout, 'CreateCheckoutSession', { customer_id: customerId, country: 'IN', items: [{ price_id: 'price_plus_monthly_inr', quantity: 1 }], idempotency_key: key('create'), ...extra }, { token }),
    );
    return reply.checkout_session;
  }

  async function paidPayment(customerId: string, captureMethod: 'CAPTURE_METHOD_AUTOMATIC' | 'CAPTURE_METHOD_MANUAL' = 'CAPTURE_METHOD_AUTOMATIC') {
    const session = await openSession(customerId, { capture_method: captureMethod });
    const confirmed = await ok(call(checkout, 'ConfirmCheckoutSession', { session_id: session.id, payment_method_token: 'tok_visa', idempotency_key: key('confirm') }, { token: service }));
    return confirmed.payment;
  }

  it('serves every method to a plain client built from the .proto files', async () => {
    const customerId = customer();
    const createRequest = {
      customer_id: customerId,
      country: 'IN',
      items: [{ price_id: 'price_plus_monthly_inr', quantity: 1 }],
      capture_method: 'CAPTURE_METHOD_MANUAL',
      billing_details: { name: 'Asha Rao', email: 'asha@example.com', address: { line1: '1 MG Road', city: 'Bengaluru', postal_code: '560001', country: 'IN' } },
      idempotency_key: key('create'),
    };
    const created = await ok(call(checkout, 'CreateCheckoutSession', createRequest, { token: service }));
    const session = created.checkout_session;
    expect(session).toMatchObject({ customer_id: customerId, country: 'IN', status: 'CHECKOUT_SESSION_STATUS_OPEN', capture_method: 'CAPTURE_METHOD_MANUAL' });
    expect(session.total).toEqual({ amount_minor: '499900', currency: 'INR' });
    expect(session.lines).toHaveLength(1);
    // A replay returns the first response, not a second session.
    expect((await ok(call(checkout, 'CreateCheckoutSession', createRequest, { token: service }))).checkout_session.id).toBe(session.id);

    const confirmed = await ok(call(checkout, 'ConfirmCheckoutSession', { session_id: session.id, payment_method_token: 'tok_visa', idempotency_key: key('confirm') }, { token: service }));
    expect(confirmed.checkout_session.status).toBe('CHECKOUT_SESSION_STATUS_COMPLETE');
    const paymentId = confirmed.payment.id as string;
    expect(confirmed.payment).toMatchObject({ status: 'PAYMENT_STATUS_REQUIRES_CAPTURE', customer_id: customerId, amount_authorized: { amount_minor: '499900', currency: 'INR' } });

    const got = await ok(call(payments, 'GetPayment', { payment_id: paymentId }, { token: service }));
    expect(got.payment).toMatchObject({ id: paymentId, checkout_session_id: session.id, status: 'PAYMENT_STATUS_REQUIRES_CAPTURE' });

    const listed = await ok(call(payments, 'ListPayments', { customer_id: customerId, page_size: 10 }, { token: service }));
    expect(listed.payments.map((p: Reply) => p.id)).toEqual([paymentId]);
    expect(listed.next_page_token).toBe('');

    const captured = await ok(call(payments, 'CapturePayment', { payment_id: paymentId, idempotency_key: key('capture') }, { token: service }));
    expect(captured.result).toBe('OPERATION_RESULT_SUCCEEDED');
    expect(captured.payment).toMatchObject({ status: 'PAYMENT_STATUS_SUCCEEDED', amount_captured: { amount_minor: '499900', currency: 'INR' } });

    const refunded = await ok(call(payments, 'RefundPayment', { payment_id: paymentId, amount_minor: '100000', reason: 'goodwill', idempotency_key: key('refund') }, { token: service }));
    expect(refunded.result).toBe('OPERATION_RESULT_SUCCEEDED');
    expect(refunded.refund).toMatchObject({ payment_id: paymentId, amount: { amount_minor: '100000', currency: 'INR' }, status: 'succeeded', reason: 'goodwill' });
    expect(refunded.payment.amount_refundable).toEqual({ amount_minor: '399900', currency: 'INR' });

    // Entitlements: the checkout's event reaches the projection on the worker's next round.
    await h.runWorker();
    const check = await ok(call(entitlements, 'CheckEntitlement', { customer_id: customerId, resource: 'course:machine-learning' }, { token: service }));
    // Obol Plus is the all-access catalogue, which opens every course.
    expect(check.decision).toMatchObject({ resource: 'course:machine-learning', allowed: true, via: 'catalog:all' });
    const batch = await ok(call(entitlements, 'BatchCheckEntitlements', { customer_id: customerId, resources: ['catalog:all', 'specialization:data-science'] }, { token: service }));
    expect(batch.decisions.map((d: Reply) => [d.resource, d.allowed])).toEqual([
      ['catalog:all', true],
      ['specialization:data-science', true],
    ]);
    const held = await ok(call(entitlements, 'ListEntitlements', { customer_id: customerId }, { token: service }));
    expect(held.entitlements).toHaveLength(1);
    expect(held.entitlements[0]).toMatchObject({ customer_id: customerId, resource: 'catalog:all', source_kind: 'order', status: 'ENTITLEMENT_STATUS_ACTIVE', active_now: true });
    const stranger = await ok(call(entitlements, 'CheckEntitlement', { customer_id: customer(), resource: 'course:machine-learning' }, { token: service }));
    expect(stranger.decision).toMatchObject({ allowed: false, via: '', valid_until: null });
  });

  /** A Timestamp from the plain client (int64 seconds as a string) in epoch milliseconds. */
  const msOf = (t: Reply | null): number => Number(t!.seconds) * 1000 + Math.floor(Number(t!.nanos) / 1e6);

  it('serves every subscription method to a plain client built from the .proto files', async () => {
    const customerId = customer();
    const createRequest = {
      customer_id: customerId,
      price_id: 'price_plus_monthly_usd',
      country: 'US',
      payment_method_token: 'tok_visa',
      // Explicitly none: Plus monthly's plan default is a 7-day trial (see the next test).
      trial_days: 0,
      idempotency_key: key('subscribe'),
    };
    const created = await ok(call(subscriptions, 'CreateSubscription', createRequest, { token: service }));
    const sub = created.subscription;
    expect(sub).toMatchObject({
      customer_id: customerId,
      status: 'SUBSCRIPTION_STATUS_ACTIVE',
      product_id: 'prod_obol_plus',
      price_id: 'price_plus_monthly_usd',
      unit_amount: { amount_minor: '5900', currency: 'USD' },
      billing_interval: 'BILLING_INTERVAL_MONTH',
      tax_behavior: 'TAX_BEHAVIOR_EXCLUSIVE',
      country: 'US',
      cancel_at_period_end: false,
      trial_end_time: null,
      end_time: null,
      dunning_state: 'DUNNING_STATE_UNSPECIFIED',
      credit_balance: { amount_minor: '0', currency: 'USD' },
    });
    expect(sub.id).toMatch(/^sub_/);
    expect(msOf(sub.current_period_end_time)).toBeGreaterThan(msOf(sub.current_period_start_time));
    expect(msOf(sub.access_end_time)).toBe(msOf(sub.current_period_end_time));
    const firstInvoice = created.latest_invoice;
    expect(firstInvoice).toMatchObject({
      id: sub.latest_invoice_id,
      subscription_id: sub.id,
      customer_id: customerId,
      status: 'INVOICE_STATUS_PAID',
      billing_reason: 'subscription_create',
      total: { amount_minor: '5900', currency: 'USD' },
      tax: { amount_minor: '0', currency: 'USD' },
      tax_country: 'US',
      attempt_count: 1,
    });
    expect(firstInvoice.number).toMatch(/^OBOL-\d{6}$/);
    expect(firstInvoice.lines[0]).toMatchObject({ kind: 'subscription', price_id: 'price_plus_monthly_usd', amount: { amount_minor: '5900', currency: 'USD' } });
    expect(firstInvoice.pay_time).not.toBeNull();
    expect(created.payment).toMatchObject({ id: firstInvoice.payment_id, invoice_id: firstInvoice.id, checkout_session_id: '', status: 'PAYMENT_STATUS_SUCCEEDED', initiator: 'PAYMENT_INITIATOR_CUSTOMER' });
    expect(created.payment_method).toMatchObject({ id: sub.payment_method_id, customer_id: customerId, status: 'PAYMENT_METHOD_STATUS_ACTIVE' });

    // A replay returns the first response (byte for byte the same), with no second signup or charge.
    expect(await ok(call(subscriptions, 'CreateSubscription', createRequest, { token: service }))).toEqual(created);
    expect((await ok(call(payments, 'ListPayments', { customer_id: customerId }, { token: service }))).payments).toHaveLength(1);
    // The same key for a different request is refused, not replayed.
    const reused = await failed(call(subscriptions, 'CreateSubscription', { ...createRequest, country: 'DE' }, { token: service }));
    expect(reused).toMatchObject({ code: grpc.status.ALREADY_EXISTS, obolCode: 'IDEMPOTENCY_KEY_REUSED' });

    expect((await ok(call(subscriptions, 'GetSubscription', { subscription_id: sub.id }, { token: service }))).subscription).toEqual(sub);
    expect((await ok(call(subscriptions, 'ListSubscriptions', { customer_id: customerId }, { token: service }))).subscriptions.map((s: Reply) => s.id)).toEqual([sub.id]);
    expect((await ok(call(subscriptions, 'GetInvoice', { invoice_id: firstInvoice.id }, { token: service }))).invoice).toEqual(firstInvoice);
    expect((await ok(call(subscriptions, 'ListInvoices', { subscription_id: sub.id }, { token: service }))).invoices).toEqual([firstInvoice]);

    // Monthly → annual is an upgrade: now, with the unused time credited, charged off-session.
    const changed = await ok(call(subscriptions, 'ChangeSubscriptionPlan', { subscription_id: sub.id, price_id: 'price_plus_annual_usd', idempotency_key: key('change') }, { token: service }));
    expect(changed.subscription).toMatchObject({ id: sub.id, status: 'SUBSCRIPTION_STATUS_ACTIVE', price_id: 'price_plus_annual_usd', billing_interval: 'BILLING_INTERVAL_YEAR' });
    const upgrade = changed.latest_invoice;
    expect(upgrade).toMatchObject({ billing_reason: 'subscription_update', status: 'INVOICE_STATUS_PAID', subtotal: { amount_minor: '39900', currency: 'USD' } });
    const credit = Number(upgrade.credit.amount_minor);
    expect(credit).toBeGreaterThan(0);
    expect(credit).toBeLessThanOrEqual(5900);
    expect(upgrade.total).toEqual({ amount_minor: String(39900 - credit), currency: 'USD' });
    expect(upgrade.lines.map((l: Reply) => l.kind)).toEqual(['subscription', 'proration_credit']);
    expect(upgrade.lines[1].amount).toEqual({ amount_minor: String(-credit), currency: 'USD' });
    expect(changed.payment).toMatchObject({ invoice_id: upgrade.id, status: 'PAYMENT_STATUS_SUCCEEDED', initiator: 'PAYMENT_INITIATOR_MERCHANT' });
    expect((await ok(call(subscriptions, 'ListInvoices', { subscription_id: sub.id }, { token: service }))).invoices.map((i: Reply) => i.id)).toEqual([firstInvoice.id, upgrade.id]);

    const updated = await ok(
      call(subscriptions, 'UpdateSubscriptionPaymentMethod', { subscription_id: sub.id, payment_method_token: 'tok_mastercard', idempotency_key: key('pm') }, { token: service }),
    );
    expect(updated.payment_method).toMatchObject({ customer_id: customerId, status: 'PAYMENT_METHOD_STATUS_ACTIVE' });
    expect(updated.payment_method.id).not.toBe(sub.payment_method_id);
    expect(updated.subscription.payment_method_id).toBe(updated.payment_method.id);

    const scheduled = await ok(call(subscriptions, 'CancelSubscription', { subscription_id: sub.id, at_period_end: true, idempotency_key: key('cancel') }, { token: service }));
    expect(scheduled.subscription).toMatchObject({ status: 'SUBSCRIPTION_STATUS_ACTIVE', cancel_at_period_end: true, end_time: null });
    expect(scheduled.subscription.cancel_time).not.toBeNull();
    const resumed = await ok(call(subscriptions, 'ResumeSubscription', { subscription_id: sub.id, idempotency_key: key('resume') }, { token: service }));
    expect(resumed.subscription).toMatchObject({ status: 'SUBSCRIPTION_STATUS_ACTIVE', cancel_at_period_end: false, cancel_time: null });

    // Ending now with a prorated refund: the unused part of the annual period goes back.
    const ended = await ok(
      call(subscriptions, 'CancelSubscription', { subscription_id: sub.id, at_period_end: false, refund: 'REFUND_POLICY_PRORATED', idempotency_key: key('cancel') }, { token: service }),
    );
    expect(ended.subscription).toMatchObject({ status: 'SUBSCRIPTION_STATUS_CANCELED', end_reason: 'canceled_immediately' });
    expect(ended.subscription.end_time).not.toBeNull();
    expect(ended.payment.id).toBe(changed.payment.id);
    const refunded = Number(ended.payment.amount_refunded.amount_minor);
    expect(refunded).toBeGreaterThan(0);
    expect(refunded).toBeLessThanOrEqual(39900 - credit);
    expect(ended.payment.refunds).toHaveLength(1);
  });

  it('takes the plan default trial when trial_days is unset', async () => {
    const customerId = customer();
    const created = await ok(
      call(subscriptions, 'CreateSubscription', { customer_id: customerId, price_id: 'price_plus_monthly_usd', country: 'US', payment_method_token: 'tok_visa', idempotency_key: key('subscribe') }, { token: service }),
    );
    expect(created.subscription).toMatchObject({ status: 'SUBSCRIPTION_STATUS_TRIALING', latest_invoice_id: '' });
    const { create_time: createTime, trial_end_time: trialEnd } = created.subscription;
    expect(msOf(trialEnd) - msOf(createTime)).toBe(7 * 86_400_000);
    expect(created).toMatchObject({ latest_invoice: null, payment: null, payment_method: { status: 'PAYMENT_METHOD_STATUS_ACTIVE' } });
    expect((await ok(call(subscriptions, 'ListInvoices', { subscription_id: created.subscription.id }, { token: service }))).invoices).toEqual([]);
  });

  it('maps subscription refusals to gRPC status codes with ErrorInfo, and changes nothing', async () => {
    const customerId = customer();
    const subscribe = (extra: Record<string, unknown>, token = service) =>
      call(subscriptions, 'CreateSubscription', { customer_id: customerId, price_id: 'price_plus_monthly_usd', country: 'US', payment_method_token: 'tok_visa', trial_days: 0, idempotency_key: key('s'), ...extra }, { token });

    // A one-time price is no plan.
    const oneTime = await failed(subscribe({ price_id: 'price_ml_certificate_usd' }));
    expect(oneTime).toMatchObject({ code: grpc.status.FAILED_PRECONDITION, obolCode: 'PRICE_NOT_RECURRING', statusCodeInDetails: grpc.status.FAILED_PRECONDITION });
    expect(oneTime.info).toEqual({ reason: 'PRICE_NOT_RECURRING', domain: 'obol', metadata: { field: 'price_id' } });
    expect((await failed(subscribe({ price_id: 'plus' }))).info).toEqual({ reason: 'INVALID_ID', domain: 'obol', metadata: { field: 'price_id' } });
    expect((await failed(subscribe({ price_id: 'price_no_such_plan' }))).code).toBe(grpc.status.NOT_FOUND);
    expect((await failed(subscribe({ trial_days: 400 }))).info).toEqual({ reason: 'VALIDATION_FAILED', domain: 'obol', metadata: { field: 'trial_days' } });
    expect((await failed(subscribe({ payment_method_token: 'not a token' }))).info).toEqual({ reason: 'VALIDATION_FAILED', domain: 'obol', metadata: { field: 'payment_method_token' } });
    expect(await failed(subscribe({ idempotency_key: '' }))).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, obolCode: 'IDEMPOTENCY_KEY_REQUIRED' });
    // None of those left a subscription behind.
    expect((await ok(call(subscriptions, 'ListSubscriptions', { customer_id: customerId }, { token: service }))).subscriptions).toEqual([]);

    const unknown = await failed(call(subscriptions, 'GetSubscription', { subscription_id: newId('subscription') }, { token: service }));
    expect(unknown).toMatchObject({ code: grpc.status.NOT_FOUND, obolCode: 'NOT_FOUND' });
    expect(unknown.info).toEqual({ reason: 'NOT_FOUND', domain: 'obol', metadata: { field: 'subscription_id' } });
    expect((await failed(call(subscriptions, 'GetInvoice', { invoice_id: newId('invoice') }, { token: service }))).code).toBe(grpc.status.NOT_FOUND);
    expect((await failed(call(subscriptions, 'ListInvoices', { subscription_id: newId('subscription') }, { token: service }))).code).toBe(grpc.status.NOT_FOUND);
    expect((await failed(call(subscriptions, 'ResumeSubscription', { subscription_id: newId('subscription'), idempotency_key: key('r') }, { token: service }))).code).toBe(grpc.status.NOT_FOUND);
    const badId = await failed(call(subscriptions, 'GetInvoice', { invoice_id: 'invoice-1' }, { token: service }));
    expect(badId).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, obolCode: 'INVALID_ID' });
    expect(badId.info?.metadata).toEqual({ field: 'invoice_id' });

    const sub = (await ok(subscribe({}))).subscription;
    const second = await failed(subscribe({ price_id: 'price_plus_annual_usd' }));
    expect(second).toMatchObject({ code: grpc.status.ALREADY_EXISTS, obolCode: 'SUBSCRIPTION_ALREADY_EXISTS' });
    expect(second.info?.metadata).toEqual({ subscriptionId: sub.id });
    // A period-end cancellation uses the period in full: a refund with it is a contradiction.
    const refundAtEnd = await failed(
      call(subscriptions, 'CancelSubscription', { subscription_id: sub.id, at_period_end: true, refund: 'REFUND_POLICY_PRORATED', idempotency_key: key('c') }, { token: service }),
    );
    expect(refundAtEnd).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, obolCode: 'VALIDATION_FAILED' });
    expect(refundAtEnd.info?.metadata).toEqual({ field: 'refund' });
    const samePlan = await failed(call(subscriptions, 'ChangeSubscriptionPlan', { subscription_id: sub.id, price_id: 'price_plus_monthly_usd', idempotency_key: key('p') }, { token: service }));
    expect(samePlan).toMatchObject({ code: grpc.status.FAILED_PRECONDITION, obolCode: 'PLAN_CHANGE_NOT_ALLOWED' });
    const otherCurrency = await failed(call(subscriptions, 'ChangeSubscriptionPlan', { subscription_id: sub.id, price_id: 'price_plus_annual_eur', idempotency_key: key('p') }, { token: service }));
    expect(otherCurrency).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, obolCode: 'CURRENCY_MISMATCH' });
    // A card the issuer will not let us save is an outcome, not an error: the subscription keeps its method.
    const declined = await ok(
      call(subscriptions, 'UpdateSubscriptionPaymentMethod', { subscription_id: sub.id, payment_method_token: 'tok_chargeDeclined', idempotency_key: key('pm') }, { token: service }),
    );
    expect(declined.saved_payment_method).toMatchObject({ status: 'PAYMENT_METHOD_STATUS_FAILED', decline_code: 'card_declined', decline_reason: 'generic_decline' });
    expect(declined.payment_method.id).not.toBe(declined.saved_payment_method.id);

    // Who may do what: the use cases decide, and a learner's foreign subscription reads like none.
    const learner = await h.token({ sub: customer(), roles: ['learner'] });
    expect(await failed(call(subscriptions, 'GetSubscription', { subscription_id: sub.id }, { token: learner }))).toMatchObject({ code: grpc.status.NOT_FOUND, obolCode: 'NOT_FOUND' });
    expect((await failed(call(subscriptions, 'CancelSubscription', { subscription_id: sub.id, idempotency_key: key('c') }, { token: learner }))).code).toBe(grpc.status.NOT_FOUND);
    expect(await failed(subscribe({}, learner))).toMatchObject({ code: grpc.status.PERMISSION_DENIED, obolCode: 'FORBIDDEN' });
    const finance = await h.token({ sub: 'staff_fin', roles: ['finance'] });
    const denied = await failed(call(subscriptions, 'CancelSubscription', { subscription_id: sub.id, idempotency_key: key('c') }, { token: finance }));
    expect(denied).toMatchObject({ code: grpc.status.PERMISSION_DENIED, obolCode: 'FORBIDDEN' });
    expect(denied.info?.metadata).toEqual({ permission: 'subscription.manage' });
    expect((await failed(call(subscriptions, 'GetSubscription', { subscription_id: sub.id }))).code).toBe(grpc.status.UNAUTHENTICATED);

    // After every refusal the subscription is as it was.
    expect((await ok(call(subscriptions, 'GetSubscription', { subscription_id: sub.id }, { token: finance }))).subscription).toEqual(sub);
  });

  it('answers the standard health service without a token', async () => {
    for (const name of ['', 'obol.v1.PaymentService', 'obol.v1.CheckoutService', 'obol.v1.EntitlementService', 'obol.v1.SubscriptionService']) {
      expect((await ok(call(health, 'Check', { service: name }, { token: null }))).status, name).toBe('SERVING');
    }
    expect((await failed(call(health, 'Check', { service: 'obol.v1.NoSuchService' }))).code).toBe(grpc.status.NOT_FOUND);
    const stream = (health as any).Watch({ service: '' }) as grpc.ClientReadableStream<Reply>;
    const first = await new Promise<Reply>((resolve, reject) => {
      stream.once('data', resolve);
      stream.once('error', reject);
    });
    expect(first.status).toBe('SERVING');
    stream.cancel();
  });

  it('lists its services and describes them through server reflection', async () => {
    const stream = (reflection as any).ServerReflectionInfo() as grpc.ClientDuplexStream<Reply, Reply>;
    const ask = (request: Reply) =>
      new Promise<Reply>((resolve, reject) => {
        stream.once('data', resolve);
        stream.once('error', reject);
        stream.write(request);
      });
    const listed = await ask({ list_services: '*' });
    expect(listed.list_services_response.service.map((s: Reply) => s.name).sort()).toEqual([
      'grpc.health.v1.Health',
      'obol.v1.CheckoutService',
      'obol.v1.EntitlementService',
      'obol.v1.PaymentService',
      'obol.v1.SubscriptionService',
    ]);
    const described = await ask({ file_containing_symbol: 'obol.v1.PaymentService' });
    const descriptorRoot = protobuf.Root.fromJSON(require('protobufjs/google/protobuf/descriptor.json'));
    const FileDescriptorProto = descriptorRoot.lookupType('google.protobuf.FileDescriptorProto');
    const files = (described.file_descriptor_response.file_descriptor_proto as Buffer[]).map((b) => FileDescriptorProto.toObject(FileDescriptorProto.decode(b)) as Reply);
    const paymentsFile = files.find((f) => f.name === 'obol/v1/payments.proto');
    expect(paymentsFile?.service?.[0]?.method?.map((m: Reply) => m.name)).toEqual(['GetPayment', 'ListPayments', 'CapturePayment', 'RefundPayment']);
    // Its imports come along, so a tool can decode every message.
    expect(files.map((f) => f.name)).toEqual(expect.arrayContaining(['obol/v1/common.proto', 'google/protobuf/timestamp.proto']));
    const subscriptionFiles = await ask({ file_containing_symbol: 'obol.v1.SubscriptionService' });
    const subscriptionsFile = (subscriptionFiles.file_descriptor_response.file_descriptor_proto as Buffer[])
      .map((b) => FileDescriptorProto.toObject(FileDescriptorProto.decode(b)) as Reply)
      .find((f) => f.name === 'obol/v1/subscriptions.proto');
    expect(subscriptionsFile?.service?.[0]?.method?.map((m: Reply) => m.name)).toEqual([
      'GetSubscription',
      'ListSubscriptions',
      'ListInvoices',
      'GetInvoice',
      'CreateSubscription',
      'CancelSubscription',
      'ResumeSubscription',
      'ChangeSubscriptionPlan',
      'UpdateSubscriptionPaymentMethod',
    ]);
    stream.end();
  });

  it('gives up at the deadline without losing the payment, and a retry with the same key finds it', async () => {
    const customerId = customer();
    const session = await openSession(customerId);
    const idempotencyKey = key('confirm');
    const confirm = { session_id: session.id, payment_method_token: 'tok_visa', idempotency_key: idempotencyKey };
    const late = await call(checkout, 'ConfirmCheckoutSession', confirm, { token: service, deadlineMs: 100 });
    expect(late.ok).toBe(false);
    if (!late.ok) expect(late.error.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    // The caller was answered at its deadline, not when the gateway finally replied.
    expect(late.ms).toBeLessThan(GATEWAY_LATENCY_MS);
    const retried = await ok(call(checkout, 'ConfirmCheckoutSession', confirm, { token: service, deadlineMs: 20_000 }));
    expect(retried.payment.status).toBe('PAYMENT_STATUS_SUCCEEDED');
    const listed = await ok(call(payments, 'ListPayments', { customer_id: customerId }, { token: service }));
    expect(listed.payments).toHaveLength(1);
    expect(listed.payments[0].amount_captured).toEqual({ amount_minor: '499900', currency: 'INR' });
  });

  it('refuses calls without a valid token, and what the caller may not do', async () => {
    const learnerId = customer();
    const learner = await h.token({ sub: learnerId, roles: ['learner'] });
    const payment = await paidPayment(customer());
    for (const options of [{ token: null }, { authorization: 'Bearer not.a.jwt' }, { authorization: 'Basic c3ZjOnB3' }, { authorization: `Bearer ${service}x` }]) {
      const refused = await failed(call(payments, 'GetPayment', { payment_id: payment.id }, options));
      expect(refused.code, JSON.stringify(options)).toBe(grpc.status.UNAUTHENTICATED);
      expect(refused.obolCode).toBe('UNAUTHENTICATED');
    }
    const expired = await signDevelopmentToken({ config: h.app.config, subject: 'svc_old', roles: ['service'], ttlSeconds: 60, now: Date.now() - 3_600_000 });
    expect((await failed(call(payments, 'GetPayment', { payment_id: payment.id }, { token: expired }))).code).toBe(grpc.status.UNAUTHENTICATED);

    // Another customer's payment reads exactly like no payment at all (no id probing).
    const foreign = await failed(call(payments, 'GetPayment', { payment_id: payment.id }, { token: learner }));
    expect(foreign).toMatchObject({ code: grpc.status.NOT_FOUND, obolCode: 'NOT_FOUND' });
    expect((await failed(call(payments, 'ListPayments', { customer_id: payment.customer_id }, { token: learner }))).code).toBe(grpc.status.NOT_FOUND);
    expect((await failed(call(entitlements, 'ListEntitlements', { customer_id: payment.customer_id }, { token: learner }))).code).toBe(grpc.status.NOT_FOUND);
    // A learner's token with no customer_id asks about the learner.
    expect((await ok(call(entitlements, 'CheckEntitlement', { resource: 'catalog:all' }, { token: learner }))).decision).toMatchObject({ resource: 'catalog:all', allowed: false });
    // A learner may check out for themselves, never for someone else.
    const forSomeoneElse = await failed(
      call(checkout, 'CreateCheckoutSession', { customer_id: payment.customer_id, country: 'IN', items: [{ price_id: 'price_plus_monthly_inr', quantity: 1 }], idempotency_key: key('c') }, { token: learner }),
    );
    expect(forSomeoneElse).toMatchObject({ code: grpc.status.PERMISSION_DENIED, obolCode: 'FORBIDDEN' });
    // A role that may not refund at all is PERMISSION_DENIED, and nothing is refunded.
    const finance = await h.token({ sub: 'staff_fin', roles: ['finance'] });
    const denied = await failed(call(payments, 'RefundPayment', { payment_id: payment.id, idempotency_key: key('r') }, { token: finance }));
    expect(denied).toMatchObject({ code: grpc.status.PERMISSION_DENIED, obolCode: 'FORBIDDEN' });
    expect(denied.info?.metadata).toEqual({ permission: 'payment.refund' });
    expect((await ok(call(payments, 'GetPayment', { payment_id: payment.id }, { token: service }))).payment.refunds).toEqual([]);
  });

  it('maps typed errors to gRPC status codes with the Obol code and field in ErrorInfo details', async () => {
    const invalidId = await failed(call(payments, 'GetPayment', { payment_id: 'not-a-payment' }, { token: service }));
    expect(invalidId).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, obolCode: 'INVALID_ID', statusCodeInDetails: grpc.status.INVALID_ARGUMENT });
    expect(invalidId.info).toEqual({ reason: 'INVALID_ID', domain: 'obol', metadata: { field: 'payment_id' } });

    // The use case's own validation, with its field in the proto's spelling.
    const badPrice = await failed(call(checkout, 'CreateCheckoutSession', { customer_id: customer(), country: 'IN', items: [{ price_id: 'plus', quantity: 1 }], idempotency_key: key('c') }, { token: service }));
    expect(badPrice).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, obolCode: 'INVALID_ID' });
    expect(badPrice.info?.metadata).toEqual({ field: 'items[0].price_id' });
    const badResource = await failed(call(entitlements, 'CheckEntitlement', { customer_id: customer(), resource: 'Machine Learning' }, { token: service }));
    expect(badResource).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, obolCode: 'VALIDATION_FAILED' });
    expect(badResource.info?.metadata).toEqual({ field: 'resource' });
    const badCountry = await failed(call(checkout, 'CreateCheckoutSession', { customer_id: customer(), country: 'India', items: [{ price_id: 'price_plus_monthly_inr', quantity: 1 }], idempotency_key: key('c') }, { token: service }));
    expect(badCountry.info).toEqual({ reason: 'VALIDATION_FAILED', domain: 'obol', metadata: { field: 'country' } });
    expect(badCountry.code).toBe(grpc.status.INVALID_ARGUMENT);

    const missing = await failed(call(payments, 'GetPayment', { payment_id: newId('payment') }, { token: service }));
    expect(missing).toMatchObject({ code: grpc.status.NOT_FOUND, obolCode: 'NOT_FOUND' });
    expect(missing.info?.reason).toBe('NOT_FOUND');

    const noKey = await failed(call(payments, 'CapturePayment', { payment_id: newId('payment') }, { token: service }));
    expect(noKey).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, obolCode: 'IDEMPOTENCY_KEY_REQUIRED' });

    const paid = await paidPayment(customer(), 'CAPTURE_METHOD_MANUAL');
    const notCaptured = await failed(call(payments, 'RefundPayment', { payment_id: paid.id, idempotency_key: key('r') }, { token: service }));
    expect(notCaptured).toMatchObject({ code: grpc.status.FAILED_PRECONDITION, obolCode: 'ILLEGAL_STATE_TRANSITION' });

    const tooBig = await failed(call(payments, 'CapturePayment', { payment_id: paid.id, amount_minor: '9007199254740993', idempotency_key: key('cap') }, { token: service }));
    expect(tooBig).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, obolCode: 'AMOUNT_INVALID' });
    expect(tooBig.info?.metadata).toEqual({ field: 'amount_minor' });

    const captureKey = key('cap');
    await ok(call(payments, 'CapturePayment', { payment_id: paid.id, amount_minor: '1000', idempotency_key: captureKey }, { token: service }));
    const reused = await failed(call(payments, 'CapturePayment', { payment_id: paid.id, amount_minor: '2000', idempotency_key: captureKey }, { token: service }));
    expect(reused).toMatchObject({ code: grpc.status.ALREADY_EXISTS, obolCode: 'IDEMPOTENCY_KEY_REUSED' });

    const card = await failed(call(payments, 'RefundPayment', { payment_id: paid.id, reason: 'card 4242 4242 4242 4242', idempotency_key: key('r') }, { token: service }));
    expect(card).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, obolCode: 'CARD_DATA_REFUSED' });
    expect(card.message).not.toContain('4242');
  });

  it('refuses bytes that are not the request message as INVALID_ARGUMENT, not as a server error', async () => {
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${service}`);
    // 0xf1 0xd0: a field tag whose varint never ends.
    const error = await new Promise<grpc.ServiceError | null>((resolve) =>
      payments.makeUnaryRequest('/obol.v1.PaymentService/GetPayment', (b: Buffer) => b, (b: Buffer) => b, Buffer.from([0xf1, 0xd0]), metadata, { deadline: Date.now() + 10_000 }, (err) => resolve(err)),
    );
    expect(error).not.toBeNull();
    expect(failureOf(error!)).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, obolCode: 'VALIDATION_FAILED' });
    expect(error!.details).toMatch(/not a valid obol\.v1\.GetPaymentRequest message/);
  });
});
