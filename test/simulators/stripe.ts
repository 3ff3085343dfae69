/**
 * A local test double of the part of Stripe's HTTP API that Obol's Stripe connector uses, so the
 * real `stripe` SDK can be exercised without internet. State lives in memory: this is Stripe's
 * side of the wire, not Obol storage.
 *
 * What it imitates (shapes follow Stripe's API reference; only the fields Obol reads and a few
 * neighbours are present):
 * - form-encoded bodies, `Authorization: Bearer <secret key>` (401 `invalid_request_error` otherwise);
 * - `Idempotency-Key` on every POST (customers, setup intents and payment-method attachment
 *   included): the same key with the same method, path and parameters replays the stored status
 *   and body; with anything different it is Stripe's 400 `idempotency_error`. Like Stripe, a
 *   request refused before it started executing (bad key, validation) is not stored;
 * - PaymentIntents: create (+confirm, `off_session`, `setup_future_usage`, `customer`,
 *   `payment_method_options[card][request_three_d_secure]`), confirm, capture (partial via
 *   `amount_to_capture`), cancel, update (metadata), retrieve, and the Search API for
 *   `metadata['name']:'value'` queries; `expand[]=latest_charge` (`data.latest_charge` in search)
 *   inlines the Charge with `payment_method_details.card.three_d_secure`;
 * - Charges (read through `latest_charge` or GET), Refunds: create (partial), retrieve, list by
 *   `payment_intent`;
 * - Customers: create, retrieve. SetupIntents: create (+confirm), retrieve. PaymentMethods:
 *   retrieve, attach.
 *
 * PaymentMethods behave like Stripe's: a test token such as `pm_card_visa` is not itself a
 * PaymentMethod but makes a new one (`pm_…`) each time it is used. A PaymentMethod becomes reusable
 * only by being attached to a Customer (a succeeded SetupIntent, a successful PaymentIntent with
 * `setup_future_usage`, or attach); an attached one is only accepted together with its Customer,
 * and an unattached one that was already used is refused.
 *
 * Stripe's documented test payment methods (https://docs.stripe.com/testing), and what each does
 * on a customer-present payment, on setup (SetupIntent or attach) and off-session:
 * - pm_card_visa, pm_card_mastercard: approved everywhere. 3-D Secure is supported but not required:
 *   with `request_three_d_secure=automatic` no 3DS runs (the charge's `three_d_secure` is null);
 *   with `any` the simulator answers with a frictionless authentication (`result: authenticated`,
 *   `authentication_flow: frictionless`). That is the choice made here: Stripe's docs do not say
 *   which flow its test issuer picks for these cards, and frictionless is what an issuer that
 *   supports 3DS2 and sees no risk answers, without a challenge the server could not complete.
 * - pm_card_chargeDeclined / …InsufficientFunds / …ProcessingError: declined (402 `card_error`)
 *   on payments and on setup alike (Stripe: these cards cannot be attached to a Customer).
 * - pm_card_chargeCustomerFail (4000000000000341): attaching / setting up succeeds, every charge
 *   is declined `card_declined`.
 * - pm_card_threeDSecure2Required (4000000000003220) and pm_card_authenticationRequiredOnSetup
 *   (4000002500003155): every customer-present payment asks for a challenge (`requires_action`),
 *   whatever `request_three_d_secure` says; setup needs authentication too; once set up with
 *   authentication, off-session charges are approved.
 * - pm_card_authenticationRequired (4000002760003184, "requires authentication on all
 *   transactions, regardless of how the card is set up"): customer-present payments and setup ask
 *   for a challenge; every off-session charge is declined 402 `authentication_required` (decline
 *   code `authentication_required`), the PaymentIntent left in `requires_payment_method`.
 *
 * Setup that needs authentication: a server-side SetupIntent confirmation has no customer to
 * authenticate, so by default the SetupIntent stops in `requires_action`, as Stripe's does, and
 * `completeChallenge(seti_…)` plays the cardholder. With `setupAuthentication:
 * 'completed_by_customer'` the simulator instead models a setup whose authentication the customer
 * already completed in Stripe.js (confirmCardSetup at a customer-present checkout): the
 * SetupIntent succeeds and the card is attached. This is the one deliberate deviation, opt-in,
 * for suites (like the connector conformance battery) that must save a card that demands
 * authentication in order to see what the issuer does off-session later.
 *
 * Simulator-only: `pm_card_simulator_timeout` is executed but every response to its creation is
 * dropped (socket destroyed), and `dropNextResponse()` does the same to the next single response;
 * `stallNextResponse()` never answers (a client timeout) and `failNextRequest()` answers HTTP 500.
 * Known simplifications: search is immediately consistent (Stripe's may lag by up to a minute);
 * refunding an uncaptured PaymentIntent is refused (Stripe would release the authorization).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const STRIPE_SIMULATOR_SECRET_KEY = 'sk_test_obol_simulator';

export interface StripeSimulatorRequest {
  readonly method: string;
  readonly path: string;
  readonly idempotencyKey: string | null;
  readonly params: Readonly<Record<string, string>>;
}

export interface StripeSimulatorOptions {
  readonly secretKey?: string;
  /**
   * What a SetupIntent confirmation does with a card that demands authentication at setup:
   * `requires_action` (Stripe's answer, the default) or `completed_by_customer` (as if the
   * customer had already authenticated in Stripe.js; see the module comment).
   */
  readonly setupAuthentication?: 'requires_action' | 'completed_by_customer';
}

