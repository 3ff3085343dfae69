/**
 * Strong customer authentication in the payment flow: what an attempt asks the gateway about
 * 3-D Secure (from the pure `decideSca`), what it learned, and the low-value counters in between.
 *
 *   beginAttempt ── planAuthentication ──▶ attempt.authentication (+ reasons)
 *        │                                        │
 *        ▼                                        ▼
 *   connector.authorize({ authentication })  ──▶ outcome.threeDSecure ──▶ attempt.three_ds
 *                                                                      └▶ recordAuthentication
 *                                                                         (low-value counters)
 *
 * An exemption is a request: an issuer that refuses it declines for missing authentication, and
 * the payment steps up to a new attempt that asks for 3-D Secure (authorize.ts), so the customer
 * sees a challenge, not a failure.
 */
import type { Money } from '../money/index.js';
import type { Dialect, Executor, Tx } from '../platform/db/index.js';
import type { AuthenticationRequest, AuthorizeOutcome } from './connectors/port.js';
import { decideSca, isThreeDsOutcome, type ScaDecision, type ThreeDsOutcome } from './sca/decide.js';

const EXEMPTION_PREFIX = 'exemption:';

export function encodeAuthentication(request: AuthenticationRequest): string {
  switch (request.kind) {
    case 'gateway_default':
    case 'required':
      return request.kind;
    case 'exemption':
      return `${EXEMPTION_PREFIX}${request.exemption}`;
    default: {
      const unreachable: never = request;
      throw new Error(`unknown authentication request ${JSON.stringify(unreachable)}`);
    }
  }
}

/** An attempt's stored request; attempts from before SCA (null) asked nothing. */
export function decodeAuthentication(stored: string | null): AuthenticationRequest {
  if (stored === null || stored === 'gateway_default') return { kind: 'gateway_default' };
  if (stored === 'required') return { kind: 'required' };
  const exemption = stored.startsWith(EXEMPTION_PREFIX) ? stored.slice(EXEMPTION_PREFIX.length) : '';
  if (exemption === 'low_value' || exemption === 'fixed_amount_recurring') return { kind: 'exemption', exemption };
  throw new Error(`unknown stored authentication request ${stored}`);
}

export interface PlannedAuthentication {
  readonly request: AuthenticationRequest;
  /** decideSca's reasons, for the attempt's record. */
  readonly explanation: string;
}

function requestFor(decision: ScaDecision): AuthenticationRequest {
  switch (decision.outcome) {
    case 'not_in_scope':
      return { kind: 'gateway_default' };
    case 'required':
      return { kind: 'required' };
    case 'exempt':
      // A customer-present payment cannot be merchant-initiated; decideSca only says so for `initiator: 'merchant'`.
      if (decision.exemption === 'merchant_initiated') throw new Error('a customer-initiated payment was classed merchant-initiated');
      return { kind: 'exemption', exemption: decision.exemption };
    default: {
      const unreachable: never = decision;
      throw new Error(`unknown SCA decision ${JSON.stringify(unreachable)}`);
    }
  }
}

/**
 * Low-value amounts are judged in EUR. Obol keeps no exchange rates yet, so only EUR payments
 * can use the low-value exemption; others are authenticated (the safe side).
 */
function inEur(amount: Money): Money | null {
  return amount.currency === 'EUR' ? amount : null;
}

/** After an issuer declined for missing authentication: the next attempt asks for 3-D Secure. */
export const STEP_UP_AUTHENTICATION: PlannedAuthentication = Object.freeze({
  request: Object.freeze({ kind: 'required' as const }),
  explanation: 'step-up: the issuer declined for missing authentication, so this attempt asks for 3-D Secure',
});

