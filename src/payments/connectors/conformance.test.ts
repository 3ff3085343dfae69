import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, describeEachDatabase, type TestDatabase } from '../../../test/support/databases.js';
import { ObolError, systemClock } from '../../kernel/index.js';
import { money, parseCurrency, type Money } from '../../money/index.js';
import { connectorConformanceSuite, expectStatus } from './conformance.js';
import { ConnectorUnavailableError, ConnectorUnknownOutcomeError, type AuthenticationRequest, type AuthorizeOutcome } from './port.js';
import { challengeIdFor, createSandboxConnector, SANDBOX_CONFORMANCE_TOKENS, type SandboxChargeRecord, type SandboxConnector, type SandboxOptions } from './sandbox/index.js';

const USD = parseCurrency('USD') ?? (() => { throw new Error('USD'); })();
const usd = (amount: number): Money => money(amount, USD);
const key = (label: string): string => `sbx_${label}_${randomUUID()}`;

/** mulberry32: a tiny seeded PRNG, so a fault-injection run is the same run every time. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describeEachDatabase('sandbox connector', (dialect) => {
  connectorConformanceSuite({
    name: 'sandbox',
    setup: async () => {
      const t = await createTestDatabase(dialect);
      return {
        connector: createSandboxConnector({ db: t.db, clock: systemClock }),
        tokens: SANDBOX_CONFORMANCE_TOKENS,
        // Saved with the customer present (authenticated at setup), refused off-session.
        offSessionAuthenticationRequired: { token: 'tok_threeDSecure2Required' },
        teardown: () => t.drop(),
      };
    },
  });

  describe('sandbox gateway', () => {
    let t: TestDatabase;
    let sandbox: SandboxConnector;
    beforeAll(async () => {
      t = await createTestDatabase(dialect);
      sandbox = createSandboxConnector({ db: t.db, clock: systemClock });
    });
    afterAll(async () => t?.drop());

    const withOptions = (options: SandboxOptions): SandboxConnector => createSandboxConnector({ db: t.db, clock: systemClock, options });
    const authorize = (paymentMethod: string, props: { idempotencyKey?: string; amount?: Money; captureMethod?: 'automatic' | 'manual'; connector?: SandboxConnector } = {}): Promise<AuthorizeOutcome> =>
      (props.connector ?? sandbox).authorize({
        idempotencyKey: props.idempotencyKey ?? key('auth'),
        amount: props.amount ?? usd(1000),
        paymentMethod,
        captureMethod: props.captureMethod ?? 'automatic',
        customerId: 'cus_sandbox',
        description: 'sandbox test',
      });
    const rows = async (predicate: (r: SandboxChargeRecord) => boolean): Promise<readonly SandboxChargeRecord[]> => (await sandbox.chargeLog()).filter(predicate);

    it.each([
      { token: 'tok_chargeDeclined', code: 'card_declined', reason: 'generic_decline', declineClass: 'hard' },
      { token: 'pm_card_chargeDeclined', code: 'card_declined', reason: 'generic_decline', declineClass: 'hard' },
      { token: 'tok_chargeDeclinedInsufficientFunds', code: 'card_declined', reason: 'insufficient_funds', declineClass: 'hard' },
      { token: 'tok_chargeDeclinedProcessingError', code: 'processing_error', reason: 'processing_error', declineClass: 'soft' },
      { token: 'tok_no_such_card', code: 'invalid_payment_method', reason: 'invalid_payment_method', declineClass: 'hard' },
    ] as const)('declines $token with code $code, reason $reason, class $declineClass, and logs it', async ({ token, code, reason, declineClass }) => {
      const idempotencyKey = key('decl');
      const outcome = expectStatus(await authorize(token, { idempotencyKey }), 'declined');
      expect(outcome.decline).toMatchObject({ code, reason, declineClass });
      const logged = await rows((r) => r.idempotencyKey === idempotencyKey);
      expect(logged).toHaveLength(1);
      expect(logged[0]).toMatchObject({ id: outcome.reference, operation: 'authorize', status: 'failed' });
    });

    it.each(['tok_visa', 'pm_card_visa', 'tok_mastercard', 'pm_card_mastercard'])('approves %s', async (token) => {
      expectStatus(await authorize(token), 'succeeded');
    });

    it('asks for 3-D Secure for pm_card_threeDSecure2Required, with the sandbox challenge URL', async () => {
      const outcome = expectStatus(await authorize('pm_card_threeDSecure2Required'), 'requires_action');
      expect(outcome.action.challengeId).toMatch(/^tds_[0-9A-Z]{26}$/);
      expect(outcome.action.redirectUrl).toBe(`https://sandbox.obol.invalid/3ds/${outcome.action.challengeId}`);
    });

    it('refuses the connection for tok_unavailable and logs nothing', async () => {
      const idempotencyKey = key('unavail');
      await expect(authorize('tok_unavailable', { idempotencyKey })).rejects.toBeInstanceOf(ConnectorUnavailableError);
      expect(await rows((r) => r.idempotencyKey === idempotencyKey)).toHaveLength(0);
      expect(await sandbox.retrieve({ idempotencyKey, operation: 'authorize' })).toEqual({ status: 'not_found' });
    });

    it.each(['tok_timeout', 'tok_sandbox_timeout'])('charges %s once although the response is lost; a retry under the key gets the real outcome', async (token) => {
      const idempotencyKey = key('timeout');
      await expect(authorize(token, { idempotencyKey, captureMethod: 'manual' })).rejects.toBeInstanceOf(ConnectorUnknownOutcomeError);
      const logged = await rows((r) => r.idempotencyKey === idempotencyKey);
      expect(logged).toHaveLength(1);
      expect(logged[0]).toMatchObject({ operation: 'authorize', status: 'requires_capture', amount: 1000, currency: 'USD' });
      const retried = expectStatus(await authorize(token, { idempotencyKey, captureMethod: 'manual' }), 'requires_capture');
      expect(retried.reference).toBe(logged[0]!.id);
      expect(await rows((r) => r.idempotencyKey === idempotencyKey)).toHaveLength(1);
    });

    it('replays an authorization without logging a second charge', async () => {
      const idempotencyKey = key('replay');
      const first = await authorize('tok_visa', { idempotencyKey });
      expect(await authorize('tok_visa', { idempotencyKey })).toEqual(first);
      expect(await rows((r) => r.idempotencyKey === idempotencyKey)).toHaveLength(1);
    });

    it('logs exactly one charge for ten concurrent authorizations under one key', async () => {
      const idempotencyKey = key('concurrent');
      const outcomes = await Promise.all(Array.from({ length: 10 }, () => authorize('tok_visa', { idempotencyKey })));
      const first = expectStatus(outcomes[0]!, 'succeeded');
      for (const outcome of outcomes) expect(outcome).toEqual(first);
      const logged = await rows((r) => r.idempotencyKey === idempotencyKey);
      expect(logged).toHaveLength(1);
      expect(logged[0]!.id).toBe(first.reference);
    });

    it('never refunds more than was captured, even with ten refunds racing under different keys', async () => {
      const auth = expectStatus(await authorize('tok_visa'), 'succeeded');
      const outcomes = await Promise.all(Array.from({ length: 10 }, () => sandbox.refund({ idempotencyKey: key('race'), reference: auth.reference, amount: usd(300) })));
      expect(outcomes.filter((o) => o.status === 'succeeded')).toHaveLength(3);
      for (const o of outcomes.filter((o) => o.status === 'declined')) expect(o).toMatchObject({ decline: { code: 'amount_too_large', reason: 'amount_too_large' } });
      const refunded = (await rows((r) => r.parentId === auth.reference && r.operation === 'refund' && r.status === 'succeeded')).reduce((a, r) => a + r.amount, 0);
      expect(refunded).toBe(900);
    });

    it('logs capture, refund and void as rows of their own, pointing at the authorization that Obol holds as reference', async () => {
      const auth = expectStatus(await authorize('tok_visa', { captureMethod: 'manual' }), 'requires_capture');
      expectStatus(await sandbox.capture({ idempotencyKey: key('cap'), reference: auth.reference, amount: usd(800) }), 'succeeded');
      const refund = expectStatus(await sandbox.refund({ idempotencyKey: key('ref'), reference: auth.reference, amount: usd(300) }), 'succeeded');
      const children = await rows((r) => r.parentId === auth.reference);
      // Rows of the same millisecond have no defined order, so compare them as a set.
      expect(children.map((r) => [r.operation, r.amount, r.status]).sort()).toEqual([
        ['capture', 800, 'succeeded'],
        ['refund', 300, 'succeeded'],
      ]);
      expect(children.find((r) => r.operation === 'refund')!.id).toBe(refund.reference);
      expect((await rows((r) => r.id === auth.reference))[0]).toMatchObject({ operation: 'authorize', parentId: null });

      const held = expectStatus(await authorize('tok_visa', { captureMethod: 'manual' }), 'requires_capture');
      expectStatus(await sandbox.void({ idempotencyKey: key('void'), reference: held.reference }), 'succeeded');
      expect((await rows((r) => r.parentId === held.reference)).map((r) => [r.operation, r.amount])).toEqual([['void', 1000]]);
    });

    it('refuses a reused key with different parameters as idempotency_key_reused, executing nothing', async () => {
      const idempotencyKey = key('reuse');
      const first = expectStatus(await authorize('tok_visa', { idempotencyKey }), 'succeeded');
      const reused = expectStatus(await authorize('tok_visa', { idempotencyKey, amount: usd(2000) }), 'declined');
      expect(reused.reference).toBeNull();
      expect(reused.decline).toMatchObject({ code: 'idempotency_key_reused', reason: 'idempotency_key_reused', declineClass: 'hard' });
      expectStatus(await authorize('tok_visa', { idempotencyKey, captureMethod: 'manual' }), 'declined');
      const asRefund = expectStatus(await sandbox.refund({ idempotencyKey, reference: first.reference, amount: usd(100) }), 'declined');
      expect(asRefund.decline.code).toBe('idempotency_key_reused');
      const logged = await rows((r) => r.idempotencyKey === idempotencyKey || r.parentId === first.reference);
      expect(logged.map((r) => [r.operation, r.amount])).toEqual([['authorize', 1000]]);
      // The key names the authorization, so it says nothing about a refund.
      expect(await sandbox.retrieve({ idempotencyKey, operation: 'refund' })).toEqual({ status: 'not_found' });
    });

    it('does not log a resume that changes nothing, so the same key works once the cardholder answers', async () => {
      const auth = expectStatus(await authorize('tok_threeDSecure2Required', { captureMethod: 'manual' }), 'requires_action');
      const resumeKey = key('resume');
      expectStatus(await sandbox.resume({ idempotencyKey: resumeKey, reference: auth.reference, captureMethod: 'manual' }), 'requires_action');
      expect(await rows((r) => r.idempotencyKey === resumeKey)).toHaveLength(0);
      expect(await sandbox.retrieve({ idempotencyKey: resumeKey, operation: 'resume' })).toEqual({ status: 'not_found' });

      await sandbox.completeChallenge({ challengeId: auth.action.challengeId, outcome: 'authenticated' });
      const resumed = expectStatus(await sandbox.resume({ idempotencyKey: resumeKey, reference: auth.reference, captureMethod: 'manual' }), 'requires_capture');
      expect(resumed.reference).toBe(auth.reference);
      expect(await sandbox.resume({ idempotencyKey: resumeKey, reference: auth.reference, captureMethod: 'manual' })).toEqual(resumed);
      expect(await sandbox.retrieve({ idempotencyKey: resumeKey, operation: 'resume' })).toEqual({ status: 'found', operation: 'resume', outcome: resumed });
      expect((await rows((r) => r.parentId === auth.reference)).map((r) => [r.operation, r.status]).sort()).toEqual([
        ['challenge', 'authenticated'],
        ['resume', 'requires_capture'],
      ]);
      // The authorization's own key still answers what the first request was told.
      expect((await sandbox.retrieve({ idempotencyKey: (await rows((r) => r.id === auth.reference))[0]!.idempotencyKey, operation: 'authorize' })).status).toBe('found');
      expectStatus(await sandbox.capture({ idempotencyKey: key('cap'), reference: auth.reference, amount: usd(1000) }), 'succeeded');
    });

    it('declines the 3-D Secure failure as authentication_failed / authentication_required', async () => {
      const auth = expectStatus(await authorize('tok_threeDSecure2Required'), 'requires_action');
      await sandbox.completeChallenge({ challengeId: auth.action.challengeId, outcome: 'failed' });
      const resumed = expectStatus(await sandbox.resume({ idempotencyKey: key('resume'), reference: auth.reference, captureMethod: 'automatic' }), 'declined');
      expect(resumed.decline).toMatchObject({ code: 'authentication_failed', reason: 'authentication_required', declineClass: 'customer_action' });
      expect(resumed.reference).toBe(auth.reference);
      // Resuming a settled charge again reports the same decline and logs nothing more.
      expect((await sandbox.resume({ idempotencyKey: key('resume'), reference: auth.reference, captureMethod: 'automatic' })).status).toBe('declined');
      expect(await rows((r) => r.parentId === auth.reference && r.operation === 'resume')).toHaveLength(1);
    });

    it('treats a repeated challenge answer as one answer and refuses a contradicting one', async () => {
      const auth = expectStatus(await authorize('tok_threeDSecure2Required'), 'requires_action');
      const challengeId = auth.action.challengeId;
      await sandbox.completeChallenge({ challengeId, outcome: 'authenticated' });
      await sandbox.completeChallenge({ challengeId, outcome: 'authenticated' });
      await expect(sandbox.completeChallenge({ challengeId, outcome: 'failed' })).rejects.toMatchObject({ code: 'NO_ACTION_REQUIRED' });
      expect(await rows((r) => r.parentId === auth.reference && r.operation === 'challenge')).toHaveLength(1);
    });

    it('refuses challenge answers for unknown challenges and for charges that never asked for one', async () => {
      await expect(sandbox.completeChallenge({ challengeId: 'tds_nope', outcome: 'authenticated' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(sandbox.completeChallenge({ challengeId: 'tds_01JAAAAAAAAAAAAAAAAAAAAAAA', outcome: 'authenticated' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
      const plain = expectStatus(await authorize('tok_visa'), 'succeeded');
      await expect(sandbox.completeChallenge({ challengeId: challengeIdFor(plain.reference), outcome: 'authenticated' })).rejects.toBeInstanceOf(ObolError);
    });

    it('refuses a payment method that looks like a card number, and stores nothing of it', async () => {
      const idempotencyKey = key('pan');
      const outcome = expectStatus(await authorize('4242 4242 4242 4242', { idempotencyKey }), 'declined');
      expect(outcome.decline.code).toBe('invalid_request');
      expect(outcome.decline.message).not.toContain('4242');
      expect(await rows((r) => r.idempotencyKey === idempotencyKey || r.paymentMethod.includes('4242'))).toHaveLength(0);
    });

    it('refuses a zero amount without logging it', async () => {
      const idempotencyKey = key('zero');
      expect(expectStatus(await authorize('tok_visa', { idempotencyKey, amount: usd(0) }), 'declined').decline.code).toBe('invalid_request');
      expect(await rows((r) => r.idempotencyKey === idempotencyKey)).toHaveLength(0);
    });

    it('declines operations on a reference the gateway does not know', async () => {
      const outcome = expectStatus(await sandbox.capture({ idempotencyKey: key('cap'), reference: 'sbch_unknown', amount: usd(100) }), 'declined');
      expect(outcome.decline.code).toBe('resource_missing');
    });

    describe('strong customer authentication and saved payment methods', () => {
      const withAuth = (paymentMethod: string, authentication: AuthenticationRequest, idempotencyKey = key('sca')) =>
        sandbox.authorize({ idempotencyKey, amount: usd(1000), paymentMethod, captureMethod: 'automatic', customerId: 'cus_sandbox', description: 'sandbox test', authentication });

      it.each([
        { authentication: { kind: 'gateway_default' }, threeDSecure: 'not_attempted' },
        { authentication: { kind: 'required' }, threeDSecure: 'frictionless' },
        { authentication: { kind: 'exemption', exemption: 'low_value' }, threeDSecure: 'exempted' },
        { authentication: { kind: 'exemption', exemption: 'fixed_amount_recurring' }, threeDSecure: 'exempted' },
      ] as const)('reports 3-D Secure as $threeDSecure for tok_visa when asked $authentication.kind', async ({ authentication, threeDSecure }) => {
        expect(expectStatus(await withAuth('tok_visa', authentication), 'succeeded').threeDSecure).toBe(threeDSecure);
      });

      it('refuses an exemption for tok_visaExemptionRefused as the SCA soft decline, and approves it authenticated', async () => {
        const refused = expectStatus(await withAuth('tok_visaExemptionRefused', { kind: 'exemption', exemption: 'low_value' }), 'declined');
        expect(refused.decline).toMatchObject({ code: 'authentication_required', reason: 'authentication_required', declineClass: 'customer_action' });
        expect(expectStatus(await withAuth('tok_visaExemptionRefused', { kind: 'required' }), 'succeeded').threeDSecure).toBe('frictionless');
        expectStatus(await withAuth('tok_visaExemptionRefused', { kind: 'gateway_default' }), 'succeeded');
      });

      it('treats the same key with another 3-D Secure request as a different request', async () => {
        const idempotencyKey = key('sca');
        expectStatus(await withAuth('tok_visa', { kind: 'required' }, idempotencyKey), 'succeeded');
        const reused = expectStatus(await withAuth('tok_visa', { kind: 'gateway_default' }, idempotencyKey), 'declined');
        expect(reused.decline.code).toBe('idempotency_key_reused');
      });

      it('logs a save as a row of its own, an off-session charge as charge_off_session, and refunds it like any charge', async () => {
        const saveKey = key('save');
        const saved = expectStatus(await sandbox.savePaymentMethod({ idempotencyKey: saveKey, paymentMethod: 'tok_visa', customerId: 'cus_sandbox' }), 'saved');
        expect(saved.savedPaymentMethod).toMatch(/^sbpm_[0-9A-Z]{26}$/);
        const mitKey = key('mit');
        const charge = expectStatus(await sandbox.chargeOffSession({ idempotencyKey: mitKey, amount: usd(700), savedPaymentMethod: saved.savedPaymentMethod, customerId: 'cus_sandbox', description: 'renewal' }), 'succeeded');
        expect(charge.threeDSecure).toBeUndefined();
        expect(await rows((r) => r.idempotencyKey === saveKey)).toEqual([expect.objectContaining({ id: saved.savedPaymentMethod, operation: 'save', status: 'saved', paymentMethod: 'tok_visa' })]);
        expect(await rows((r) => r.idempotencyKey === mitKey)).toEqual([expect.objectContaining({ id: charge.reference, operation: 'charge_off_session', status: 'succeeded', paymentMethod: saved.savedPaymentMethod, amount: 700 })]);
        expectStatus(await sandbox.refund({ idempotencyKey: key('ref'), reference: charge.reference, amount: usd(700) }), 'succeeded');
      });

      it('saves the method of a challenged payment only once the challenge succeeds', async () => {
        const auth = expectStatus(
          await sandbox.authorize({ idempotencyKey: key('auth'), amount: usd(1000), paymentMethod: 'tok_threeDSecure2Required', captureMethod: 'automatic', customerId: 'cus_sandbox', description: 'sandbox test', savePaymentMethod: true }),
          'requires_action',
        );
        const savedId = `sbpm_${auth.reference.slice('sbch_'.length)}`;
        const early = expectStatus(await sandbox.chargeOffSession({ idempotencyKey: key('mit'), amount: usd(100), savedPaymentMethod: savedId, customerId: 'cus_sandbox', description: 'too early' }), 'declined');
        expect(early.decline.code).toBe('invalid_payment_method');
        await sandbox.completeChallenge({ challengeId: auth.action.challengeId, outcome: 'authenticated' });
        const resumed = expectStatus(await sandbox.resume({ idempotencyKey: key('resume'), reference: auth.reference, captureMethod: 'automatic' }), 'succeeded');
        expect(resumed).toMatchObject({ threeDSecure: 'challenge', savedPaymentMethod: savedId });
        // The issuer of this card insists on authentication, so merchant-initiated charges are refused.
        const mit = expectStatus(await sandbox.chargeOffSession({ idempotencyKey: key('mit'), amount: usd(100), savedPaymentMethod: savedId, customerId: 'cus_sandbox', description: 'renewal' }), 'declined');
        expect(mit.decline).toMatchObject({ reason: 'authentication_required', declineClass: 'customer_action' });
      });
    });

    describe('fault injection', () => {
      it('declines a seeded share of new authorizations with a soft processing_error, and replays them as such', async () => {
        const faulty = withOptions({ failureRate: 0.3, random: seeded(7) });
        const expected = (() => {
          const r = seeded(7);
          return Array.from({ length: 40 }, () => r() < 0.3);
        })();
        const keys = Array.from({ length: 40 }, () => key('fault'));
        const outcomes: AuthorizeOutcome[] = [];
        for (const idempotencyKey of keys) outcomes.push(await authorize('tok_visa', { idempotencyKey, connector: faulty }));
        expect(outcomes.map((o) => o.status === 'declined')).toEqual(expected);
        expect(expected.filter(Boolean).length).toBeGreaterThan(0);
        expect(expected.filter((x) => !x).length).toBeGreaterThan(0);
        for (const o of outcomes) if (o.status === 'declined') expect(o.decline).toMatchObject({ code: 'processing_error', reason: 'processing_error', declineClass: 'soft' });
        // A replay is answered from the log and draws nothing: the same key gives the same answer.
        const firstInjected = expected.indexOf(true);
        expect(await authorize('tok_visa', { idempotencyKey: keys[firstInjected]!, connector: faulty })).toEqual(outcomes[firstInjected]);
        expect(await rows((r) => keys.includes(r.idempotencyKey))).toHaveLength(40);
      });

      it('loses responses after logging at timeoutRate, and retrieve reports what happened', async () => {
        const lossy = withOptions({ timeoutRate: 1, random: () => 0 });
        const idempotencyKey = key('lost');
        await expect(authorize('tok_visa', { idempotencyKey, connector: lossy })).rejects.toBeInstanceOf(ConnectorUnknownOutcomeError);
        const found = await sandbox.retrieve({ idempotencyKey, operation: 'authorize' });
        if (found.status !== 'found' || found.operation !== 'authorize') throw new Error(JSON.stringify(found));
        const auth = expectStatus(found.outcome, 'succeeded');

        const refundKey = key('lost_ref');
        await expect(lossy.refund({ idempotencyKey: refundKey, reference: auth.reference, amount: usd(250) })).rejects.toBeInstanceOf(ConnectorUnknownOutcomeError);
        const refund = await sandbox.retrieve({ idempotencyKey: refundKey, operation: 'refund' });
        expect(refund).toMatchObject({ status: 'found', operation: 'refund', outcome: { status: 'succeeded' } });
        expect(await rows((r) => r.idempotencyKey === refundKey)).toHaveLength(1);
      });

      it('takes at least latencyMs per call', async () => {
        const slow = withOptions({ latencyMs: 40 });
        const started = performance.now();
        await authorize('tok_visa', { connector: slow });
        expect(performance.now() - started).toBeGreaterThanOrEqual(35);
      });

      it.each([{ failureRate: 1.5 }, { timeoutRate: -0.1 }, { failureRate: Number.NaN }, { latencyMs: -1 }])('refuses the fault options %o', (options) => {
        expect(() => withOptions(options)).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }));
      });
    });
  });
});
