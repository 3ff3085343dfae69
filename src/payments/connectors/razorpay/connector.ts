/**
 * The Razorpay connector: Obol's port on one side, Razorpay's Orders/Payments/Refunds API (through
 * the official `razorpay` SDK, pinned to exactly 2.9.8) on the other. Pure mapping lives in
 * `transformers.ts`; this file holds the client, one function per flow, and error handling.
 *
 * How Obol's flows map onto Razorpay, where the customer pays in Razorpay Checkout in the browser:
 * - authorize: find-or-create an order whose `receipt` is derived from the idempotency key (so a
 *   retry reuses the order and `retrieve` finds it by GET /v1/orders?receipt=…), then
 *   - token `rzp:<payment_id>:<order_id>:<signature>` (Checkout completed; the order must have
 *     been created with `createCheckoutOrder` under the same idempotency key): verify the
 *     signature (HMAC-SHA256 of `order_id|payment_id` with the key secret) before any call, then
 *     fetch the payment and map its status;
 *   - token `rzp_sim:<scenario>`: test mode, the simulator pays the order itself (see transformers).
 *   A payment that is `authorized` is captured here when automatic capture was asked for.
 *   An order without a payment yet is `processing` with the order id as reference; `resume` with
 *   that reference looks again.
 * - capture: Razorpay has no partial capture: the amount must equal the authorized amount, and a
 *   different amount is declined by Razorpay.
 * - void: Razorpay cannot void an authorization; it auto-refunds authorized payments that are not
 *   captured within the capture window. So `void` is always a hard decline `void_not_supported`
 *   and sends nothing: Obol should let the authorization lapse (or capture then refund when it
 *   must return the money at once). We chose this over "refund the authorization" because a
 *   refund of an uncaptured payment is refused by Razorpay, and over a silent success because a
 *   later capture would still succeed at Razorpay.
 * - refund: POST /v1/payments/:id/refund with the `X-Refund-Idempotency` header (Razorpay's
 *   documented name). The SDK's `payments.refund()` cannot send per-request headers (its
 *   `allowedHeaders` whitelist), so this one call goes through the SDK's own axios instance, with
 *   the same auth, base URL, user agent and timeout.
 * - authentication (3-D Secure / SCA requests): accepted and ignored. Razorpay operates under
 *   RBI's rules, not PSD2: the additional factor of authentication (AFA) is run by Razorpay
 *   Checkout itself in the browser, and the server API has no switch to ask for or waive it. The
 *   outcome therefore leaves `threeDSecure` out rather than guess what Checkout did.
 * - saved payment methods are Razorpay recurring tokens ("card recurring"; the same API serves
 *   emandate tokens) of a Razorpay Customer, returned as `<customer_id>:<token_id>`:
 *   - the customer is found-or-created with POST /v1/customers (`fail_existing: 0`) from the
 *     contact details `customerDetails` gives for Obol's customer id (Razorpay needs name, email
 *     and contact; Obol's port carries only its id). Unconfigured, saving is declined
 *     `customer_details_unavailable` and nothing is sent;
 *   - the authorization transaction is an order with `customer_id`, `method: 'card'` and a
 *     `token` mandate (per-debit ceiling `cardMandateMaxAmountPaise`, ten years, as presented),
 *     paid through Checkout; the paid payment carries `token_id`;
 *   - `savePaymentMethod` with a Checkout token verifies the signature, fetches the payment and
 *     returns its token (a failed payment is its decline; a payment without a token, i.e. not
 *     made as a recurring authorization, is declined `payment_method_not_saved`). With
 *     `rzp_sim:<scenario>` it creates a ₹1 authorization transaction, not captured, under a
 *     receipt from the save's key (a replay finds it), which Razorpay releases by itself;
 *   - `authorize` with `savePaymentMethod: true` makes its order such an authorization
 *     transaction (`createCheckoutOrder` takes `saveFor` for the Checkout path) and returns the
 *     paid payment's token.
 * - chargeOffSession: an order for the debit alone (receipt from the key, `payment_capture`
 *   on, found again by a retry exactly like authorize's orders), then GET /v1/customers/:id for the
 *   email and contact Razorpay requires, then POST /v1/payments/create/recurring with the token and
 *   `recurring: '1'`. An order that already has a payment is never paid again: its payment is the
 *   answer. A refused debit names its payment in the error's metadata; the outcome is then read
 *   from that payment, so a replay returns exactly the same decline. Failure reasons go through
 *   the same `RAZORPAY_REASONS` table as Checkout payments: `authentication_failed` (e.g. a debit
 *   above RBI's AFA-exempt ₹15,000 whose AFA the customer never completed) is `customer_action`
 *   `authentication_required`; a token or customer Razorpay does not know is a hard decline.
 *   Card debits may stay `created` for up to ~36 hours at some banks: that is `processing`, and
 *   `retrieve` resolves it later.
 * - retrieve: authorize/resume by receipt; capture/refund via this connector's journal of
 *   key → payment (Razorpay cannot search payments by our key), then the payment's state and its
 *   refunds' `notes.obol_idempotency_key`. Obol passes the durable `sqlRazorpayJournal`
 *   (journal.ts); the in-memory default is for tests, and across a restart it would report
 *   `not_found` for a capture or refund that happened.
 *
 * Errors: a 4xx answer is a decline (data). Only "could not reach or understand Razorpay" throws:
 * ConnectorUnavailableError when certainly nothing was sent or executed (connection refused, DNS
 * failure, 401 bad keys, 429 rate limited), otherwise ConnectorUnknownOutcomeError (timeout, lost
 * response, 5xx, 409 "still processing", unreadable body). One exception: a 5xx whose error names
 * the payment it created (`metadata.payment_id`, as a recurring debit refused by the gateway does)
 * is an answer about that payment, read and mapped like any other.
 *
 * Retry policy: reads (GET) are retried up to twice on transport failure or 5xx; a refund is
 * retried once under the same `X-Refund-Idempotency` key. Order creation and capture are not
 * retried here, because Razorpay gives them no idempotency key: Obol retries `authorize` (which
 * finds the order by receipt) or `capture` (which re-reads the payment) instead.
 *
 * Base URL: the SDK hard-codes `hostUrl: 'https://api.razorpay.com'` in its constructor and
 * ignores any `hostUrl` option. It passes it as `baseURL` to one axios instance, `razorpay.api.rq`,
 * which every resource uses; we set `rq.defaults.baseURL` (and `rq.defaults.timeout`) after
 * construction. That layout is an SDK internal, hence the exact pin and a test that fails if a
 * future SDK version moves it; `sdkHttpClient` also refuses to start if the shape is missing.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import Razorpay from 'razorpay';
import { validatePaymentVerification } from 'razorpay/dist/utils/razorpay-utils.js';
import type { Money } from '../../../money/index.js';
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
  apiDecline,
  captureOutcome,
  cardMandate,
  customerCreateRequest,
  orderPurpose,
  parseCustomer,
  parseRecurringPaymentResponse,
  parseSavedPaymentMethod,
  recurringPaymentRequest,
  saveOutcome,
  withSavedMethod,
  type RazorpayCustomerDetails,
  type RazorpayOrderPurpose,
  decisivePayment,
  localDecline,
  parseApiError,
  parseCollection,
  parseOrder,
  parsePayment,
  parsePaymentMethod,
  parseRefund,
  paymentToAuthorizeOutcome,
  RAZORPAY_CURRENCY,
  receiptFor,
  refundIdempotencyKeyFor,
  refundOutcome,
  toPaise,
  UnreadableResponse,
  type RazorpayApiError,
  type RazorpayOrder,
  type RazorpayPayment,
} from './transformers.js';

export const RAZORPAY_CONNECTOR_NAME = 'razorpay';
/** The SDK version whose internals (`api.rq`) this connector relies on; package.json pins it exactly. */
export const RAZORPAY_SDK_VERSION = '2.9.8';
export const RAZORPAY_DEFAULT_BASE_URL = 'https://api.razorpay.com';
/** Razorpay's smallest order: ₹1.00. */
const MIN_PAISE = 100;