/** What a customer-present attempt asks about 3-D Secure, and why. Reads the counters in the caller's transaction. */
export async function planAuthentication(
  tx: Executor,
  args: {
    readonly customerId: string;
    /** The connector's acquiring country; null when not configured (SCA is then not assessed). */
    readonly acquirerCountry: string | null;
    readonly issuerCountry: string | null;
    readonly amount: Money;
  },
): Promise<PlannedAuthentication> {
  if (args.acquirerCountry === null) return { request: { kind: 'gateway_default' }, explanation: 'no acquirer country configured for this connector: SCA not assessed, the gateway decides' };
  const counters = await tx.selectFrom('sca_low_value_counters').select(['consecutive', 'cumulative_eur']).where('customer_id', '=', args.customerId).executeTakeFirst();
  const decision = decideSca({
    issuerCountry: args.issuerCountry,
    acquirerCountry: args.acquirerCountry,
    initiator: 'customer',
    amount: args.amount,
    amountInEur: inEur(args.amount),
    lowValueCounters: { consecutiveExempted: Number(counters?.consecutive ?? 0), cumulativeEurMinor: Number(counters?.cumulative_eur ?? 0) },
    recurring: { kind: 'none' },
  });
  return { request: requestFor(decision), explanation: decision.reasons.join('; ').slice(0, 2000) };
}

/**
 * What 3-D Secure did, for the attempt's record: the gateway's own report when it gives one;
 * otherwise what must have happened (a failed challenge, an exemption that went through).
 */
export function threeDsOf(args: { readonly asked: AuthenticationRequest; readonly outcome: AuthorizeOutcome; readonly challenged: boolean }): ThreeDsOutcome | null {
  const { asked, outcome, challenged } = args;
  switch (outcome.status) {
    case 'succeeded':
    case 'requires_capture':
      if (outcome.threeDSecure !== undefined) return outcome.threeDSecure;
      if (challenged) return 'challenge';
      return asked.kind === 'exemption' ? 'exempted' : null;
    case 'declined':
      return challenged && outcome.decline.declineClass === 'customer_action' ? 'failed' : null;
    case 'requires_action':
      return 'challenge';
    case 'processing':
      return null;
    default: {
      const unreachable: never = outcome;
      throw new Error(`unknown outcome ${JSON.stringify(unreachable)}`);
    }
  }
}

export function parseThreeDs(stored: string | null): ThreeDsOutcome | null {
  if (stored === null) return null;
  if (!isThreeDsOutcome(stored)) throw new Error(`unknown stored 3-D Secure outcome ${stored}`);
  return stored;
}

/**
 * After an authorized attempt: a strong authentication resets the counters (RTS art. 16 counts
 * since the last one); a low-value exemption adds one payment and its EUR amount.
 */
export async function recordAuthentication(
  tx: Tx,
  args: { readonly dialect: Dialect; readonly customerId: string; readonly asked: AuthenticationRequest; readonly threeDs: ThreeDsOutcome | null; readonly amount: Money; readonly now: number },
): Promise<void> {
  const { customerId, asked, threeDs, amount, now } = args;
  const authenticated = threeDs === 'frictionless' || threeDs === 'challenge';
  const lowValue = !authenticated && asked.kind === 'exemption' && asked.exemption === 'low_value';
  if (!authenticated && !lowValue) return;
  const eur = inEur(amount)?.amount ?? 0;
  const values = { customer_id: customerId, consecutive: authenticated ? 0 : 1, cumulative_eur: authenticated ? 0 : eur, updated_at: now };
  const insert = tx.insertInto('sca_low_value_counters').values(values);
  const update = authenticated
    ? { consecutive: 0, cumulative_eur: 0, updated_at: now }
    : undefined;
  // One statement either way, so two payments of one customer finishing together both count.
  if (args.dialect === 'mysql') {
    await insert
      .onDuplicateKeyUpdate((eb) => update ?? { consecutive: eb('consecutive', '+', 1), cumulative_eur: eb('cumulative_eur', '+', eur), updated_at: now })
      .execute();
  } else {
    await insert
      .onConflict((oc) =>
        oc.column('customer_id').doUpdateSet((eb) => update ?? { consecutive: eb('sca_low_value_counters.consecutive', '+', 1), cumulative_eur: eb('sca_low_value_counters.cumulative_eur', '+', eur), updated_at: now }),
      )
      .execute();
  }
}