export interface StripeSimulator {
  readonly port: number;
  readonly secretKey: string;
  close(): Promise<void>;
  /** Plays the cardholder at the issuer's ACS for a PaymentIntent (`pi_…`) or SetupIntent (`seti_…`) waiting in `requires_action`. */
  completeChallenge(intentId: string, outcome: 'authenticated' | 'failed'): void;
  /**
   * The next response (or the next one to a request matching `match`) is not sent: the request is
   * executed, then the socket is destroyed. Each call drops one response.
   */
  dropNextResponse(match?: (request: StripeSimulatorRequest) => boolean): void;
  /** The next matching request is executed but never answered: the client can only time out. */
  stallNextResponse(match?: (request: StripeSimulatorRequest) => boolean): void;
  /** The next matching request is answered with Stripe's HTTP 500 `api_error`, without executing it. */
  failNextRequest(match?: (request: StripeSimulatorRequest) => boolean): void;
  /** Every request received, in order (for asserting headers such as Idempotency-Key). */
  requests(): readonly StripeSimulatorRequest[];
  /** The Customer a PaymentMethod is attached to (null: not attached; undefined: no such PaymentMethod). */
  paymentMethodCustomer(paymentMethodId: string): string | null | undefined;
}

type Json = null | boolean | number | string | readonly Json[] | { readonly [key: string]: Json };
type JsonObject = { [key: string]: Json };

interface PaymentIntentState {
  readonly id: string;
  readonly amount: number;
  readonly currency: string;
  readonly captureMethod: 'automatic' | 'manual';
  readonly created: number;
  readonly description: string | null;
  readonly customer: string | null;
  readonly setupFutureUsage: 'off_session' | 'on_session' | null;
  readonly requestThreeDSecure: 'automatic' | 'any' | 'challenge';
  paymentMethod: string | null;
  status: 'requires_payment_method' | 'requires_confirmation' | 'requires_action' | 'processing' | 'requires_capture' | 'succeeded' | 'canceled';
  amountCapturable: number;
  amountReceived: number;
  latestCharge: string | null;
  lastPaymentError: JsonObject | null;
  nextAction: JsonObject | null;
  cancellationReason: string | null;
  metadata: Record<string, string>;
}

interface ChargeState {
  readonly id: string;
  readonly amount: number;
  readonly currency: string;
  readonly paymentIntent: string;
  readonly paymentMethod: string;
  readonly customer: string | null;
  readonly created: number;
  readonly status: 'succeeded' | 'failed';
  readonly threeDSecure: JsonObject | null;
  readonly failureCode: string | null;
  readonly failureMessage: string | null;
}

interface RefundState {
  readonly id: string;
  readonly amount: number;
  readonly currency: string;
  readonly charge: string;
  readonly paymentIntent: string;
  readonly created: number;
  readonly metadata: Record<string, string>;
}

interface CustomerState {
  readonly id: string;
  readonly created: number;
  readonly description: string | null;
  readonly email: string | null;
  readonly name: string | null;
  readonly metadata: Record<string, string>;
}

interface PaymentMethodState {
  readonly id: string;
  /** The test token it was made from, which decides how the issuer treats it. */
  readonly token: string;
  readonly created: number;
  customer: string | null;
  /** Used once without a Customer: Stripe refuses to use it again. */
  consumed: boolean;
}

interface SetupIntentState {
  readonly id: string;
  readonly created: number;
  readonly customer: string | null;
  readonly description: string | null;
  readonly usage: 'off_session' | 'on_session';
  readonly metadata: Record<string, string>;
  paymentMethod: string | null;
  status: 'requires_payment_method' | 'requires_confirmation' | 'requires_action' | 'processing' | 'succeeded' | 'canceled';
  lastSetupError: JsonObject | null;
  nextAction: JsonObject | null;
}

interface Reply {
  readonly status: number;
  readonly body: JsonObject;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly error: JsonObject,
    /** Whether Stripe would store this answer under the idempotency key (it started executing). */
    readonly store: boolean,
  ) {
    super(String(error['message']));
  }
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/**
 * Stripe's ids are 24 base62 characters after the prefix. Hex would be unfaithful, and harmful:
 * with ten digits in sixteen, a hex id often holds a Luhn-valid 13–19 digit run, which Obol's
 * card guard rightly refuses wherever it appears (a webhook naming such a PaymentIntent).
 */
const id = (prefix: string): string => `${prefix}_${Array.from(randomBytes(24), (b) => BASE62[b % 62]).join('')}`;
const now = (): number => Math.floor(Date.now() / 1000);

interface DeclineSpec {
  readonly code: string;
  readonly declineCode: string | null;
  readonly message: string;
}

/**
 * How the issuer treats one of Stripe's test cards.
 * - `declineAlways`: every payment and every setup is declined.
 * - `declineCharges`: setup succeeds, every charge is declined.
 * - `authentication`: `optional` (3DS supported, runs only when requested: frictionless);
 *   `required` (challenge on every customer-present payment and at setup; off-session fine once set
 *   up with authentication); `always` (as `required`, and every off-session charge is declined
 *   `authentication_required`).
 */
interface TestCard {
  readonly brand: string;
  readonly last4: string;
  readonly authentication: 'optional' | 'required' | 'always';
  readonly declineAlways?: DeclineSpec;
  readonly declineCharges?: DeclineSpec;
}

const GENERIC_DECLINE: DeclineSpec = { code: 'card_declined', declineCode: 'generic_decline', message: 'Your card was declined.' };

const TEST_CARDS: ReadonlyMap<string, TestCard> = new Map<string, TestCard>([
  ['pm_card_visa', { brand: 'visa', last4: '4242', authentication: 'optional' }],
  ['pm_card_mastercard', { brand: 'mastercard', last4: '4444', authentication: 'optional' }],
  ['pm_card_simulator_timeout', { brand: 'visa', last4: '4242', authentication: 'optional' }],
  ['pm_card_chargeDeclined', { brand: 'visa', last4: '0002', authentication: 'optional', declineAlways: GENERIC_DECLINE }],
  [
    'pm_card_chargeDeclinedInsufficientFunds',
    { brand: 'visa', last4: '9995', authentication: 'optional', declineAlways: { code: 'card_declined', declineCode: 'insufficient_funds', message: 'Your card has insufficient funds.' } },
  ],
  [
    'pm_card_chargeDeclinedProcessingError',
    { brand: 'visa', last4: '0119', authentication: 'optional', declineAlways: { code: 'processing_error', declineCode: null, message: 'An error occurred while processing your card. Try again in a little bit.' } },
  ],
  ['pm_card_chargeCustomerFail', { brand: 'visa', last4: '0341', authentication: 'optional', declineCharges: GENERIC_DECLINE }],
  ['pm_card_threeDSecure2Required', { brand: 'visa', last4: '3220', authentication: 'required' }],
  ['pm_card_authenticationRequiredOnSetup', { brand: 'visa', last4: '3155', authentication: 'required' }],
  ['pm_card_authenticationRequired', { brand: 'visa', last4: '3184', authentication: 'always' }],
]);

