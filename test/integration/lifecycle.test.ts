/**
 * Time and limits: sessions expire and give their coupon back, coupons honour one redemption per
 * customer and their maximum, captures cannot exceed the authorization, and the learner gets a
 * limited number of attempts.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachDatabase } from '../support/databases.js';
import { errorCode, key, startHarness, type Harness } from '../support/harness.js';
import { CAPTURE, CONFIRM, CREATE } from './fragments.js';

describeEachDatabase('session expiry, coupons and limits', (dialect) => {
  let h: Harness;
  let n = 0;
  beforeAll(async () => {
    h = await startHarness(dialect, { PAYMENT_MAX_FAILED_ATTEMPTS: '3' });
  });
  afterAll(async () => h?.close());
  const customer = () => `cus_life_${dialect}_${++n}`;

  async function create(input: Record<string, unknown>) {
    return h.gql(CREATE, { input: { country: 'US', items: [{ priceId: 'price_ml_certificate_usd', quantity: 1 }], idempotencyKey: key('c'), ...input } });
  }
  const confirm = (sessionId: string, token: string | null) => h.gql(CONFIRM, { input: { sessionId, paymentMethodToken: token, idempotencyKey: key('f') } });
  const sessionStatus = async (id: string) => (await h.gql(`query($id: ID!) { checkoutSession(id: $id) { status } }`, { id })).data!.checkoutSession.status;
  const redemptions = async (code: string) =>
    Number((await h.app.db.kysely.selectFrom('coupons').select('times_redeemed').where('code', '=', code).executeTakeFirstOrThrow()).times_redeemed);

  it('expires an open session after its TTL, cancels its payment and gives the coupon back', async () => {
    const customerId = customer();
    const s = (await create({ customerId, couponCode: 'WELCOME10' })).data!.createCheckoutSession.checkoutSession;
    const before = await redemptions('WELCOME10');
    const declined = await confirm(s.id, 'tok_chargeDeclined');
    const paymentId = declined.data!.confirmCheckoutSession.payment.id;
    expect(await redemptions('WELCOME10')).toBe(before + 1); // reserved at confirmation
    h.clock.advance(h.app.config.checkoutSessionTtlSeconds * 1000);
    await h.runWorker();
    expect(await sessionStatus(s.id)).toBe('expired');
    expect((await h.gql(`query($id: ID!) { payment(id: $id) { status } }`, { id: paymentId })).data!.payment.status).toBe('canceled');
    expect(await redemptions('WELCOME10')).toBe(before);
    // The customer never used the coupon, so it is theirs to use again.
    expect((await create({ customerId, couponCode: 'WELCOME10' })).errors).toBeUndefined();
    const types = await h.app.db.kysely.selectFrom('outbox').select('type').where('aggregate_id', 'in', [s.id, paymentId]).orderBy('seq').execute();
    expect(types.map((t) => t.type)).toEqual(['checkout.session_created', 'payment.failed', 'payment.canceled', 'checkout.expired']);
  });

  it('expires a session abandoned at 3-D Secure: the payment is canceled and the coupon returns', async () => {
    const customerId = customer();
    const s = (await create({ customerId, couponCode: 'WELCOME10' })).data!.createCheckoutSession.checkoutSession;
    const payment = (await confirm(s.id, 'tok_threeDSecure2Required')).data!.confirmCheckoutSession.payment;
    const before = await redemptions('WELCOME10');
    h.clock.advance(h.app.config.checkoutSessionTtlSeconds * 1000);
    await h.runWorker();
    expect(await sessionStatus(s.id)).toBe('expired');
    expect((await h.gql(`query($id: ID!) { payment(id: $id) { status } }`, { id: payment.id })).data!.payment.status).toBe('canceled');
    expect(await redemptions('WELCOME10')).toBe(before - 1);
    const late = await h.gql(`mutation($i: ThreeDSecureChallengeInput!) { completeThreeDSecureChallenge(input: $i) { payment { status } } }`, { i: { paymentId: payment.id, idempotencyKey: key('late') } });
    expect(errorCode(late)).toBe('NO_ACTION_REQUIRED');
  });

  it('never expires a session whose gateway call has an unknown outcome: the money may have moved', async () => {
    const s = (await create({ customerId: customer() })).data!.createCheckoutSession.checkoutSession;
    await confirm(s.id, 'tok_timeout');
    h.clock.advance(h.app.config.checkoutSessionTtlSeconds * 1000);
    await h.runWorker(); // expiry runs first and leaves it; the reconciler then finds the charge
    expect(await sessionStatus(s.id)).toBe('complete');
  });

  it('lets each customer redeem a coupon once', async () => {
    const customerId = customer();
    const s = (await create({ customerId, couponCode: 'WELCOME10' })).data!.createCheckoutSession.checkoutSession;
    await confirm(s.id, 'tok_visa');
    const again = await create({ customerId, couponCode: 'WELCOME10' });
    expect(errorCode(again)).toBe('COUPON_ALREADY_REDEEMED');
  });

  it('refuses a coupon that reached its maximum redemptions', async () => {
    await h.app.db.kysely.insertInto('coupons').values({ id: 'coupon_once', code: 'ONCE', kind: 'percent', percent_off_bps: 1000, amount_off: null, currency: null, expires_at: null, max_redemptions: 1, times_redeemed: 0, active: 1, created_at: Date.now(), duration: 'once', duration_in_months: null }).execute();
    const a = (await create({ customerId: customer(), couponCode: 'ONCE' })).data!.createCheckoutSession.checkoutSession;
    const b = (await create({ customerId: customer(), couponCode: 'ONCE' })).data!.createCheckoutSession.checkoutSession;
    expect((await confirm(a.id, 'tok_visa')).errors).toBeUndefined();
    const before = await h.snapshot();
    expect(errorCode(await confirm(b.id, 'tok_visa'))).toBe('COUPON_EXHAUSTED');
    expect(await h.snapshot()).toEqual(before);
    expect(errorCode(await create({ customerId: customer(), couponCode: 'ONCE' }))).toBe('COUPON_EXHAUSTED');
  });

  it('refuses an amount coupon in another currency', async () => {
    const res = await create({ customerId: customer(), country: 'DE', items: [{ priceId: 'price_plus_monthly_eur', quantity: 1 }], couponCode: 'SAVE5USD' });
    expect(errorCode(res)).toBe('COUPON_CURRENCY_MISMATCH');
  });

  it('refuses to capture more than was authorized', async () => {
    const s = (await create({ customerId: customer(), captureMethod: 'manual' })).data!.createCheckoutSession.checkoutSession;
    const payment = (await confirm(s.id, 'tok_visa')).data!.confirmCheckoutSession.payment;
    const before = await h.snapshot();
    const res = await h.gql(CAPTURE, { input: { paymentId: payment.id, amount: s.total.amount + 1, idempotencyKey: key('cap') } });
    expect(errorCode(res)).toBe('CAPTURE_EXCEEDS_AUTHORIZED');
    expect(await h.snapshot()).toEqual(before);
  });

  it('fails the payment and closes the session after the allowed number of declines', async () => {
    const s = (await create({ customerId: customer() })).data!.createCheckoutSession.checkoutSession;
    await confirm(s.id, 'tok_chargeDeclined');
    await confirm(s.id, 'tok_chargeDeclinedInsufficientFunds');
    const third = await confirm(s.id, 'tok_chargeDeclined');
    expect(third.data!.confirmCheckoutSession.payment.status).toBe('failed');
    expect(third.data!.confirmCheckoutSession.checkoutSession.status).toBe('expired');
    expect(errorCode(await confirm(s.id, 'tok_visa'))).toBe('CHECKOUT_SESSION_EXPIRED');
  });

  it('treats an unreachable gateway as a retryable failure that charges nothing', async () => {
    const s = (await create({ customerId: customer() })).data!.createCheckoutSession.checkoutSession;
    const res = await confirm(s.id, 'tok_unavailable');
    const payment = res.data!.confirmCheckoutSession.payment;
    expect(payment.status).toBe('requires_payment_method');
    expect(payment.lastError).toMatchObject({ code: 'gateway_unavailable', declineClass: 'soft' });
    expect(payment.failedAttempts).toBe(0);
    expect((await confirm(s.id, 'tok_visa')).data!.confirmCheckoutSession.payment.status).toBe('succeeded');
  });
});
