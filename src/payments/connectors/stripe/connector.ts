/**
 * The Stripe connector: Obol's port on one side, Stripe's PaymentIntents API (through the official
 * `stripe` SDK) on the other. One client call per flow; all mapping lives in transformers.ts.
 *
 * Retry policy: the SDK's own retries are off (`maxNetworkRetries: 0`) and the connector does not
 * retry either: a call either returns the gateway's answer or throws one of the port's two
 * errors, and Obol resolves an unknown outcome with `retrieve` (or by repeating the call under
 * the same key, which Stripe replays). One SDK behaviour remains: it retries a request once when
 * the connection was reset (ECONNRESET/EPIPE), even with retries off. That retry is harmless here
 * because every mutating call carries Obol's Idempotency-Key, so Stripe replays rather than
 * re-executes; it can turn an unknown outcome into a known one, never hide a second charge.
 *
 * Saved payment methods: `savePaymentMethod` confirms a SetupIntent (`usage: off_session`) for a
 * Stripe Customer, and `authorize` with `savePaymentMethod` sets `setup_future_usage: off_session`;
 * either way Stripe attaches the PaymentMethod to that Customer, and Obol's `savedPaymentMethod` is
 * `cus_…/pm_…` (see transformers.ts), which `chargeOffSession` sends back as `customer` and
 * `payment_method` on an `off_session` PaymentIntent. The Customer is created for each save, under
 * an Idempotency-Key derived from the call's own key, and tagged with Obol's customer id: a replay
 * of the call therefore finds the same Customer and sends the same SetupIntent/PaymentIntent
 * parameters. Looking an existing Customer up instead (Search API) would be eventually consistent,
 * and a replay that found a different Customer than the first attempt would send different
 * parameters under the same key, which Stripe refuses. One Stripe Customer per saved card is the
 * price; nothing in Obol depends on Stripe's Customer grouping.
 *
 * Stripe has no lookup by idempotency key, so each flow also writes Obol's key into metadata and
 * `retrieve` finds it with the Search API (see `lookup*` below). Stripe's search index is
 * eventually consistent (documented lag: under a minute, longer during outages), so a `not_found`
 * right after an unknown outcome is only trustworthy once that lag has passed; the caller should
 * retrieve after a delay before treating a call as never having happened.
 */
import { createHash } from 'node:crypto';
import Stripe from 'stripe';
import {
  ConnectorUnavailableError,
  ConnectorUnknownOutcomeError,
  type AuthorizeOutcome,
  type CaptureOutcome,
  type Connector,
  type Decline,
  type RefundOutcome,
  type RetrieveOutcome,
  type SavePaymentMethodOutcome,
  type VoidOutcome,
} from '../port.js';
import {
  authorizeOutcomeOf,
  captureOutcomeOf,
  INTENT_OPERATIONS,
  intentOperationOf,
  METADATA,
  offSessionOutcomeOf,
  parseSavedPaymentMethod,
  refundOutcomeOf,
  saveOutcomeOf,
  searchQuery,
  stripeAuthenticationOf,
  StripeUnreadableResponse,
  toDecline,
  toStripeAmount,
  voidOutcomeOf,
} from './transformers.js';

export const STRIPE_CONNECTOR_NAME = 'stripe';

/** Where Stripe sends the customer back after a 3-D Secure redirect when none is configured. */
export const DEFAULT_STRIPE_RETURN_URL = 'https://obol.invalid/payments/3ds/return';

export interface StripeConnectorArgs {
  readonly secretKey: string;
  /** Defaults to Stripe's own API host; tests point it at the local simulator. */
  readonly host?: string;
  readonly port?: number;
  readonly protocol?: 'http' | 'https';
  /** Per-request timeout; a timed-out request has an unknown outcome. Default 20 s (the SDK's is 80 s). */
  readonly timeoutMs?: number;
  /** The return_url sent on confirmation, so a 3-D Secure challenge comes back as a redirect URL. */
  readonly returnUrl?: string;
}

/**
 * A key reused with different parameters (Stripe's `idempotency_error`): a bug in Obol, not a
 * gateway outcome and not a decline. Nothing was executed under the second request.
 */
export class StripeIdempotencyKeyReusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StripeIdempotencyKeyReusedError';
  }
}

/** Connection failures that happen before a single byte of the request left this machine. */
const NOTHING_SENT_CODES: ReadonlySet<string> = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

function causeCode(err: Stripe.errors.StripeError): string | undefined {
  const detail: unknown = err.detail;
  if (typeof detail === 'object' && detail !== null && 'code' in detail && typeof detail.code === 'string') return detail.code;
  return undefined;
}