/** Where capture and refund keys are remembered, because Razorpay cannot look them up by our key. */
export interface RazorpayJournalEntry {
  readonly operation: 'capture' | 'refund' | 'resume';
  readonly paymentId: string;
  readonly amount: number;
}
export interface RazorpayJournal {
  get(idempotencyKey: string): Promise<RazorpayJournalEntry | undefined>;
  put(idempotencyKey: string, entry: RazorpayJournalEntry): Promise<void>;
}

export function inMemoryRazorpayJournal(): RazorpayJournal {
  const entries = new Map<string, RazorpayJournalEntry>();
  return {
    get: async (key) => entries.get(key),
    put: async (key, entry) => {
      entries.set(key, entry);
    },
  };
}

export type RazorpayConnector = Connector & {
  /**
   * Creates (or finds) the order the browser opens Razorpay Checkout with. Call it with the
   * idempotency key the later `authorize` will carry: that binds the completed checkout to it.
   */
  createCheckoutOrder(args: {
    readonly idempotencyKey: string;
    readonly amount: Money;
    readonly captureMethod: 'automatic' | 'manual';
    /** Make the order an authorization transaction for this Obol customer, so the payment leaves a recurring token. */
    readonly saveFor?: { readonly customerId: string };
  }): Promise<
    { readonly status: 'created'; readonly orderId: string; readonly keyId: string } | { readonly status: 'declined'; readonly decline: Decline }
  >;
};