const TIMEOUT_PAYMENT_METHOD = 'pm_card_simulator_timeout';

const AUTHENTICATION_REQUIRED: DeclineSpec = {
  code: 'authentication_required',
  declineCode: 'authentication_required',
  message: 'Your card was declined. This transaction requires authentication.',
};

function invalidRequest(message: string, extra: JsonObject = {}, status = 400, store = true): HttpError {
  return new HttpError(status, { type: 'invalid_request_error', message, ...extra }, store);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function metadataOf(params: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(params)) {
    const m = /^metadata\[(.+)\]$/.exec(k);
    if (m?.[1] !== undefined) out[m[1]] = v;
  }
  return out;
}

/** The `expand[]` list, whichever way it was encoded (`expand[0]=…` by the SDK, `expand[]=…` by hand). */
function expandOf(entries: Iterable<[string, string]>): ReadonlySet<string> {
  const out = new Set<string>();
  for (const [k, v] of entries) if (/^expand\[\d*\]$/.test(k)) out.add(v);
  return out;
}

function positiveInteger(params: Readonly<Record<string, string>>, name: string, required: boolean): number | undefined {
  const raw = params[name];
  if (raw === undefined) {
    if (required) throw invalidRequest(`Missing required param: ${name}.`, { code: 'parameter_missing', param: name }, 400, false);
    return undefined;
  }
  if (!/^\d+$/.test(raw)) throw invalidRequest(`Invalid integer: ${raw}`, { code: 'parameter_invalid_integer', param: name }, 400, false);
  const n = Number(raw);
  if (n < 1) throw invalidRequest('Amount must be at least 1.', { code: 'amount_too_small', param: name }, 400, false);
  return n;
}

function booleanParam(params: Readonly<Record<string, string>>, name: string): boolean {
  const raw = params[name];
  if (raw === undefined || raw === 'false') return false;
  if (raw === 'true') return true;
  throw invalidRequest(`Invalid boolean: ${raw}`, { code: 'parameter_invalid_boolean', param: name }, 400, false);
}

function oneOf<T extends string>(params: Readonly<Record<string, string>>, name: string, allowed: readonly T[], fallback: T): T {
  const raw = params[name];
  if (raw === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw invalidRequest(`Invalid ${name}: must be one of ${allowed.join(', ')}`, { code: 'parameter_invalid_string', param: name }, 400, false);
  }
  return raw as T;
}