type Failure = { readonly kind: 'declined'; readonly decline: Decline; readonly reference: string | null };

/**
 * Sorts a failed SDK call: the gateway's refusal is returned as a decline (data); anything that
 * leaves Obol without an answer is thrown as one of the port's errors.
 */
function failure(err: unknown): Failure {
  const E = Stripe.errors;
  if (err instanceof E.StripeCardError) {
    return { kind: 'declined', decline: toDecline(err), reference: err.payment_intent?.id ?? null };
  }
  if (err instanceof E.StripeIdempotencyError) {
    // 409: another request under this key is still executing, so its outcome is not known yet.
    if (err.statusCode === 409) throw unknown(err);
    throw new StripeIdempotencyKeyReusedError(err.message);
  }
  if (err instanceof E.StripeInvalidRequestError) {
    return { kind: 'declined', decline: toDecline({ ...err, type: 'invalid_request_error', message: err.message }), reference: err.payment_intent?.id ?? null };
  }
  // Stripe refuses these before executing anything: safe to fail over.
  if (err instanceof E.StripeAuthenticationError || err instanceof E.StripePermissionError || err instanceof E.StripeRateLimitError) {
    throw unavailable(err);
  }
  if (err instanceof E.StripeConnectionError) {
    const code = causeCode(err);
    if (code !== undefined && NOTHING_SENT_CODES.has(code)) throw unavailable(err);
  }
  // StripeAPIError (5xx, unreadable JSON), connection drops, timeouts, unreadable objects.
  throw unknown(err);
}

function unknown(err: unknown): ConnectorUnknownOutcomeError {
  const reason = err instanceof Error ? err.message : String(err);
  const out = new ConnectorUnknownOutcomeError(STRIPE_CONNECTOR_NAME, `stripe: outcome unknown (${reason})`);
  out.cause = err;
  return out;
}

function unavailable(err: unknown): ConnectorUnavailableError {
  const reason = err instanceof Error ? err.message : String(err);
  const out = new ConnectorUnavailableError(STRIPE_CONNECTOR_NAME, `stripe: unavailable (${reason})`);
  out.cause = err;
  return out;
}

/** Runs a call whose unreadable answers are unknown outcomes; Stripe errors go through `onFailure`. */
async function run<T>(send: () => Promise<T>, onFailure: (f: Failure) => T): Promise<T> {
  let result: T;
  try {
    result = await send();
  } catch (err) {
    if (err instanceof StripeUnreadableResponse || err instanceof ConnectorUnknownOutcomeError || err instanceof ConnectorUnavailableError) throw err instanceof StripeUnreadableResponse ? unknown(err) : err;
    return onFailure(failure(err));
  }
  return result;
}

/** A metadata key name (≤ 40 chars) that tags a PaymentIntent with one refund's Obol key. */
export function refundTagName(idempotencyKey: string): string {
  return `obol_rf_${createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 32)}`;
}