// ---- the SDK's HTTP client ------------------------------------------------------------------

/** The part of the SDK's axios instance (`razorpay.api.rq`) that we use; not in the SDK's typings. */
interface SdkHttpClient {
  readonly defaults: { baseURL?: string; timeout?: number };
  readonly interceptors: { readonly response: { use(onFulfilled: undefined, onRejected: (error: unknown) => unknown): number } };
  post(url: string, data: unknown, config: { readonly headers: Readonly<Record<string, string>> }): Promise<{ readonly data: unknown }>;
}

const isObject = (v: unknown): v is Record<string, unknown> => (typeof v === 'object' || typeof v === 'function') && v !== null;

/** Finds the SDK's axios instance, refusing to run if a different SDK version laid it out otherwise. */
export function sdkHttpClient(sdk: Razorpay): SdkHttpClient {
  const api: unknown = sdk.api;
  const rq = isObject(api) ? api['rq'] : undefined;
  const defaults = isObject(rq) ? rq['defaults'] : undefined;
  const interceptors = isObject(rq) ? rq['interceptors'] : undefined;
  const response = isObject(interceptors) ? interceptors['response'] : undefined;
  if (!isObject(rq) || !isObject(defaults) || typeof defaults['baseURL'] !== 'string' || !isObject(response) || typeof response['use'] !== 'function' || typeof rq['post'] !== 'function') {
    throw new Error(`razorpay SDK ${Razorpay.VERSION}: api.rq is not the axios instance this connector expects (built for ${RAZORPAY_SDK_VERSION})`);
  }
  return rq as unknown as SdkHttpClient;
}

/** A transport failure seen by the axios interceptor, handed to the flow that made the request. */
interface TransportSlot {
  failure?: { readonly code: string | undefined; readonly message: string };
}

/** Codes for which the request certainly never reached Razorpay. */
const NOTHING_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

type ApiResult = { readonly ok: true; readonly body: unknown } | { readonly ok: false; readonly error: RazorpayApiError };

class TransportFailure extends Error {
  constructor(
    readonly certainlyNotSent: boolean,
    message: string,
  ) {
    super(message);
  }
}

/**
 * RBI's limit for recurring card debits without an additional factor of authentication, and the
 * per-debit ceiling of card mandates in the pinned SDK's documentation: renewals within it never
 * need the customer.
 */
export const RAZORPAY_AFA_EXEMPT_LIMIT_PAISE = 1_500_000;

