/**
 * The battery every connector must pass, whatever gateway is behind it: the sandbox today, Stripe,
 * Braintree and Razorpay (each against a local simulator of its API) later. A connector's test
 * file calls `connectorConformanceSuite` once per environment it runs in.
 *
 * Only Obol's port is checked here: outcomes, normalized decline reasons and classes, the two
 * exceptions, and idempotency as seen through `retrieve`. Gateway-specific codes and logs belong
 * in the connector's own tests. Every test uses fresh idempotency keys, so the suite can share
 * one gateway (and one database) across tests and across runs.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { money, parseCurrency, type CurrencyCode, type Money } from '../../money/index.js';
import {
  CONNECTOR_OPERATIONS,
  ConnectorUnknownOutcomeError,
  isChallengeSimulator,
  type AuthenticationRequest,
  type AuthorizeOutcome,
  type Connector,
  type DeclineClass,
  type SavePaymentMethodOutcome,
} from './port.js';

/** The connector's test payment methods that play each part. */
export interface ConformanceTokens {
  /** Approved. */
  readonly success: string;
  /** Declined with reason `generic_decline`, class hard. */
  readonly genericDecline: string;
  /** Declined with reason `insufficient_funds`, class hard. */
  readonly insufficientFunds: string;
  /** Declined with reason `processing_error`, class soft. */
  readonly processingError: string;
  /** Asks for a 3-D Secure challenge. */
  readonly threeDSecure: string;
  /** Executed by the gateway, but the response never arrives. */
  readonly timeout: string;
}

/**
 * A saved payment method whose issuer demands authentication even for merchant-initiated
 * charges: `token` is saved with `savePaymentMethod`, then charged off-session for `amount`
 * minor units of the battery's currency (default 1000; gateways that trigger issuer answers by
 * amount, like Braintree's processor-response amounts, name theirs).
 */
export interface OffSessionAuthenticationRequired {
  readonly token: string;
  readonly amount?: number;
}

export interface ConformanceContext {
  readonly connector: Connector;
  readonly tokens: ConformanceTokens;
  /**
   * Where the gateway's own classification differs from the battery's default and the connector
   * follows the gateway (Braintree documents insufficient funds as a soft, retry-later decline),
   * the connector declares it here, and the battery checks the declared class instead.
   */
  readonly declineClasses?: Partial<Record<'insufficientFunds', DeclineClass>>;
  /** null: the gateway has no way to make an issuer demand authentication off-session in test. */
  readonly offSessionAuthenticationRequired: OffSessionAuthenticationRequired | null;
  teardown(): Promise<void>;
}

function currency(code: string): CurrencyCode {
  const parsed = parseCurrency(code);
  if (parsed === undefined) throw new Error(`unknown currency ${code}`);
  return parsed;
}

const JPY = currency('JPY');

/** Asserts the outcome's status and narrows its type, printing the whole outcome on failure. */
export function expectStatus<O extends { readonly status: string }, S extends O['status']>(outcome: O, status: S): Extract<O, { readonly status: S }> {
  expect(outcome.status, `unexpected outcome ${JSON.stringify(outcome)}`).toBe(status);
  return outcome as Extract<O, { readonly status: S }>;
}

/**
 * What a gateway cannot do at all, declared by its connector so the battery checks the rest
 * honestly instead of being weakened (Razorpay: INR only, no partial capture, no void).
 */
export interface ConformanceCapabilities {
  /** The currency the battery charges in (default USD). */
  readonly currency?: string;
  /** A zero-decimal currency the gateway accepts, or null for none (default JPY). */
  readonly zeroDecimalCurrency?: string | null;
  readonly partialCapture?: boolean;
  readonly void?: boolean;
  /** Whether the server side ever sees a 3-D Secure challenge (not where it runs in the gateway's own checkout). */
  readonly threeDSecureChallenge?: boolean;
}