export async function startStripeSimulator(options: StripeSimulatorOptions = {}): Promise<StripeSimulator> {
  const secretKey = options.secretKey ?? STRIPE_SIMULATOR_SECRET_KEY;
  const setupAuthentication = options.setupAuthentication ?? 'requires_action';
  const intents = new Map<string, PaymentIntentState>();
  const charges = new Map<string, ChargeState>();
  const refunds = new Map<string, RefundState>();
  const customers = new Map<string, CustomerState>();
  const paymentMethods = new Map<string, PaymentMethodState>();
  const setupIntents = new Map<string, SetupIntentState>();
  const idempotency = new Map<string, { readonly fingerprint: string; readonly reply: Reply }>();
  const log: StripeSimulatorRequest[] = [];
  type Fault = 'drop' | 'stall' | 'fail';
  const pendingFaults: Array<{ readonly kind: Fault; readonly match: (request: StripeSimulatorRequest) => boolean }> = [];
  /** Takes the first armed fault of this kind that matches the request, if any. */
  const takeFault = (kind: Fault, request: StripeSimulatorRequest): boolean => {
    const i = pendingFaults.findIndex((f) => f.kind === kind && f.match(request));
    if (i >= 0) pendingFaults.splice(i, 1);
    return i >= 0;
  };

  const cardOf = (pm: PaymentMethodState): TestCard => {
    const card = TEST_CARDS.get(pm.token);
    if (card === undefined) throw new Error(`simulator: no test card behind ${pm.id}`);
    return card;
  };

  const paymentMethodJson = (pm: PaymentMethodState): JsonObject => {
    const card = cardOf(pm);
    return {
      id: pm.id,
      object: 'payment_method',
      billing_details: { address: null, email: null, name: null, phone: null },
      card: { brand: card.brand, country: 'US', exp_month: 12, exp_year: 2034, funding: 'credit', last4: card.last4 },
      created: pm.created,
      customer: pm.customer,
      livemode: false,
      metadata: {},
      type: 'card',
    };
  };

  const chargeJson = (c: ChargeState): JsonObject => {
    const pi = intents.get(c.paymentIntent);
    const captured = c.status === 'succeeded' && pi !== undefined && pi.amountReceived > 0 && pi.latestCharge === c.id;
    const refunded = [...refunds.values()].filter((r) => r.charge === c.id).reduce((a, r) => a + r.amount, 0);
    const pm = paymentMethods.get(c.paymentMethod);
    const card = pm === undefined ? undefined : cardOf(pm);
    return {
      id: c.id,
      object: 'charge',
      amount: c.amount,
      amount_captured: captured && pi !== undefined ? pi.amountReceived : 0,
      amount_refunded: refunded,
      captured,
      created: c.created,
      currency: c.currency,
      customer: c.customer,
      failure_code: c.failureCode,
      failure_message: c.failureMessage,
      livemode: false,
      paid: c.status === 'succeeded',
      payment_intent: c.paymentIntent,
      payment_method: c.paymentMethod,
      payment_method_details: {
        type: 'card',
        card: { brand: card?.brand ?? null, country: 'US', exp_month: 12, exp_year: 2034, funding: 'credit', last4: card?.last4 ?? null, three_d_secure: c.threeDSecure },
      },
      refunded: refunded > 0 && refunded === (captured && pi !== undefined ? pi.amountReceived : 0),
      status: c.status,
    };
  };

  const intentJson = (pi: PaymentIntentState, expand: ReadonlySet<string> = new Set()): JsonObject => {
    const charge = pi.latestCharge === null ? undefined : charges.get(pi.latestCharge);
    return {
      id: pi.id,
      object: 'payment_intent',
      amount: pi.amount,
      amount_capturable: pi.amountCapturable,
      amount_received: pi.amountReceived,
      canceled_at: pi.status === 'canceled' ? now() : null,
      cancellation_reason: pi.cancellationReason,
      capture_method: pi.captureMethod,
      client_secret: `${pi.id}_secret_${pi.id.slice(-8)}`,
      confirmation_method: 'automatic',
      created: pi.created,
      currency: pi.currency,
      customer: pi.customer,
      description: pi.description,
      last_payment_error: pi.lastPaymentError,
      latest_charge: expand.has('latest_charge') && charge !== undefined ? chargeJson(charge) : pi.latestCharge,
      livemode: false,
      metadata: { ...pi.metadata },
      next_action: pi.nextAction,
      payment_method: pi.paymentMethod,
      payment_method_options: { card: { request_three_d_secure: pi.requestThreeDSecure } },
      payment_method_types: ['card'],
      setup_future_usage: pi.setupFutureUsage,
      status: pi.status,
    };
  };

  const refundJson = (r: RefundState): JsonObject => ({
    id: r.id,
    object: 'refund',
    amount: r.amount,
    charge: r.charge,
    created: r.created,
    currency: r.currency,
    metadata: { ...r.metadata },
    payment_intent: r.paymentIntent,
    reason: null,
    status: 'succeeded',
  });

  const customerJson = (c: CustomerState): JsonObject => ({
    id: c.id,
    object: 'customer',
    created: c.created,
    description: c.description,
    email: c.email,
    invoice_settings: { custom_fields: null, default_payment_method: null, footer: null },
    livemode: false,
    metadata: { ...c.metadata },
    name: c.name,
  });

  const setupIntentJson = (si: SetupIntentState): JsonObject => ({
    id: si.id,
    object: 'setup_intent',
    cancellation_reason: null,
    client_secret: `${si.id}_secret_${si.id.slice(-8)}`,
    created: si.created,
    customer: si.customer,
    description: si.description,
    last_setup_error: si.lastSetupError,
    livemode: false,
    metadata: { ...si.metadata },
    next_action: si.nextAction,
    payment_method: si.paymentMethod,
    payment_method_types: ['card'],
    status: si.status,
    usage: si.usage,
  });

  const intentOr404 = (intentId: string): PaymentIntentState => {
    const pi = intents.get(intentId);
    if (!pi) throw invalidRequest(`No such payment_intent: '${intentId}'`, { code: 'resource_missing', param: 'intent' }, 404);
    return pi;
  };

  const customerOr400 = (customerId: string | undefined): CustomerState | null => {
    if (customerId === undefined) return null;
    const customer = customers.get(customerId);
    if (!customer) throw invalidRequest(`No such customer: '${customerId}'`, { code: 'resource_missing', param: 'customer' });
    return customer;
  };

  /**
   * The PaymentMethod a request names: a stored one, or a new one made from a test token. Stripe's
   * reuse rules apply: an attached PaymentMethod only with its own Customer, an unattached one once.
   */
  const usePaymentMethod = (reference: string, customer: string | null): PaymentMethodState => {
    const stored = paymentMethods.get(reference);
    if (stored !== undefined) {
      if (stored.customer !== null && stored.customer !== customer) {
        throw invalidRequest(
          customer === null
            ? `The provided PaymentMethod ${stored.id} is attached to a Customer. To use it, pass that Customer's id in the \`customer\` parameter.`
            : `The provided PaymentMethod ${stored.id} belongs to a different Customer than ${customer}.`,
          { code: 'payment_method_unexpected_state', param: 'payment_method' },
        );
      }
      if (stored.customer === null && stored.consumed) {
        throw invalidRequest(
          'The provided PaymentMethod was previously used with a PaymentIntent without Customer attachment, shared with a connected account without Customer attachment, or was detached from a Customer. It may not be used again. To use a PaymentMethod multiple times, you must attach it to a Customer first.',
          { code: 'payment_method_unexpected_state', param: 'payment_method' },
        );
      }
      return stored;
    }
    if (!TEST_CARDS.has(reference)) throw invalidRequest(`No such PaymentMethod: '${reference}'`, { code: 'resource_missing', param: 'payment_method' });
    const made: PaymentMethodState = { id: id('pm'), token: reference, created: now(), customer: null, consumed: false };
    paymentMethods.set(made.id, made);
    return made;
  };

  const attach = (pm: PaymentMethodState, customer: string): void => {
    pm.customer = customer;
  };

  const unexpectedState = (pi: PaymentIntentState, action: string, allowed: readonly string[]): HttpError =>
    invalidRequest(`This PaymentIntent's ${action} could not be performed because it has a status of ${pi.status}. Only a PaymentIntent with one of the following statuses may be ${action}: ${allowed.join(', ')}.`, {
      code: 'payment_intent_unexpected_state',
      payment_intent: intentJson(pi),
    });

  const paymentMethodOfIntent = (pi: PaymentIntentState): PaymentMethodState => {
    const pm = pi.paymentMethod === null ? undefined : paymentMethods.get(pi.paymentMethod);
    if (pm === undefined) throw new Error(`simulator: ${pi.id} has no PaymentMethod`);
    return pm;
  };

  /** The Charge a confirmation produced, succeeded or failed, recorded on the PaymentIntent's PaymentMethod. */
  const recordCharge = (pi: PaymentIntentState, pm: PaymentMethodState, threeDSecure: JsonObject | null, failure: DeclineSpec | null): ChargeState => {
    const charge: ChargeState = {
      id: id('ch'),
      amount: pi.amount,
      currency: pi.currency,
      paymentIntent: pi.id,
      paymentMethod: pm.id,
      customer: pi.customer,
      created: now(),
      status: failure === null ? 'succeeded' : 'failed',
      threeDSecure,
      failureCode: failure?.code ?? null,
      failureMessage: failure?.message ?? null,
    };
    charges.set(charge.id, charge);
    return charge;
  };

  const authorizeFunds = (pi: PaymentIntentState, threeDSecure: JsonObject | null): void => {
    const pm = paymentMethodOfIntent(pi);
    const charge = recordCharge(pi, pm, threeDSecure, null);
    pi.nextAction = null;
    pi.lastPaymentError = null;
    pi.latestCharge = charge.id;
    if (pi.captureMethod === 'manual') {
      pi.status = 'requires_capture';
      pi.amountCapturable = pi.amount;
    } else {
      pi.status = 'succeeded';
      pi.amountReceived = pi.amount;
    }
    // Stripe attaches the PaymentMethod once the payment went through and any action is done.
    if (pi.setupFutureUsage !== null && pi.customer !== null) attach(pm, pi.customer);
    else if (pm.customer === null) pm.consumed = true;
  };

  /** Declines the confirmation: the PaymentIntent waits for another PaymentMethod, and Stripe answers 402. */
  const declinePayment = (pi: PaymentIntentState, decline: DeclineSpec, threeDSecure: JsonObject | null): HttpError => {
    const pm = paymentMethodOfIntent(pi);
    const charge = recordCharge(pi, pm, threeDSecure, decline);
    if (pm.customer === null) pm.consumed = true;
    const error: JsonObject = {
      type: 'card_error',
      code: decline.code,
      ...(decline.declineCode !== null ? { decline_code: decline.declineCode } : {}),
      charge: charge.id,
      doc_url: `https://docs.stripe.com/error-codes/${decline.code.replaceAll('_', '-')}`,
      message: decline.message,
      payment_method: paymentMethodJson(pm),
    };
    pi.status = 'requires_payment_method';
    pi.latestCharge = charge.id;
    pi.lastPaymentError = error;
    pi.nextAction = null;
    return new HttpError(402, { ...error, payment_intent: intentJson(pi), request_log_url: `https://dashboard.stripe.com/test/logs/${id('req')}` }, true);
  };

  const challengeAction = (intentId: string, kind: 'payment_intent' | 'setup_intent', returnUrl: string | undefined): JsonObject => {
    const url = `https://hooks.stripe.com/3d_secure_2/hosted?merchant=acct_simulator&${kind}=${intentId}`;
    // Stripe only redirects when the confirmation named a return_url; otherwise Stripe.js handles it.
    return returnUrl !== undefined
      ? { type: 'redirect_to_url', redirect_to_url: { url, return_url: returnUrl } }
      : { type: 'use_stripe_sdk', use_stripe_sdk: { type: 'three_d_secure_redirect', stripe_js: url, source: id('src') } };
  };

  /** Runs a confirmation with the attached payment method; a decline throws Stripe's 402. */
  const confirm = (pi: PaymentIntentState, returnUrl: string | undefined, offSession: boolean): Reply => {
    const pm = paymentMethodOfIntent(pi);
    const card = cardOf(pm);
    const decline = card.declineAlways ?? card.declineCharges;
    if (decline !== undefined) throw declinePayment(pi, decline, null);
    if (offSession) {
      // Merchant-initiated: no cardholder to challenge, so an issuer that insists declines instead.
      if (card.authentication === 'always') throw declinePayment(pi, AUTHENTICATION_REQUIRED, null);
      authorizeFunds(pi, null);
      return { status: 200, body: intentJson(pi) };
    }
    if (card.authentication === 'optional' && pi.requestThreeDSecure !== 'challenge') {
      authorizeFunds(pi, pi.requestThreeDSecure === 'automatic' ? null : { authentication_flow: 'frictionless', result: 'authenticated', result_reason: null, version: '2.2.0', electronic_commerce_indicator: '05', exemption_indicator: null, transaction_id: randomUUID() });
      return { status: 200, body: intentJson(pi) };
    }
    // The issuer demands a challenge whatever was requested (an exemption request included), or the merchant forced one.
    pi.status = 'requires_action';
    pi.nextAction = challengeAction(pi.id, 'payment_intent', returnUrl);
    return { status: 200, body: intentJson(pi) };
  };

  const confirmSetup = (si: SetupIntentState, pm: PaymentMethodState, returnUrl: string | undefined): Reply => {
    const card = cardOf(pm);
    if (card.declineAlways !== undefined) {
      const decline = card.declineAlways;
      const error: JsonObject = {
        type: 'card_error',
        code: decline.code,
        ...(decline.declineCode !== null ? { decline_code: decline.declineCode } : {}),
        doc_url: `https://docs.stripe.com/error-codes/${decline.code.replaceAll('_', '-')}`,
        message: decline.message,
        payment_method: paymentMethodJson(pm),
      };
      si.status = 'requires_payment_method';
      si.lastSetupError = error;
      si.nextAction = null;
      pm.consumed = true;
      throw new HttpError(402, { ...error, setup_intent: setupIntentJson(si), request_log_url: `https://dashboard.stripe.com/test/logs/${id('req')}` }, true);
    }
    if (card.authentication !== 'optional' && setupAuthentication === 'requires_action') {
      si.status = 'requires_action';
      si.nextAction = challengeAction(si.id, 'setup_intent', returnUrl);
      return { status: 200, body: setupIntentJson(si) };
    }
    completeSetup(si);
    return { status: 200, body: setupIntentJson(si) };
  };

  const completeSetup = (si: SetupIntentState): void => {
    const pm = si.paymentMethod === null ? undefined : paymentMethods.get(si.paymentMethod);
    if (pm === undefined) throw new Error(`simulator: ${si.id} has no PaymentMethod`);
    si.status = 'succeeded';
    si.nextAction = null;
    si.lastSetupError = null;
    if (si.customer !== null) attach(pm, si.customer);
  };

  const routes = (method: string, path: string, params: Readonly<Record<string, string>>, query: URLSearchParams): Reply => {
    const expand = method === 'GET' ? expandOf(query.entries()) : expandOf(Object.entries(params));

    if (method === 'POST' && path === '/v1/payment_intents') {
      const amount = positiveInteger(params, 'amount', true) ?? 0;
      const currency = params['currency'];
      if (currency === undefined || !/^[a-z]{3}$/.test(currency)) throw invalidRequest('Invalid currency.', { code: 'parameter_invalid_string', param: 'currency' }, 400, false);
      const captureMethod = oneOf(params, 'capture_method', ['automatic', 'manual'], 'automatic');
      const setupFutureUsage = params['setup_future_usage'] === undefined ? null : oneOf(params, 'setup_future_usage', ['off_session', 'on_session'], 'off_session');
      const requestThreeDSecure = oneOf(params, 'payment_method_options[card][request_three_d_secure]', ['automatic', 'any', 'challenge'], 'automatic');
      const doConfirm = booleanParam(params, 'confirm');
      const offSession = booleanParam(params, 'off_session');
      if (offSession && !doConfirm) throw invalidRequest('You may only specify `off_session` when `confirm=true`.', { param: 'off_session' }, 400, false);
      const customer = customerOr400(params['customer']);
      const pm = params['payment_method'] === undefined ? null : usePaymentMethod(params['payment_method'], customer?.id ?? null);
      const pi: PaymentIntentState = {
        id: id('pi'),
        amount,
        currency,
        captureMethod,
        created: now(),
        description: params['description'] ?? null,
        customer: customer?.id ?? null,
        setupFutureUsage,
        requestThreeDSecure,
        paymentMethod: pm?.id ?? null,
        status: pm !== null ? 'requires_confirmation' : 'requires_payment_method',
        amountCapturable: 0,
        amountReceived: 0,
        latestCharge: null,
        lastPaymentError: null,
        nextAction: null,
        cancellationReason: null,
        metadata: metadataOf(params),
      };
      intents.set(pi.id, pi);
      if (doConfirm) {
        if (pm === null) throw invalidRequest('You cannot confirm this PaymentIntent because it\'s missing a payment method.', { code: 'payment_intent_unexpected_state', payment_intent: intentJson(pi) });
        const reply = confirm(pi, params['return_url'], offSession);
        return { status: reply.status, body: intentJson(pi, expand) };
      }
      return { status: 200, body: intentJson(pi, expand) };
    }

    if (method === 'GET' && path === '/v1/payment_intents/search') {
      const q = query.get('query') ?? '';
      const m = /^metadata\['([^']+)'\]:'([^']*)'$/.exec(q.trim());
      if (!m) throw invalidRequest(`The simulator only supports metadata['key']:'value' queries, got: ${q}`, { code: 'parameter_invalid_string', param: 'query' });
      const [, name, value] = m;
      const inner = new Set([...expand].filter((e) => e.startsWith('data.')).map((e) => e.slice('data.'.length)));
      const data = [...intents.values()].filter((pi) => name !== undefined && pi.metadata[name] === value).map((pi) => intentJson(pi, inner));
      return { status: 200, body: { object: 'search_result', url: '/v1/payment_intents/search', has_more: false, next_page: null, data } };
    }

    const piMatch = /^\/v1\/payment_intents\/([^/]+)(?:\/(confirm|capture|cancel))?$/.exec(path);
    if (piMatch?.[1] !== undefined) {
      const pi = intentOr404(piMatch[1]);
      const action = piMatch[2];
      if (method === 'GET' && action === undefined) return { status: 200, body: intentJson(pi, expand) };
      if (method === 'POST' && action === undefined) {
        Object.assign(pi.metadata, metadataOf(params));
        return { status: 200, body: intentJson(pi, expand) };
      }
      if (method === 'POST' && action === 'confirm') {
        if (params['payment_method'] !== undefined) pi.paymentMethod = usePaymentMethod(params['payment_method'], pi.customer).id;
        if (pi.status === 'requires_action') return { status: 200, body: intentJson(pi, expand) };
        if (pi.status !== 'requires_confirmation' && pi.status !== 'requires_payment_method') throw unexpectedState(pi, 'confirmed', ['requires_confirmation', 'requires_payment_method']);
        confirm(pi, params['return_url'], booleanParam(params, 'off_session'));
        return { status: 200, body: intentJson(pi, expand) };
      }
      if (method === 'POST' && action === 'capture') {
        if (pi.status !== 'requires_capture') throw unexpectedState(pi, 'captured', ['requires_capture']);
        const amount = positiveInteger(params, 'amount_to_capture', false) ?? pi.amountCapturable;
        if (amount > pi.amountCapturable) {
          throw invalidRequest(`The amount to capture (${amount}) must be less than or equal to the amount capturable (${pi.amountCapturable}).`, { code: 'amount_too_large', param: 'amount_to_capture' });
        }
        pi.amountReceived = amount;
        pi.amountCapturable = 0;
        pi.status = 'succeeded';
        Object.assign(pi.metadata, metadataOf(params));
        return { status: 200, body: intentJson(pi, expand) };
      }
      if (method === 'POST' && action === 'cancel') {
        const cancelable = ['requires_payment_method', 'requires_capture', 'requires_confirmation', 'requires_action', 'processing'];
        if (!cancelable.includes(pi.status)) throw unexpectedState(pi, 'canceled', cancelable);
        pi.status = 'canceled';
        pi.amountCapturable = 0;
        pi.nextAction = null;
        pi.cancellationReason = params['cancellation_reason'] ?? null;
        return { status: 200, body: intentJson(pi, expand) };
      }
    }

    const chargeMatch = /^\/v1\/charges\/([^/]+)$/.exec(path);
    if (method === 'GET' && chargeMatch?.[1] !== undefined) {
      const charge = charges.get(chargeMatch[1]);
      if (!charge) throw invalidRequest(`No such charge: '${chargeMatch[1]}'`, { code: 'resource_missing', param: 'id' }, 404);
      return { status: 200, body: chargeJson(charge) };
    }

    if (method === 'POST' && path === '/v1/refunds') {
      const intentId = params['payment_intent'];
      if (intentId === undefined) throw invalidRequest('Missing required param: payment_intent.', { code: 'parameter_missing', param: 'payment_intent' }, 400, false);
      const pi = intentOr404(intentId);
      if (pi.status !== 'succeeded' || pi.latestCharge === null) {
        throw invalidRequest(`This PaymentIntent (${pi.id}) does not have a successful charge to refund.`, { code: 'charge_not_captured', param: 'payment_intent' });
      }
      const refunded = [...refunds.values()].filter((r) => r.paymentIntent === pi.id).reduce((a, r) => a + r.amount, 0);
      const remaining = pi.amountReceived - refunded;
      if (remaining <= 0) throw invalidRequest(`Charge ${pi.latestCharge} has already been refunded.`, { code: 'charge_already_refunded' });
      const amount = positiveInteger(params, 'amount', false) ?? remaining;
      if (amount > remaining) {
        throw invalidRequest(`Refund amount (${amount}) is greater than unrefunded amount on charge (${remaining})`, { code: 'amount_too_large', param: 'amount' });
      }
      const refund: RefundState = { id: id('re'), amount, currency: pi.currency, charge: pi.latestCharge, paymentIntent: pi.id, created: now(), metadata: metadataOf(params) };
      refunds.set(refund.id, refund);
      return { status: 200, body: refundJson(refund) };
    }

    if (method === 'GET' && path === '/v1/refunds') {
      const intentId = query.get('payment_intent');
      const data = [...refunds.values()].filter((r) => intentId === null || r.paymentIntent === intentId).map(refundJson);
      return { status: 200, body: { object: 'list', url: '/v1/refunds', has_more: false, data } };
    }

    const refundMatch = /^\/v1\/refunds\/([^/]+)$/.exec(path);
    if (method === 'GET' && refundMatch?.[1] !== undefined) {
      const refund = refunds.get(refundMatch[1]);
      if (!refund) throw invalidRequest(`No such refund: '${refundMatch[1]}'`, { code: 'resource_missing', param: 'id' }, 404);
      return { status: 200, body: refundJson(refund) };
    }

    if (method === 'POST' && path === '/v1/customers') {
      const customer: CustomerState = {
        id: id('cus'),
        created: now(),
        description: params['description'] ?? null,
        email: params['email'] ?? null,
        name: params['name'] ?? null,
        metadata: metadataOf(params),
      };
      customers.set(customer.id, customer);
      return { status: 200, body: customerJson(customer) };
    }

    const customerMatch = /^\/v1\/customers\/([^/]+)$/.exec(path);
    if (method === 'GET' && customerMatch?.[1] !== undefined) {
      const customer = customers.get(customerMatch[1]);
      if (!customer) throw invalidRequest(`No such customer: '${customerMatch[1]}'`, { code: 'resource_missing', param: 'id' }, 404);
      return { status: 200, body: customerJson(customer) };
    }

    if (method === 'POST' && path === '/v1/setup_intents') {
      const usage = oneOf(params, 'usage', ['off_session', 'on_session'], 'off_session');
      const doConfirm = booleanParam(params, 'confirm');
      const customer = customerOr400(params['customer']);
      const pm = params['payment_method'] === undefined ? null : usePaymentMethod(params['payment_method'], customer?.id ?? null);
      const si: SetupIntentState = {
        id: id('seti'),
        created: now(),
        customer: customer?.id ?? null,
        description: params['description'] ?? null,
        usage,
        metadata: metadataOf(params),
        paymentMethod: pm?.id ?? null,
        status: pm !== null ? 'requires_confirmation' : 'requires_payment_method',
        lastSetupError: null,
        nextAction: null,
      };
      setupIntents.set(si.id, si);
      if (!doConfirm) return { status: 200, body: setupIntentJson(si) };
      if (pm === null) throw invalidRequest('You cannot confirm this SetupIntent because it\'s missing a payment method.', { code: 'setup_intent_unexpected_state', setup_intent: setupIntentJson(si) });
      return confirmSetup(si, pm, params['return_url']);
    }

    const setupMatch = /^\/v1\/setup_intents\/([^/]+)$/.exec(path);
    if (method === 'GET' && setupMatch?.[1] !== undefined) {
      const si = setupIntents.get(setupMatch[1]);
      if (!si) throw invalidRequest(`No such setupintent: '${setupMatch[1]}'`, { code: 'resource_missing', param: 'intent' }, 404);
      return { status: 200, body: setupIntentJson(si) };
    }

    const pmMatch = /^\/v1\/payment_methods\/([^/]+)(?:\/(attach))?$/.exec(path);
    if (pmMatch?.[1] !== undefined) {
      const reference = pmMatch[1];
      if (method === 'GET' && pmMatch[2] === undefined) {
        const pm = paymentMethods.get(reference);
        if (!pm) throw invalidRequest(`No such PaymentMethod: '${reference}'`, { code: 'resource_missing', param: 'payment_method' }, 404);
        return { status: 200, body: paymentMethodJson(pm) };
      }
      if (method === 'POST' && pmMatch[2] === 'attach') {
        const customerId = params['customer'];
        if (customerId === undefined) throw invalidRequest('Missing required param: customer.', { code: 'parameter_missing', param: 'customer' }, 400, false);
        const customer = customerOr400(customerId);
        const stored = paymentMethods.get(reference);
        if (stored?.customer !== undefined && stored.customer !== null && stored.customer !== customerId) {
          throw invalidRequest(`The payment method you provided has already been attached to a customer.`, { code: 'payment_method_unexpected_state', param: 'payment_method' });
        }
        const pm = stored ?? usePaymentMethod(reference, null);
        const card = cardOf(pm);
        // Attaching verifies the card with the issuer, so a card that is always declined cannot be attached.
        if (card.declineAlways !== undefined) {
          const d = card.declineAlways;
          throw new HttpError(402, { type: 'card_error', code: d.code, ...(d.declineCode !== null ? { decline_code: d.declineCode } : {}), message: d.message, param: '' }, true);
        }
        if (customer !== null) attach(pm, customer.id);
        return { status: 200, body: paymentMethodJson(pm) };
      }
    }

    throw invalidRequest(`Unrecognized request URL (${method}: ${path}).`, {}, 404, false);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = req.method ?? 'GET';
    const raw = await readBody(req);
    const params: Record<string, string> = {};
    for (const [k, v] of new URLSearchParams(raw)) params[k] = v;
    const headerKey = req.headers['idempotency-key'];
    const idempotencyKey = typeof headerKey === 'string' ? headerKey : null;
    const request: StripeSimulatorRequest = { method, path: url.pathname, idempotencyKey, params };
    log.push(request);

    const send = (reply: Reply): void => {
      // A stalled answer is simply never written; close() ends the connection.
      if (takeFault('stall', request)) return;
      if (takeFault('drop', request) || (method === 'POST' && url.pathname === '/v1/payment_intents' && params['payment_method'] === TIMEOUT_PAYMENT_METHOD)) {
        // Executed, but the answer never leaves: the client sees the connection die.
        req.socket.destroy();
        return;
      }
      const body = JSON.stringify(reply.body);
      res.writeHead(reply.status, { 'content-type': 'application/json', 'request-id': id('req'), ...(idempotencyKey !== null ? { 'idempotency-key': idempotencyKey } : {}) });
      res.end(body);
    };

    if (req.headers.authorization !== `Bearer ${secretKey}`) {
      send({ status: 401, body: { error: { type: 'invalid_request_error', message: 'Invalid API Key provided.' } } });
      return;
    }

    if (takeFault('fail', request)) {
      send({ status: 500, body: { error: { type: 'api_error', message: 'Sorry, something went wrong. We\'ve already been notified of the problem.' } } });
      return;
    }

    // Stripe keys idempotency per account; the parameters (and endpoint) must match exactly.
    const fingerprint = JSON.stringify([method, url.pathname, Object.entries(params).sort(([a], [b]) => a.localeCompare(b))]);
    if (method === 'POST' && idempotencyKey !== null) {
      const stored = idempotency.get(idempotencyKey);
      if (stored) {
        if (stored.fingerprint !== fingerprint) {
          send({
            status: 400,
            body: {
              error: {
                type: 'idempotency_error',
                message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idempotencyKey}' if you meant to execute a different request.`,
              },
            },
          });
          return;
        }
        send(stored.reply);
        return;
      }
    }

    let reply: Reply;
    let store = true;
    try {
      reply = routes(method, url.pathname, params, url.searchParams);
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      reply = { status: err.status, body: { error: err.error } };
      store = err.store;
    }
    if (method === 'POST' && idempotencyKey !== null && store) idempotency.set(idempotencyKey, { fingerprint, reply });
    send(reply);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { type: 'api_error', message: err instanceof Error ? err.message : String(err) } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  const completeChallenge = (intentId: string, outcome: 'authenticated' | 'failed'): void => {
    const si = setupIntents.get(intentId);
    if (si !== undefined) {
      if (si.status !== 'requires_action') throw new Error(`no challenge pending for ${intentId}`);
      if (outcome === 'authenticated') {
        completeSetup(si);
        return;
      }
      si.status = 'requires_payment_method';
      si.nextAction = null;
      si.lastSetupError = {
        type: 'card_error',
        code: 'setup_intent_authentication_failure',
        doc_url: 'https://docs.stripe.com/error-codes/setup-intent-authentication-failure',
        message: 'The latest attempt to set up the payment method has failed because authentication failed.',
      };
      return;
    }
    const pi = intents.get(intentId);
    if (!pi || pi.status !== 'requires_action') throw new Error(`no challenge pending for ${intentId}`);
    if (outcome === 'authenticated') {
      authorizeFunds(pi, { authentication_flow: 'challenge', result: 'authenticated', result_reason: null, version: '2.2.0', electronic_commerce_indicator: '05', exemption_indicator: null, transaction_id: randomUUID() });
      return;
    }
    pi.status = 'requires_payment_method';
    pi.nextAction = null;
    pi.lastPaymentError = {
      type: 'card_error',
      code: 'payment_intent_authentication_failure',
      doc_url: 'https://docs.stripe.com/error-codes/payment-intent-authentication-failure',
      message: 'The provided PaymentMethod has failed authentication. You can provide payment_method_data or a new PaymentMethod to attempt to fulfill this PaymentIntent again.',
      payment_method: { id: pi.paymentMethod, object: 'payment_method', type: 'card' },
    };
  };

  return {
    port,
    secretKey,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
    completeChallenge,
    dropNextResponse: (match) => {
      pendingFaults.push({ kind: 'drop', match: match ?? (() => true) });
    },
    stallNextResponse: (match) => {
      pendingFaults.push({ kind: 'stall', match: match ?? (() => true) });
    },
    failNextRequest: (match) => {
      pendingFaults.push({ kind: 'fail', match: match ?? (() => true) });
    },
    requests: () => [...log],
    paymentMethodCustomer: (paymentMethodId) => paymentMethods.get(paymentMethodId)?.customer,
  };
}