export function createRazorpayConnector(args: {
  readonly keyId: string;
  readonly keySecret: string;
  readonly baseUrl?: string;
  readonly timeoutMs?: number;
  readonly journal?: RazorpayJournal;
  /** Name, email and contact of an Obol customer, for the Razorpay Customer that recurring tokens belong to. */
  readonly customerDetails?: (obolCustomerId: string) => Promise<RazorpayCustomerDetails | undefined>;
  /** The most a saved card may be debited per charge (the mandate's `max_amount`); default ₹15,000. */
  readonly cardMandateMaxAmountPaise?: number;
}): RazorpayConnector {
  const sdk = new Razorpay({ key_id: args.keyId, key_secret: args.keySecret });
  const http = sdkHttpClient(sdk);
  http.defaults.baseURL = args.baseUrl ?? RAZORPAY_DEFAULT_BASE_URL;
  http.defaults.timeout = args.timeoutMs ?? 10_000;
  const journal = args.journal ?? inMemoryRazorpayJournal();

  // The SDK turns every axios error into `{ statusCode: err.response.status, … }`, which crashes
  // with a TypeError when there is no response, losing the cause (refused vs lost). This
  // interceptor runs before that and records the cause for the flow in progress.
  const transport = new AsyncLocalStorage<TransportSlot>();
  http.interceptors.response.use(undefined, (error: unknown) => {
    const slot = transport.getStore();
    if (slot && isObject(error) && error['response'] === undefined) {
      slot.failure = { code: typeof error['code'] === 'string' ? error['code'] : undefined, message: error instanceof Error ? error.message : String(error) };
    }
    return Promise.reject(error);
  });

  /** One HTTP exchange: a 4xx with Razorpay's error body is data; anything else unreadable throws TransportFailure. */
  async function exchange(send: () => Promise<unknown>): Promise<ApiResult> {
    const slot: TransportSlot = {};
    try {
      return { ok: true, body: await transport.run(slot, send) };
    } catch (err) {
      if (slot.failure) throw new TransportFailure(slot.failure.code !== undefined && NOTHING_SENT.has(slot.failure.code), `${slot.failure.code ?? 'transport'}: ${slot.failure.message}`);
      // The SDK rejects with `{ statusCode, error }`; the raw axios instance with `{ response: { status, data } }`.
      const status = isObject(err) ? (typeof err['statusCode'] === 'number' ? err['statusCode'] : isObject(err['response']) ? err['response']['status'] : undefined) : undefined;
      const rawError = isObject(err) ? ('statusCode' in err ? err['error'] : isObject(err['response']) && isObject(err['response']['data']) ? err['response']['data']['error'] : undefined) : undefined;
      const apiError = parseApiError(rawError);
      if (typeof status !== 'number') throw new TransportFailure(false, err instanceof Error ? err.message : 'unreadable failure');
      if (status === 401 || status === 403 || status === 429) throw new TransportFailure(true, `HTTP ${status}: ${apiError?.description ?? 'refused'}`);
      if (status >= 400 && status < 500 && status !== 409 && apiError) return { ok: false, error: apiError };
      // A payment request refused by the bank or gateway comes back as 502/500 naming the failed
      // payment it created: that is an answer about that payment, not a lost request.
      if (status >= 500 && apiError?.paymentId) return { ok: false, error: apiError };
      throw new TransportFailure(false, `HTTP ${status}: ${apiError?.description ?? 'no readable error'}`);
    }
  }

  // Razorpay orders and captures take no idempotency key, so two concurrent calls under one key
  // could each create an order. Calls under the same key are therefore run one after another in
  // this process (across processes Obol's attempt row, committed before the call, does the same).
  const tails = new Map<string, Promise<void>>();
  async function serialized<T>(idempotencyKey: string, run: () => Promise<T>): Promise<T> {
    const previous = tails.get(idempotencyKey) ?? Promise.resolve();
    let release: () => void = () => undefined;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = previous.then(() => mine);
    tails.set(idempotencyKey, tail);
    try {
      await previous;
      return await run();
    } finally {
      release();
      if (tails.get(idempotencyKey) === tail) tails.delete(idempotencyKey);
    }
  }

  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

  /** Reads are safe to repeat, so a transport failure or 5xx is retried (twice, with a short backoff). */
  async function read(send: () => Promise<unknown>): Promise<ApiResult> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await exchange(send);
      } catch (err) {
        if (!(err instanceof TransportFailure) || attempt >= 2) throw err;
        await sleep(25 * (attempt + 1));
      }
    }
  }

  /** Runs one flow, turning transport failures and unreadable answers into the port's two exceptions. */
  async function flow<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      if (err instanceof TransportFailure && err.certainlyNotSent) throw new ConnectorUnavailableError(RAZORPAY_CONNECTOR_NAME, `razorpay: unavailable (${err.message})`);
      const reason = err instanceof Error ? err.message : String(err);
      const unknown = new ConnectorUnknownOutcomeError(RAZORPAY_CONNECTOR_NAME, `razorpay: outcome unknown (${reason})`);
      unknown.cause = err;
      throw unknown;
    }
  }

  // ---- gateway calls --------------------------------------------------------------------------

  const notFound = (what: string): Decline => localDecline('resource_missing', `Razorpay does not know ${what}`);

  async function findOrder(idempotencyKey: string, purpose: RazorpayOrderPurpose = 'authorize'): Promise<RazorpayOrder | undefined> {
    const result = await read(() => sdk.orders.all({ receipt: receiptFor(idempotencyKey) }));
    if (!result.ok) throw new UnreadableResponse(`order search refused: ${result.error.description}`);
    // The note guards against a digest collision or a foreign order reusing the receipt; the
    // purpose keeps an authorization, a save and an off-session charge under one key apart.
    return parseCollection(result.body, parseOrder).find((o) => o.notes['obol_idempotency_key'] === idempotencyKey && orderPurpose(o) === purpose);
  }

  const mandateMaxAmount = args.cardMandateMaxAmountPaise ?? RAZORPAY_AFA_EXEMPT_LIMIT_PAISE;

  /** The Razorpay customer for an Obol customer, found or created by its contact details. */
  async function ensureCustomer(obolCustomerId: string): Promise<string | Decline> {
    const details = args.customerDetails ? await args.customerDetails(obolCustomerId) : undefined;
    if (!details) return localDecline('customer_details_unavailable', 'Razorpay needs the customer\'s name, email and contact to save a payment method, and none are configured for this customer');
    // Safe to repeat: with fail_existing 0 Razorpay returns the customer it already has.
    const result = await read(() => sdk.customers.create(customerCreateRequest(obolCustomerId, details)));
    return result.ok ? parseCustomer(result.body).id : apiDecline(result.error);
  }

  async function findOrCreateOrder(props: {
    readonly idempotencyKey: string;
    readonly paise: number;
    readonly captureMethod: 'automatic' | 'manual';
    readonly scenario?: string;
    readonly purpose?: RazorpayOrderPurpose;
    /** Make it an authorization transaction whose payment leaves a recurring token for this Obol customer. */
    readonly mandateFor?: string;
    readonly extraNotes?: Readonly<Record<string, string>>;
  }): Promise<RazorpayOrder | Decline> {
    const purpose = props.purpose ?? 'authorize';
    const existing = await findOrder(props.idempotencyKey, purpose);
    if (existing) {
      if (existing.amount !== props.paise || existing.currency !== RAZORPAY_CURRENCY) return localDecline('idempotency_key_reused', 'An order with different parameters was already created under this idempotency key');
      for (const [k, v] of Object.entries(props.extraNotes ?? {})) {
        if (existing.notes[k] !== v) return localDecline('idempotency_key_reused', 'An order with different parameters was already created under this idempotency key');
      }
      return existing;
    }
    const notes: Record<string, string> = { obol_idempotency_key: props.idempotencyKey, obol_capture_method: props.captureMethod, ...props.extraNotes };
    if (purpose !== 'authorize') notes['obol_operation'] = purpose;
    if (props.scenario !== undefined) notes['obol_sim_scenario'] = props.scenario;
    const base = { amount: props.paise, currency: RAZORPAY_CURRENCY, receipt: receiptFor(props.idempotencyKey), notes, payment_capture: props.captureMethod === 'automatic' };
    let customerId: string | undefined;
    if (props.mandateFor !== undefined) {
      const customer = await ensureCustomer(props.mandateFor);
      if (typeof customer !== 'string') return customer;
      customerId = customer;
      notes['obol_customer_id'] = props.mandateFor;
    }
    // Not retried: Razorpay orders take no idempotency key. A retried call finds this order by receipt.
    const created = await exchange(() =>
      customerId === undefined
        ? sdk.orders.create(base)
        : sdk.orders.create({ ...base, customer_id: customerId, method: 'card', token: cardMandate(mandateMaxAmount, Math.floor(Date.now() / 1000)) }),
    );
    return created.ok ? parseOrder(created.body) : apiDecline(created.error);
  }

  async function fetchPayment(paymentId: string): Promise<RazorpayPayment | undefined> {
    const result = await read(() => sdk.payments.fetch(paymentId));
    return result.ok ? parsePayment(result.body) : undefined;
  }

  async function orderPayments(orderId: string): Promise<readonly RazorpayPayment[] | undefined> {
    const result = await read(() => sdk.orders.fetchPayments(orderId));
    return result.ok ? parseCollection(result.body, parsePayment) : undefined;
  }

  /** Maps a payment; when automatic capture was asked for and it is only authorized, captures it first. */
  async function settle(payment: RazorpayPayment, captureMethod: 'automatic' | 'manual'): Promise<AuthorizeOutcome> {
    if (payment.status !== 'authorized' || captureMethod === 'manual') return paymentToAuthorizeOutcome(payment);
    const captured = await exchange(() => sdk.payments.capture(payment.id, payment.amount, payment.currency));
    if (captured.ok) return paymentToAuthorizeOutcome(parsePayment(captured.body));
    // Refused (e.g. captured meanwhile by a concurrent retry): report the payment as it now stands.
    return paymentToAuthorizeOutcome((await fetchPayment(payment.id)) ?? payment);
  }

  /** The authorization outcome an order stands for, without changing anything. */
  async function orderOutcome(order: RazorpayOrder, settleWith?: 'automatic' | 'manual'): Promise<AuthorizeOutcome> {
    const payments = await orderPayments(order.id);
    if (payments === undefined) throw new UnreadableResponse(`payments of ${order.id} refused`);
    const payment = decisivePayment(payments);
    if (!payment) return { status: 'processing', reference: order.id };
    return settleWith ? settle(payment, settleWith) : paymentToAuthorizeOutcome(payment);
  }

  /** The payment that decides an order, or undefined while it has none. */
  async function decidingPayment(order: RazorpayOrder): Promise<RazorpayPayment | undefined> {
    const payments = await orderPayments(order.id);
    if (payments === undefined) throw new UnreadableResponse(`payments of ${order.id} refused`);
    return decisivePayment(payments);
  }

  async function resumeOutcome(reference: string, settleWith?: 'automatic' | 'manual'): Promise<AuthorizeOutcome> {
    if (reference.startsWith('order_')) {
      const result = await read(() => sdk.orders.fetch(reference));
      if (!result.ok) return { status: 'declined', reference: null, decline: notFound(reference) };
      return orderOutcome(parseOrder(result.body), settleWith);
    }
    const payment = await fetchPayment(reference);
    if (!payment) return { status: 'declined', reference: null, decline: notFound(reference) };
    return settleWith ? settle(payment, settleWith) : paymentToAuthorizeOutcome(payment);
  }

  /** The journal entry for a key, or a decline when the key was already spent on something else. */
  async function claim(idempotencyKey: string, entry: RazorpayJournalEntry): Promise<'new' | 'replay' | Decline> {
    const seen = await journal.get(idempotencyKey);
    if (seen === undefined) {
      await journal.put(idempotencyKey, entry);
      return 'new';
    }
    if (seen.operation === entry.operation && seen.paymentId === entry.paymentId && seen.amount === entry.amount) return 'replay';
    return localDecline('idempotency_key_reused', 'This idempotency key was already used for a different request');
  }

  async function sendRefund(paymentId: string, paise: number, idempotencyKey: string): Promise<ApiResult> {
    const body = { amount: paise, notes: { obol_idempotency_key: idempotencyKey } };
    const headers = { 'X-Refund-Idempotency': refundIdempotencyKeyFor(idempotencyKey) };
    const send = (): Promise<unknown> => http.post(`/v1/payments/${encodeURIComponent(paymentId)}/refund`, body, { headers }).then((r) => r.data);
    try {
      return await exchange(send);
    } catch (err) {
      // Same header, same body: Razorpay answers with the refund it already made, if it made one.
      if (!(err instanceof TransportFailure)) throw err;
      await sleep(50);
      return exchange(send);
    }
  }

  const amountTooSmall = localDecline('amount_too_small', `Razorpay's minimum amount is ${MIN_PAISE} paise`);

  // ---- the flows ------------------------------------------------------------------------------

  return {
    name: RAZORPAY_CONNECTOR_NAME,

    createCheckoutOrder: async (props) => {
      const paise = toPaise(props.amount);
      if (typeof paise !== 'number') return { status: 'declined', decline: paise };
      if (paise < MIN_PAISE) return { status: 'declined', decline: amountTooSmall };
      return serialized(props.idempotencyKey, () => flow(async () => {
        const order = await findOrCreateOrder({ idempotencyKey: props.idempotencyKey, paise, captureMethod: props.captureMethod, ...(props.saveFor ? { mandateFor: props.saveFor.customerId } : {}) });
        return 'id' in order ? { status: 'created' as const, orderId: order.id, keyId: args.keyId } : { status: 'declined' as const, decline: order };
      }));
    },

    // `props.authentication` is deliberately not read: see "authentication" in the header.
    authorize: async (props): Promise<AuthorizeOutcome> => {
      const save = props.savePaymentMethod === true;
      const paise = toPaise(props.amount);
      if (typeof paise !== 'number') return { status: 'declined', reference: null, decline: paise };
      if (paise < MIN_PAISE) return { status: 'declined', reference: null, decline: amountTooSmall };
      const method = parsePaymentMethod(props.paymentMethod);
      // The message never echoes the token: it might be something a caller should not have sent.
      if (!method) return { status: 'declined', reference: null, decline: localDecline('invalid_payment_method', 'Not a Razorpay payment-method token') };

      if (method.kind === 'checkout') {
        // Checked before any call: a forged completion must not even cause a read at Razorpay.
        const valid = validatePaymentVerification({ order_id: method.orderId, payment_id: method.paymentId }, method.signature, args.keySecret);
        if (!valid) return { status: 'declined', reference: null, decline: localDecline('invalid_signature', 'The Razorpay Checkout signature does not match this order and payment') };
        return serialized(props.idempotencyKey, () => flow(async (): Promise<AuthorizeOutcome> => {
          const order = await findOrder(props.idempotencyKey);
          if (!order || order.id !== method.orderId) return { status: 'declined', reference: null, decline: localDecline('order_mismatch', 'The checkout was not for the order created under this idempotency key') };
          if (order.amount !== paise || order.currency !== RAZORPAY_CURRENCY) return { status: 'declined', reference: null, decline: localDecline('idempotency_key_reused', 'The order under this idempotency key has a different amount') };
          const payment = await fetchPayment(method.paymentId);
          if (!payment || payment.orderId !== order.id) return { status: 'declined', reference: null, decline: localDecline('order_mismatch', 'The payment does not belong to the order') };
          return withSavedMethod(await settle(payment, props.captureMethod), payment, save);
        }));
      }

      return serialized(props.idempotencyKey, () => flow(async (): Promise<AuthorizeOutcome> => {
        const order = await findOrCreateOrder({ idempotencyKey: props.idempotencyKey, paise, captureMethod: props.captureMethod, scenario: method.scenario, ...(save ? { mandateFor: props.customerId } : {}) });
        if (!('id' in order)) return { status: 'declined', reference: null, decline: order };
        const payment = await decidingPayment(order);
        if (!payment) return { status: 'processing', reference: order.id };
        return withSavedMethod(await settle(payment, props.captureMethod), payment, save);
      }));
    },

    savePaymentMethod: async (props): Promise<SavePaymentMethodOutcome> => {
      const method = parsePaymentMethod(props.paymentMethod);
      if (!method) return { status: 'declined', decline: localDecline('invalid_payment_method', 'Not a Razorpay payment-method token') };

      if (method.kind === 'checkout') {
        const valid = validatePaymentVerification({ order_id: method.orderId, payment_id: method.paymentId }, method.signature, args.keySecret);
        if (!valid) return { status: 'declined', decline: localDecline('invalid_signature', 'The Razorpay Checkout signature does not match this order and payment') };
        return serialized(props.idempotencyKey, () => flow(async (): Promise<SavePaymentMethodOutcome> => {
          const payment = await fetchPayment(method.paymentId);
          if (!payment || payment.orderId !== method.orderId) return { status: 'declined', decline: localDecline('order_mismatch', 'The payment does not belong to the order') };
          const orderResult = await read(() => sdk.orders.fetch(method.orderId));
          if (!orderResult.ok) return { status: 'declined', decline: notFound(method.orderId) };
          // A token may only be saved for the customer whose authorization transaction created it.
          const owner = parseOrder(orderResult.body).notes['obol_customer_id'];
          if (owner !== undefined && owner !== props.customerId) return { status: 'declined', decline: localDecline('customer_mismatch', 'The authorization transaction was made for another customer') };
          return saveOutcome(payment);
        }));
      }

      return serialized(props.idempotencyKey, () => flow(async (): Promise<SavePaymentMethodOutcome> => {
        // ₹1, the smallest authorization transaction; never captured, so Razorpay releases it by itself.
        const order = await findOrCreateOrder({
          idempotencyKey: props.idempotencyKey,
          paise: MIN_PAISE,
          captureMethod: 'manual',
          scenario: method.scenario,
          purpose: 'save_payment_method',
          mandateFor: props.customerId,
          extraNotes: { obol_customer_id: props.customerId },
        });
        if (!('id' in order)) return { status: 'declined', decline: order };
        return saveOutcome(await decidingPayment(order));
      }));
    },

    chargeOffSession: async (props): Promise<AuthorizeOutcome> => {
      const saved = parseSavedPaymentMethod(props.savedPaymentMethod);
      if (!saved) return { status: 'declined', reference: null, decline: localDecline('invalid_payment_method', 'Not a Razorpay saved payment method (<customer_id>:<token_id>)') };
      const paise = toPaise(props.amount);
      if (typeof paise !== 'number') return { status: 'declined', reference: null, decline: paise };
      if (paise < MIN_PAISE) return { status: 'declined', reference: null, decline: amountTooSmall };
      return serialized(props.idempotencyKey, () => flow(async (): Promise<AuthorizeOutcome> => {
        const order = await findOrCreateOrder({
          idempotencyKey: props.idempotencyKey,
          paise,
          captureMethod: 'automatic',
          purpose: 'charge_off_session',
          extraNotes: { obol_saved_payment_method: props.savedPaymentMethod },
        });
        if (!('id' in order)) return { status: 'declined', reference: null, decline: order };
        // The order is this debit's: once it has a payment, that payment is the answer, never a second debit.
        const earlier = await decidingPayment(order);
        if (earlier) return settle(earlier, 'automatic');

        const customerResult = await read(() => sdk.customers.fetch(saved.customerId));
        if (!customerResult.ok) return { status: 'declined', reference: null, decline: apiDecline(customerResult.error) };
        const customer = parseCustomer(customerResult.body);
        const owner = customer.notes['obol_customer_id'];
        if (owner !== undefined && owner !== props.customerId) return { status: 'declined', reference: null, decline: localDecline('customer_mismatch', 'The saved payment method belongs to another customer') };
        if (customer.email === null || customer.contact === null) {
          return { status: 'declined', reference: null, decline: localDecline('customer_details_unavailable', 'Razorpay has no email or contact for this customer, which a recurring payment requires') };
        }
        const request = recurringPaymentRequest({ saved, contactDetails: { email: customer.email, contact: customer.contact }, orderId: order.id, paise, idempotencyKey: props.idempotencyKey, description: props.description });
        // Not retried: no idempotency key here either; a retry under the key finds the order and its payment.
        const sent = await exchange(() => sdk.payments.createRecurringPayment(request));
        const paymentId = sent.ok ? parseRecurringPaymentResponse(sent.body).paymentId : sent.error.paymentId;
        if (paymentId !== null) {
          const payment = await fetchPayment(paymentId);
          if (payment && payment.orderId === order.id) return settle(payment, 'automatic');
          if (sent.ok) throw new UnreadableResponse(`recurring payment ${paymentId} could not be read`);
        }
        return { status: 'declined', reference: paymentId, decline: sent.ok ? notFound(order.id) : apiDecline(sent.error) };
      }));
    },

    resume: (props) =>
      serialized(props.idempotencyKey, () => flow(async () => {
        const outcome = await resumeOutcome(props.reference, props.captureMethod);
        if (outcome.status !== 'declined' || outcome.reference !== null) {
          const paymentId = outcome.reference;
          if (paymentId !== null) await journal.put(props.idempotencyKey, { operation: 'resume', paymentId, amount: 0 });
        }
        return outcome;
      })),

    capture: async (props): Promise<CaptureOutcome> => {
      const paise = toPaise(props.amount);
      if (typeof paise !== 'number') return { status: 'declined', decline: paise };
      return serialized(props.idempotencyKey, () => flow(async (): Promise<CaptureOutcome> => {
        const claimed = await claim(props.idempotencyKey, { operation: 'capture', paymentId: props.reference, amount: paise });
        if (typeof claimed !== 'string') return { status: 'declined', decline: claimed };
        if (claimed === 'replay') {
          // Razorpay capture takes no idempotency key; a replay reads what the first request did.
          const payment = await fetchPayment(props.reference);
          if (payment && (payment.status === 'captured' || payment.status === 'refunded') && payment.amount === paise) return captureOutcome(payment);
        }
        const result = await exchange(() => sdk.payments.capture(props.reference, paise, RAZORPAY_CURRENCY));
        return result.ok ? captureOutcome(parsePayment(result.body)) : { status: 'declined', decline: apiDecline(result.error) };
      }));
    },

    void: async (): Promise<VoidOutcome> => ({
      status: 'declined',
      decline: localDecline('void_not_supported', 'Razorpay cannot void an authorization; an uncaptured payment is refunded automatically when its capture window ends'),
    }),

    refund: async (props): Promise<RefundOutcome> => {
      const paise = toPaise(props.amount);
      if (typeof paise !== 'number') return { status: 'declined', decline: paise };
      return serialized(props.idempotencyKey, () => flow(async (): Promise<RefundOutcome> => {
        const claimed = await claim(props.idempotencyKey, { operation: 'refund', paymentId: props.reference, amount: paise });
        if (typeof claimed !== 'string') return { status: 'declined', decline: claimed };
        const result = await sendRefund(props.reference, paise, props.idempotencyKey);
        return result.ok ? refundOutcome(parseRefund(result.body)) : { status: 'declined', decline: apiDecline(result.error) };
      }));
    },

    retrieve: (props) =>
      flow(async (): Promise<RetrieveOutcome> => {
        switch (props.operation) {
          case 'authorize': {
            const order = await findOrder(props.idempotencyKey);
            if (!order) return { status: 'not_found' };
            const payment = await decidingPayment(order);
            if (!payment) return { status: 'found', operation: 'authorize', outcome: { status: 'processing', reference: order.id } };
            // An order made as an authorization transaction was asked to save the payment method.
            return { status: 'found', operation: 'authorize', outcome: withSavedMethod(paymentToAuthorizeOutcome(payment), payment, order.notes['obol_customer_id'] !== undefined) };
          }
          case 'charge_off_session': {
            const order = await findOrder(props.idempotencyKey, 'charge_off_session');
            const payment = order ? await decidingPayment(order) : undefined;
            // An order without a payment is a debit that never started: a retry under the key sends it.
            return payment ? { status: 'found', operation: 'charge_off_session', outcome: paymentToAuthorizeOutcome(payment) } : { status: 'not_found' };
          }
          case 'resume': {
            const entry = await journal.get(props.idempotencyKey);
            if (entry?.operation !== 'resume') return { status: 'not_found' };
            return { status: 'found', operation: 'resume', outcome: await resumeOutcome(entry.paymentId) };
          }
          case 'capture': {
            const entry = await journal.get(props.idempotencyKey);
            if (entry?.operation !== 'capture') return { status: 'not_found' };
            const payment = await fetchPayment(entry.paymentId);
            if (!payment || (payment.status !== 'captured' && payment.status !== 'refunded')) return { status: 'not_found' };
            return { status: 'found', operation: 'capture', outcome: captureOutcome(payment) };
          }
          case 'refund': {
            const entry = await journal.get(props.idempotencyKey);
            if (entry?.operation !== 'refund') return { status: 'not_found' };
            const result = await read(() => sdk.payments.fetchMultipleRefund(entry.paymentId));
            if (!result.ok) return { status: 'not_found' };
            const refund = parseCollection(result.body, parseRefund).find((r) => r.notes['obol_idempotency_key'] === props.idempotencyKey);
            return refund ? { status: 'found', operation: 'refund', outcome: refundOutcome(refund) } : { status: 'not_found' };
          }
          case 'void':
            // `void` never sends anything to Razorpay.
            return { status: 'not_found' };
          default: {
            const unreachable: never = props.operation;
            throw new UnreadableResponse(`unknown operation ${String(unreachable)}`);
          }
        }
      }),
  };
}