export function createStripeConnector(args: StripeConnectorArgs): Connector {
  const stripe = new Stripe(args.secretKey, {
    ...(args.host !== undefined ? { host: args.host } : {}),
    ...(args.port !== undefined ? { port: args.port } : {}),
    ...(args.protocol !== undefined ? { protocol: args.protocol } : {}),
    maxNetworkRetries: 0,
    timeout: args.timeoutMs ?? 20_000,
    telemetry: false,
  });
  const returnUrl = args.returnUrl ?? DEFAULT_STRIPE_RETURN_URL;

  const mustMap = (pi: Stripe.PaymentIntent, map: (pi: Stripe.PaymentIntent) => AuthorizeOutcome | null = authorizeOutcomeOf): AuthorizeOutcome => {
    const outcome = map(pi);
    if (outcome === null) throw new StripeUnreadableResponse(`PaymentIntent ${pi.id} left in ${pi.status}`);
    return outcome;
  };

  const searchOne = async (name: string, value: string, expand: readonly string[] = []): Promise<Stripe.PaymentIntent | undefined> => {
    const found = await stripe.paymentIntents.search({ query: searchQuery(name, value), limit: 2, ...(expand.length > 0 ? { expand: [...expand] } : {}) });
    if (found.data.length > 1) throw new StripeUnreadableResponse(`several PaymentIntents carry ${name}=${value}`);
    return found.data[0];
  };

  /** Writes a lookup tag before an operation whose own endpoint takes no metadata (cancel) or tags another object (refund). */
  const tag = (reference: string, idempotencyKey: string, name: string): Promise<Stripe.PaymentIntent> =>
    stripe.paymentIntents.update(reference, { metadata: { [name]: idempotencyKey } }, { idempotencyKey: `${idempotencyKey}:tag` });

  /** A Stripe Customer to attach a saved card to, one per saving call (see the module comment). */
  const customerFor = (obolCustomerId: string, idempotencyKey: string): Promise<Stripe.Customer> =>
    stripe.customers.create({ metadata: { [METADATA.customer]: obolCustomerId } }, { idempotencyKey: `${idempotencyKey}:customer` });

  const connector: Connector = {
    name: STRIPE_CONNECTOR_NAME,

    authorize: async (a) => {
      const amount = toStripeAmount(a.amount);
      if (!amount.ok) return { status: 'declined', reference: null, decline: amount.decline };
      const authentication = stripeAuthenticationOf(a.authentication);
      return run(
        async () => {
          // Obol's customer id is not a Stripe Customer: it stays in metadata, and a Customer is made only to save the card.
          const customer = a.savePaymentMethod === true ? (await customerFor(a.customerId, a.idempotencyKey)).id : null;
          return mustMap(
            await stripe.paymentIntents.create(
              {
                amount: amount.amount,
                currency: amount.currency,
                payment_method: a.paymentMethod,
                confirm: true,
                capture_method: a.captureMethod,
                description: a.description,
                return_url: returnUrl,
                payment_method_options: { card: { request_three_d_secure: authentication.requestThreeDSecure } },
                ...(customer !== null ? { customer, setup_future_usage: 'off_session' as const } : {}),
                // The charge carries the 3-D Secure result.
                expand: ['latest_charge'],
                metadata: {
                  [METADATA.authorize]: a.idempotencyKey,
                  [METADATA.operation]: INTENT_OPERATIONS.authorize,
                  [METADATA.customer]: a.customerId,
                  ...(authentication.exemption !== null ? { [METADATA.exemption]: authentication.exemption } : {}),
                },
              },
              { idempotencyKey: a.idempotencyKey },
            ),
          );
        },
        (f): AuthorizeOutcome => ({ status: 'declined', reference: f.reference, decline: f.decline }),
      );
    },

    // After the challenge Stripe moves the PaymentIntent on by itself; Obol only confirms one that waits for it.
    // `captureMethod` is not sent: Stripe fixed it when the PaymentIntent was created.
    resume: (a) =>
      run(
        async () => {
          const pi = await stripe.paymentIntents.retrieve(a.reference, { expand: ['latest_charge'] });
          const outcome = authorizeOutcomeOf(pi);
          if (outcome !== null) return outcome;
          if (pi.status !== 'requires_confirmation') throw new StripeUnreadableResponse(`PaymentIntent ${pi.id} in ${pi.status} without an error`);
          return mustMap(await stripe.paymentIntents.confirm(a.reference, { return_url: returnUrl, expand: ['latest_charge'] }, { idempotencyKey: a.idempotencyKey }));
        },
        (f): AuthorizeOutcome => ({ status: 'declined', reference: f.reference ?? a.reference, decline: f.decline }),
      ),

    capture: async (a) => {
      const amount = toStripeAmount(a.amount);
      if (!amount.ok) return { status: 'declined', decline: amount.decline };
      return run(
        async () =>
          captureOutcomeOf(
            await stripe.paymentIntents.capture(a.reference, { amount_to_capture: amount.amount, metadata: { [METADATA.capture]: a.idempotencyKey } }, { idempotencyKey: a.idempotencyKey }),
          ),
        (f): CaptureOutcome => ({ status: 'declined', decline: f.decline }),
      );
    },

    void: (a) =>
      run(
        async () => {
          await tag(a.reference, a.idempotencyKey, METADATA.void);
          return voidOutcomeOf(await stripe.paymentIntents.cancel(a.reference, {}, { idempotencyKey: a.idempotencyKey }));
        },
        (f): VoidOutcome => ({ status: 'declined', decline: f.decline }),
      ),

    refund: async (a) => {
      const amount = toStripeAmount(a.amount);
      if (!amount.ok) return { status: 'declined', decline: amount.decline };
      return run(
        async () => {
          await tag(a.reference, a.idempotencyKey, refundTagName(a.idempotencyKey));
          return refundOutcomeOf(
            await stripe.refunds.create({ payment_intent: a.reference, amount: amount.amount, metadata: { [METADATA.refund]: a.idempotencyKey } }, { idempotencyKey: a.idempotencyKey }),
          );
        },
        (f): RefundOutcome => ({ status: 'declined', decline: f.decline }),
      );
    },

    savePaymentMethod: (a) =>
      run(
        async (): Promise<SavePaymentMethodOutcome> => {
          const customer = await customerFor(a.customerId, a.idempotencyKey);
          return saveOutcomeOf(
            await stripe.setupIntents.create(
              {
                customer: customer.id,
                payment_method: a.paymentMethod,
                usage: 'off_session',
                confirm: true,
                // Required with automatic payment methods on confirmation; a card that needs the customer is declined below anyway.
                return_url: returnUrl,
                metadata: { [METADATA.save]: a.idempotencyKey, [METADATA.customer]: a.customerId },
              },
              { idempotencyKey: a.idempotencyKey },
            ),
          );
        },
        (f): SavePaymentMethodOutcome => ({ status: 'declined', decline: f.decline }),
      ),

    chargeOffSession: async (a) => {
      const amount = toStripeAmount(a.amount);
      if (!amount.ok) return { status: 'declined', reference: null, decline: amount.decline };
      const saved = parseSavedPaymentMethod(a.savedPaymentMethod);
      return run(
        async () =>
          mustMap(
            await stripe.paymentIntents.create(
              {
                amount: amount.amount,
                currency: amount.currency,
                ...(saved.customer !== null ? { customer: saved.customer } : {}),
                payment_method: saved.paymentMethod,
                // Merchant-initiated: Stripe flags it as such to the issuer, and answers a demand for authentication with a decline instead of requires_action.
                off_session: true,
                confirm: true,
                capture_method: 'automatic',
                description: a.description,
                // Stripe asks for one on any confirmation with automatic payment methods, though an off-session charge never redirects.
                return_url: returnUrl,
                expand: ['latest_charge'],
                metadata: { [METADATA.authorize]: a.idempotencyKey, [METADATA.operation]: INTENT_OPERATIONS.chargeOffSession, [METADATA.customer]: a.customerId },
              },
              { idempotencyKey: a.idempotencyKey },
            ),
            offSessionOutcomeOf,
          ),
        (f): AuthorizeOutcome => ({ status: 'declined', reference: f.reference, decline: f.decline }),
      );
    },

    retrieve: (a) =>
      run(
        async (): Promise<RetrieveOutcome> => {
          switch (a.operation) {
            case 'authorize':
            case 'charge_off_session': {
              const pi = await searchOne(METADATA.authorize, a.idempotencyKey, ['data.latest_charge']);
              // A key that named the other operation says nothing about this one.
              if (pi === undefined || intentOperationOf(pi) !== a.operation) return { status: 'not_found' };
              const outcome = a.operation === 'authorize' ? authorizeOutcomeOf(pi) : offSessionOutcomeOf(pi);
              // Created but never confirmed: the authorization itself did not run.
              return outcome === null ? { status: 'not_found' } : { status: 'found', operation: a.operation, outcome };
            }
            case 'resume':
              // A resume is a read plus at most an idempotent confirm; nothing to look up by key.
              // To settle an unknown resume, call resume again under the same key.
              return { status: 'not_found' };
            case 'capture': {
              // Stripe applies capture's metadata only when the capture succeeds.
              const pi = await searchOne(METADATA.capture, a.idempotencyKey);
              return pi?.status === 'succeeded' ? { status: 'found', operation: 'capture', outcome: captureOutcomeOf(pi) } : { status: 'not_found' };
            }
            case 'void': {
              const pi = await searchOne(METADATA.void, a.idempotencyKey);
              return pi?.status === 'canceled' ? { status: 'found', operation: 'void', outcome: { status: 'succeeded' } } : { status: 'not_found' };
            }
            case 'refund': {
              const pi = await searchOne(refundTagName(a.idempotencyKey), a.idempotencyKey);
              if (pi === undefined) return { status: 'not_found' };
              for await (const refund of stripe.refunds.list({ payment_intent: pi.id, limit: 100 })) {
                if (refund.metadata?.[METADATA.refund] === a.idempotencyKey) return { status: 'found', operation: 'refund', outcome: refundOutcomeOf(refund) };
              }
              return { status: 'not_found' };
            }
            default: {
              const unreachable: never = a.operation;
              throw new StripeUnreadableResponse(`unknown operation ${String(unreachable)}`);
            }
          }
        },
        // A lookup is a read: a refusal (bad key, missing object) means the gateway did not answer the question.
        (f) => {
          throw unknown(new Error(`${f.decline.code}: ${f.decline.message}`));
        },
      ),
  };
  return connector;
}