export function connectorConformanceSuite(args: {
  readonly name: string;
  readonly setup: () => Promise<ConformanceContext>;
  readonly capabilities?: ConformanceCapabilities;
}): void {
  const main = currency(args.capabilities?.currency ?? 'USD');
  const usd = (amount: number): Money => money(amount, main);
  const zeroDecimal = args.capabilities?.zeroDecimalCurrency === undefined ? JPY : args.capabilities.zeroDecimalCurrency === null ? null : currency(args.capabilities.zeroDecimalCurrency);
  const partialCapture = args.capabilities?.partialCapture ?? true;
  const canVoid = args.capabilities?.void ?? true;
  const challenges = args.capabilities?.threeDSecureChallenge ?? true;
  describe(`connector conformance: ${args.name}`, () => {
    let ctx: ConformanceContext | undefined;
    const connector = (): Connector => {
      if (!ctx) throw new Error('conformance setup did not run');
      return ctx.connector;
    };
    const tokens = (): ConformanceTokens => {
      if (!ctx) throw new Error('conformance setup did not run');
      return ctx.tokens;
    };
    // A fresh key per call: the suite never depends on what earlier tests or runs left behind.
    const key = (label: string): string => `conf_${label}_${randomUUID()}`;

    const authorize = (props: {
      readonly token: keyof ConformanceTokens;
      readonly captureMethod: 'automatic' | 'manual';
      readonly amount?: Money;
      readonly idempotencyKey?: string;
      readonly authentication?: AuthenticationRequest;
      readonly savePaymentMethod?: boolean;
    }): Promise<AuthorizeOutcome> =>
      connector().authorize({
        idempotencyKey: props.idempotencyKey ?? key('auth'),
        amount: props.amount ?? usd(1000),
        paymentMethod: tokens()[props.token],
        captureMethod: props.captureMethod,
        customerId: 'cus_conformance',
        description: 'Obol connector conformance',
        ...(props.authentication ? { authentication: props.authentication } : {}),
        ...(props.savePaymentMethod ? { savePaymentMethod: true } : {}),
      });
    const save = (paymentMethod: string, idempotencyKey: string = key('save')): Promise<SavePaymentMethodOutcome> =>
      connector().savePaymentMethod({ idempotencyKey, paymentMethod, customerId: 'cus_conformance' });
    const chargeOffSession = (savedPaymentMethod: string, props: { readonly amount?: Money; readonly idempotencyKey?: string } = {}): Promise<AuthorizeOutcome> =>
      connector().chargeOffSession({
        idempotencyKey: props.idempotencyKey ?? key('mit'),
        amount: props.amount ?? usd(1000),
        savedPaymentMethod,
        customerId: 'cus_conformance',
        description: 'Obol connector conformance renewal',
      });

    beforeAll(async () => {
      ctx = await args.setup();
    });
    afterAll(async () => {
      await ctx?.teardown();
    });

    describe('authorization', () => {
      it('captures the full amount at once with automatic capture', async () => {
        const outcome = expectStatus(await authorize({ token: 'success', captureMethod: 'automatic' }), 'succeeded');
        expect(outcome.reference).toEqual(expect.any(String));
        expect(outcome.reference.length).toBeGreaterThan(0);
        expect(outcome.captured).toEqual(usd(1000));
      });

      it('holds the full amount with manual capture, and a full capture takes it', async () => {
        const auth = expectStatus(await authorize({ token: 'success', captureMethod: 'manual' }), 'requires_capture');
        expect(auth.authorized).toEqual(usd(1000));
        const capture = expectStatus(await connector().capture({ idempotencyKey: key('cap'), reference: auth.reference, amount: usd(1000) }), 'succeeded');
        expect(capture.captured).toEqual(usd(1000));
      });

      it.skipIf(!partialCapture)('captures part of an authorization, and only once', async () => {
        const auth = expectStatus(await authorize({ token: 'success', captureMethod: 'manual' }), 'requires_capture');
        const capture = expectStatus(await connector().capture({ idempotencyKey: key('cap'), reference: auth.reference, amount: usd(600) }), 'succeeded');
        expect(capture.captured).toEqual(usd(600));
        expectStatus(await connector().capture({ idempotencyKey: key('cap'), reference: auth.reference, amount: usd(400) }), 'declined');
      });

      it('declines a capture above the authorized amount and changes nothing', async () => {
        const auth = expectStatus(await authorize({ token: 'success', captureMethod: 'manual' }), 'requires_capture');
        expectStatus(await connector().capture({ idempotencyKey: key('cap'), reference: auth.reference, amount: usd(1001) }), 'declined');
        expectStatus(await connector().capture({ idempotencyKey: key('cap'), reference: auth.reference, amount: usd(1000) }), 'succeeded');
      });

      it.skipIf(zeroDecimal === null)('keeps amounts exact in a zero-decimal currency', async () => {
        const zd = zeroDecimal ?? JPY;
        const outcome = expectStatus(await authorize({ token: 'success', captureMethod: 'automatic', amount: money(1234, zd) }), 'succeeded');
        expect(outcome.captured).toEqual(money(1234, zd));
        expectStatus(await connector().refund({ idempotencyKey: key('ref'), reference: outcome.reference, amount: money(234, zd) }), 'succeeded');
      });
    });

    describe('void', () => {
      it.skipIf(!canVoid)('voids an uncaptured authorization, which then cannot be captured', async () => {
        const auth = expectStatus(await authorize({ token: 'success', captureMethod: 'manual' }), 'requires_capture');
        expectStatus(await connector().void({ idempotencyKey: key('void'), reference: auth.reference }), 'succeeded');
        expectStatus(await connector().capture({ idempotencyKey: key('cap'), reference: auth.reference, amount: usd(1000) }), 'declined');
      });

      it('declines to void a captured payment', async () => {
        const auth = expectStatus(await authorize({ token: 'success', captureMethod: 'automatic' }), 'succeeded');
        expectStatus(await connector().void({ idempotencyKey: key('void'), reference: auth.reference }), 'declined');
      });
    });

    describe('refund', () => {
      it('refunds part, then the rest, and declines anything beyond what was captured', async () => {
        const auth = expectStatus(await authorize({ token: 'success', captureMethod: 'automatic' }), 'succeeded');
        const refund = (amount: number) => connector().refund({ idempotencyKey: key('ref'), reference: auth.reference, amount: usd(amount) });
        const first = expectStatus(await refund(300), 'succeeded');
        expect(first.reference.length).toBeGreaterThan(0);
        expectStatus(await refund(701), 'declined');
        const rest = expectStatus(await refund(700), 'succeeded');
        expect(rest.reference).not.toBe(first.reference);
        expectStatus(await refund(1), 'declined');
      });

      it('declines refunding more than was captured in one go', async () => {
        const auth = expectStatus(await authorize({ token: 'success', captureMethod: 'automatic' }), 'succeeded');
        expectStatus(await connector().refund({ idempotencyKey: key('ref'), reference: auth.reference, amount: usd(1001) }), 'declined');
      });

      it.skipIf(!partialCapture)('refunds no more than a partial capture took', async () => {
        const auth = expectStatus(await authorize({ token: 'success', captureMethod: 'manual' }), 'requires_capture');
        expectStatus(await connector().capture({ idempotencyKey: key('cap'), reference: auth.reference, amount: usd(600) }), 'succeeded');
        expectStatus(await connector().refund({ idempotencyKey: key('ref'), reference: auth.reference, amount: usd(601) }), 'declined');
        expectStatus(await connector().refund({ idempotencyKey: key('ref'), reference: auth.reference, amount: usd(600) }), 'succeeded');
      });

      it('declines refunding an authorization that was never captured', async () => {
        const auth = expectStatus(await authorize({ token: 'success', captureMethod: 'manual' }), 'requires_capture');
        expectStatus(await connector().refund({ idempotencyKey: key('ref'), reference: auth.reference, amount: usd(100) }), 'declined');
      });
    });

    describe('declines', () => {
      it.each([
        { token: 'genericDecline', reason: 'generic_decline', declineClass: 'hard' },
        { token: 'insufficientFunds', reason: 'insufficient_funds', declineClass: 'hard' },
        { token: 'processingError', reason: 'processing_error', declineClass: 'soft' },
      ] as const)('returns $token as data: reason $reason, class $declineClass (unless the connector declares otherwise)', async ({ token, reason, declineClass }) => {
        const outcome = expectStatus(await authorize({ token, captureMethod: 'automatic' }), 'declined');
        expect(outcome.decline.reason).toBe(reason);
        const declared = token === 'insufficientFunds' ? ctx?.declineClasses?.insufficientFunds : undefined;
        expect(outcome.decline.declineClass).toBe(declared ?? declineClass);
        expect(outcome.decline.code.length).toBeGreaterThan(0);
        expect(outcome.decline.message.length).toBeGreaterThan(0);
      });

      it('replays a declined authorization as the same decline', async () => {
        const idempotencyKey = key('auth');
        const first = await authorize({ token: 'genericDecline', captureMethod: 'automatic', idempotencyKey });
        expect(await authorize({ token: 'genericDecline', captureMethod: 'automatic', idempotencyKey })).toEqual(first);
      });
    });

    describe('3-D Secure', () => {
      it.skipIf(!challenges)('asks for a challenge, and keeps asking until the cardholder answers', async () => {
        const outcome = expectStatus(await authorize({ token: 'threeDSecure', captureMethod: 'automatic' }), 'requires_action');
        expect(outcome.action.type).toBe('three_d_secure_challenge');
        expect(outcome.action.challengeId.length).toBeGreaterThan(0);
        expect(outcome.action.redirectUrl).toMatch(/^https:\/\//);
        const resumed = expectStatus(await connector().resume({ idempotencyKey: key('resume'), reference: outcome.reference, captureMethod: 'automatic' }), 'requires_action');
        expect(resumed.reference).toBe(outcome.reference);
      });

      it.for([
        { captureMethod: 'automatic', expected: 'succeeded' },
        { captureMethod: 'manual', expected: 'requires_capture' },
      ] as const)('authorizes on resume after an authenticated challenge ($captureMethod capture → $expected)', async ({ captureMethod, expected }, test) => {
        const c = connector();
        if (!isChallengeSimulator(c)) return test.skip('the connector cannot play the cardholder');
        const outcome = expectStatus(await authorize({ token: 'threeDSecure', captureMethod }), 'requires_action');
        await c.completeChallenge({ challengeId: outcome.action.challengeId, outcome: 'authenticated' });
        const resumed = await c.resume({ idempotencyKey: key('resume'), reference: outcome.reference, captureMethod });
        expect(resumed.status).toBe(expected);
        if (resumed.status === 'succeeded') expect(resumed.captured).toEqual(usd(1000));
        if (resumed.status === 'requires_capture') expect(resumed.authorized).toEqual(usd(1000));
      });

      it('declines on resume after a failed challenge, for the customer to act', async (test) => {
        const c = connector();
        if (!isChallengeSimulator(c)) return test.skip('the connector cannot play the cardholder');
        const outcome = expectStatus(await authorize({ token: 'threeDSecure', captureMethod: 'automatic' }), 'requires_action');
        await c.completeChallenge({ challengeId: outcome.action.challengeId, outcome: 'failed' });
        const resumed = expectStatus(await c.resume({ idempotencyKey: key('resume'), reference: outcome.reference, captureMethod: 'automatic' }), 'declined');
        expect(resumed.decline.declineClass).toBe('customer_action');
      });
    });

    describe('strong customer authentication', () => {
      it('never lets a low-value exemption request break an approvable payment', async () => {
        const outcome = expectStatus(await authorize({ token: 'success', captureMethod: 'automatic', amount: usd(1500), authentication: { kind: 'exemption', exemption: 'low_value' } }), 'succeeded');
        expect(outcome.captured).toEqual(usd(1500));
        if (outcome.threeDSecure !== undefined) expect(['exempted', 'frictionless', 'not_attempted']).toContain(outcome.threeDSecure);
      });

      it('authenticates when Obol requires it: frictionless approval or a challenge, never a silent skip', async () => {
        const outcome = await authorize({ token: 'success', captureMethod: 'automatic', authentication: { kind: 'required' } });
        if (outcome.status === 'requires_action') {
          expect(outcome.action.type).toBe('three_d_secure_challenge');
        } else {
          const done = expectStatus(outcome, 'succeeded');
          if (done.threeDSecure !== undefined) expect(['frictionless', 'challenge']).toContain(done.threeDSecure);
        }
      });

      it.skipIf(!challenges)('still challenges a card that requires 3-D Secure when an exemption was asked for', async () => {
        const outcome = await authorize({ token: 'threeDSecure', captureMethod: 'automatic', authentication: { kind: 'exemption', exemption: 'low_value' } });
        if (outcome.status === 'declined') expect(outcome.decline.declineClass).toBe('customer_action');
        else expectStatus(outcome, 'requires_action');
      });
    });

    describe('saved payment methods and off-session charges', () => {
      it('saves a payment method and charges it off-session, without the customer', async () => {
        const saved = expectStatus(await save(tokens().success), 'saved');
        expect(saved.savedPaymentMethod.length).toBeGreaterThan(0);
        const charge = expectStatus(await chargeOffSession(saved.savedPaymentMethod), 'succeeded');
        expect(charge.captured).toEqual(usd(1000));
        // A real charge: it can be refunded, once.
        expectStatus(await connector().refund({ idempotencyKey: key('ref'), reference: charge.reference, amount: usd(1000) }), 'succeeded');
        expectStatus(await connector().refund({ idempotencyKey: key('ref'), reference: charge.reference, amount: usd(1) }), 'declined');
      });

      it('charges one saved method again and again, each renewal its own charge', async () => {
        const saved = expectStatus(await save(tokens().success), 'saved');
        const first = expectStatus(await chargeOffSession(saved.savedPaymentMethod, { amount: usd(700) }), 'succeeded');
        const second = expectStatus(await chargeOffSession(saved.savedPaymentMethod, { amount: usd(700) }), 'succeeded');
        expect(second.reference).not.toBe(first.reference);
      });

      it('replays a save under the same key as the same saved method', async () => {
        const idempotencyKey = key('save');
        const first = expectStatus(await save(tokens().success, idempotencyKey), 'saved');
        expect(await save(tokens().success, idempotencyKey)).toEqual(first);
      });

      it('declines to save a payment method the issuer refuses, as data', async () => {
        const outcome = expectStatus(await save(tokens().genericDecline), 'declined');
        expect(outcome.decline.code.length).toBeGreaterThan(0);
        expect(outcome.decline.declineClass).not.toBe('soft');
      });

      it('saves the payment method of a customer-present payment when asked, for later renewals', async () => {
        const first = expectStatus(await authorize({ token: 'success', captureMethod: 'automatic', savePaymentMethod: true }), 'succeeded');
        expect(first.savedPaymentMethod).toEqual(expect.any(String));
        const renewal = expectStatus(await chargeOffSession(first.savedPaymentMethod ?? ''), 'succeeded');
        expect(renewal.reference).not.toBe(first.reference);
        expect(renewal.captured).toEqual(usd(1000));
      });

      it('leaves savedPaymentMethod out when saving was not asked for', async () => {
        const outcome = expectStatus(await authorize({ token: 'success', captureMethod: 'automatic' }), 'succeeded');
        expect(outcome.savedPaymentMethod).toBeUndefined();
      });

      it('replays an off-session charge under the same key, without a second charge, and retrieve finds it', async () => {
        const saved = expectStatus(await save(tokens().success), 'saved');
        const idempotencyKey = key('mit');
        const first = expectStatus(await chargeOffSession(saved.savedPaymentMethod, { idempotencyKey }), 'succeeded');
        expect(await chargeOffSession(saved.savedPaymentMethod, { idempotencyKey })).toEqual(first);
        expect(await connector().retrieve({ idempotencyKey, operation: 'charge_off_session' })).toEqual({ status: 'found', operation: 'charge_off_session', outcome: first });
        expectStatus(await connector().refund({ idempotencyKey: key('ref'), reference: first.reference, amount: usd(1000) }), 'succeeded');
        expectStatus(await connector().refund({ idempotencyKey: key('ref'), reference: first.reference, amount: usd(1) }), 'declined');
      });

      it('declines an off-session charge the issuer wants authenticated, for the customer to come back', async (test) => {
        const spec = ctx?.offSessionAuthenticationRequired ?? null;
        if (spec === null) return test.skip('the gateway cannot make an issuer demand authentication off-session in test');
        const saved = expectStatus(await save(spec.token), 'saved');
        const outcome = expectStatus(await chargeOffSession(saved.savedPaymentMethod, { amount: usd(spec.amount ?? 1000) }), 'declined');
        expect(outcome.decline.declineClass).toBe('customer_action');
        expect(outcome.decline.reason).toBe('authentication_required');
      });

      it('declines an off-session charge of a saved method the gateway does not know, as data', async () => {
        const outcome = expectStatus(await chargeOffSession('obol_conformance_no_such_saved_method'), 'declined');
        expect(outcome.decline.declineClass).toBe('hard');
      });
    });

    describe('unknown outcomes', () => {
      it('reports a lost response as an unknown outcome that retrieve then resolves', async () => {
        const idempotencyKey = key('auth');
        await expect(authorize({ token: 'timeout', captureMethod: 'automatic', idempotencyKey })).rejects.toBeInstanceOf(ConnectorUnknownOutcomeError);
        const found = await connector().retrieve({ idempotencyKey, operation: 'authorize' });
        if (found.status !== 'found' || found.operation !== 'authorize') throw new Error(`expected the authorization to be found: ${JSON.stringify(found)}`);
        expect(expectStatus(found.outcome, 'succeeded').captured).toEqual(usd(1000));
      });

      it.each(CONNECTOR_OPERATIONS)('retrieve of a %s key the gateway never saw is not_found', async (operation) => {
        expect(await connector().retrieve({ idempotencyKey: key('never'), operation })).toEqual({ status: 'not_found' });
      });
    });

    describe('idempotency', () => {
      it('replays an authorization under the same key, without a second charge', async () => {
        const idempotencyKey = key('auth');
        const first = expectStatus(await authorize({ token: 'success', captureMethod: 'automatic', idempotencyKey }), 'succeeded');
        const again = await authorize({ token: 'success', captureMethod: 'automatic', idempotencyKey });
        expect(again).toEqual(first);
        expect(await connector().retrieve({ idempotencyKey, operation: 'authorize' })).toEqual({ status: 'found', operation: 'authorize', outcome: first });
        // One charge of 1000: refunding 1000 succeeds and a single unit more does not.
        expectStatus(await connector().refund({ idempotencyKey: key('ref'), reference: first.reference, amount: usd(1000) }), 'succeeded');
        expectStatus(await connector().refund({ idempotencyKey: key('ref'), reference: first.reference, amount: usd(1) }), 'declined');
      });

      it('replays a refund under the same key, without refunding twice', async () => {
        const auth = expectStatus(await authorize({ token: 'success', captureMethod: 'automatic' }), 'succeeded');
        const idempotencyKey = key('ref');
        const first = expectStatus(await connector().refund({ idempotencyKey, reference: auth.reference, amount: usd(600) }), 'succeeded');
        expect(await connector().refund({ idempotencyKey, reference: auth.reference, amount: usd(600) })).toEqual(first);
        expect(await connector().retrieve({ idempotencyKey, operation: 'refund' })).toEqual({ status: 'found', operation: 'refund', outcome: first });
        // Had the replay refunded again, nothing would be left for the remaining 400.
        expectStatus(await connector().refund({ idempotencyKey: key('ref'), reference: auth.reference, amount: usd(400) }), 'succeeded');
        expectStatus(await connector().refund({ idempotencyKey: key('ref'), reference: auth.reference, amount: usd(1) }), 'declined');
      });

      it('replays a capture under the same key', async () => {
        const auth = expectStatus(await authorize({ token: 'success', captureMethod: 'manual' }), 'requires_capture');
        const idempotencyKey = key('cap');
        const amount = usd(partialCapture ? 500 : 1000);
        const first = expectStatus(await connector().capture({ idempotencyKey, reference: auth.reference, amount }), 'succeeded');
        expect(await connector().capture({ idempotencyKey, reference: auth.reference, amount })).toEqual(first);
        expect(await connector().retrieve({ idempotencyKey, operation: 'capture' })).toEqual({ status: 'found', operation: 'capture', outcome: first });
      });
    });
  });
}
