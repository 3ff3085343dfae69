/**
 * A local test double of the part of Stripe's HTTP API that Obol's Stripe connector uses, so the
 * real `stripe` SDK can be exercised without internet. State lives in memory: this is Stripe's
 * side of the wire, not Obol storage.
 *
 * What it imitates (shapes follow Stripe's API reference; only the fields Obol reads and a few
 * neighbours are present):
 * - form-encoded bodies, `Authorization: Bearer <secret key>` (401 `invalid_request_error` otherwise);
 * - `Idempotency-Key` on POSTs: the same key with the same method, path and parameters replays the
 *   stored status and body; with anything different it is Stripe's 400 `idempotency_error`. Like
 *   Stripe, a request refused before it started executing (bad key, validation) is not stored;
 * - PaymentIntents: create (+confirm), confirm, capture (partial via `amount_to_capture`), cancel,
 *   update (metadata), retrieve, and the Search API for `metadata['name']:'value'` queries;
 * - Refunds: create (partial), retrieve, list by `payment_intent`;
 * - Stripe's documented test payment methods (pm_card_visa, pm_card_chargeDeclined…, and
 *   pm_card_threeDSecure2Required), declines as HTTP 402 `card_error` with the PaymentIntent
 *   moved to `requires_payment_method` and carrying `last_payment_error`.
 *
 * Simulator-only: `pm_card_simulator_timeout` is executed but every response to its creation is
 * dropped (socket destroyed), and `dropNextResponse()` does the same to the next single response;
 * `stallNextResponse()` never answers (a client timeout) and `failNextRequest()` answers HTTP 500.
 * Known simplifications: search is immediately consistent (Stripe's may lag by up to a minute);
 * refunding an uncaptured PaymentIntent is refused (Stripe would release the authorization).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const STRIPE_SIMULATOR_SECRET_KEY = 'sk_test_obol_simulator';

export interface StripeSimulatorRequest {
  readonly method: string;
  readonly path: string;
  readonly idempotencyKey: string | null;
  readonly params: Readonly<Record<string, string>>;
}

export interface StripeSimulator {
  readonly port: number;
  readonly secretKey: string;
  close(): Promise<void>;
  /** Plays the cardholder at the issuer's ACS for a PaymentIntent waiting in `requires_action`. */
  completeChallenge(paymentIntentId: string, outcome: 'authenticated' | 'failed'): void;
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

interface RefundState {
  readonly id: string;
  readonly amount: number;
  readonly currency: string;
  readonly charge: string;
  readonly paymentIntent: string;
  readonly created: number;
  readonly metadata: Record<string, string>;
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

const id = (prefix: string): string => `${prefix}_${randomBytes(12).toString('hex')}`;
const now = (): number => Math.floor(Date.now() / 1000);

/** Stripe's test payment methods and how the issuer treats them. */
type CardBehavior =
  | { readonly kind: 'approve' }
  | { readonly kind: 'decline'; readonly code: string; readonly declineCode: string | null; readonly message: string }
  | { readonly kind: 'three_d_secure' };

const TEST_CARDS: ReadonlyMap<string, CardBehavior> = new Map<string, CardBehavior>([
  ['pm_card_visa', { kind: 'approve' }],
  ['pm_card_mastercard', { kind: 'approve' }],
  ['pm_card_simulator_timeout', { kind: 'approve' }],
  ['pm_card_chargeDeclined', { kind: 'decline', code: 'card_declined', declineCode: 'generic_decline', message: 'Your card was declined.' }],
  ['pm_card_chargeDeclinedInsufficientFunds', { kind: 'decline', code: 'card_declined', declineCode: 'insufficient_funds', message: 'Your card has insufficient funds.' }],
  ['pm_card_chargeDeclinedProcessingError', { kind: 'decline', code: 'processing_error', declineCode: null, message: 'An error occurred while processing your card. Try again in a little bit.' }],
  ['pm_card_threeDSecure2Required', { kind: 'three_d_secure' }],
]);

const TIMEOUT_PAYMENT_METHOD = 'pm_card_simulator_timeout';

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

export async function startStripeSimulator(options: { readonly secretKey?: string } = {}): Promise<StripeSimulator> {
  const secretKey = options.secretKey ?? STRIPE_SIMULATOR_SECRET_KEY;
  const intents = new Map<string, PaymentIntentState>();
  const refunds = new Map<string, RefundState>();
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

  const intentJson = (pi: PaymentIntentState): JsonObject => ({
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
    customer: null,
    description: pi.description,
    last_payment_error: pi.lastPaymentError,
    latest_charge: pi.latestCharge,
    livemode: false,
    metadata: { ...pi.metadata },
    next_action: pi.nextAction,
    payment_method: pi.paymentMethod,
    payment_method_types: ['card'],
    status: pi.status,
  });

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

  const intentOr404 = (intentId: string): PaymentIntentState => {
    const pi = intents.get(intentId);
    if (!pi) throw invalidRequest(`No such payment_intent: '${intentId}'`, { code: 'resource_missing', param: 'intent' }, 404);
    return pi;
  };

  const unexpectedState = (pi: PaymentIntentState, action: string, allowed: readonly string[]): HttpError =>
    invalidRequest(`This PaymentIntent's ${action} could not be performed because it has a status of ${pi.status}. Only a PaymentIntent with one of the following statuses may be ${action}: ${allowed.join(', ')}.`, {
      code: 'payment_intent_unexpected_state',
      payment_intent: intentJson(pi),
    });

  const authorizeFunds = (pi: PaymentIntentState): void => {
    pi.nextAction = null;
    pi.lastPaymentError = null;
    pi.latestCharge = id('ch');
    if (pi.captureMethod === 'manual') {
      pi.status = 'requires_capture';
      pi.amountCapturable = pi.amount;
    } else {
      pi.status = 'succeeded';
      pi.amountReceived = pi.amount;
    }
  };

  /** Runs a confirmation with the attached payment method; a decline throws Stripe's 402. */
  const confirm = (pi: PaymentIntentState, returnUrl: string | undefined): Reply => {
    const pm = pi.paymentMethod;
    const card = pm === null ? undefined : TEST_CARDS.get(pm);
    if (pm === null || card === undefined) {
      throw invalidRequest(`No such PaymentMethod: '${pm ?? ''}'`, { code: 'resource_missing', param: 'payment_method' });
    }
    switch (card.kind) {
      case 'approve':
        authorizeFunds(pi);
        break;
      case 'three_d_secure': {
        pi.status = 'requires_action';
        const url = `https://hooks.stripe.com/3d_secure_2/hosted?merchant=acct_simulator&payment_intent=${pi.id}`;
        // Stripe only redirects when the confirmation named a return_url; otherwise Stripe.js handles it.
        pi.nextAction =
          returnUrl !== undefined
            ? { type: 'redirect_to_url', redirect_to_url: { url, return_url: returnUrl } }
            : { type: 'use_stripe_sdk', use_stripe_sdk: { type: 'three_d_secure_redirect', stripe_js: url, source: id('src') } };
        break;
      }
      case 'decline': {
        const charge = id('ch');
        const error: JsonObject = {
          type: 'card_error',
          code: card.code,
          ...(card.declineCode !== null ? { decline_code: card.declineCode } : {}),
          charge,
          doc_url: `https://docs.stripe.com/error-codes/${card.code.replaceAll('_', '-')}`,
          message: card.message,
          payment_method: { id: pm, object: 'payment_method', type: 'card' },
        };
        pi.status = 'requires_payment_method';
        pi.latestCharge = charge;
        pi.lastPaymentError = error;
        pi.nextAction = null;
        throw new HttpError(402, { ...error, payment_intent: intentJson(pi), request_log_url: `https://dashboard.stripe.com/test/logs/${id('req')}` }, true);
      }
    }
    return { status: 200, body: intentJson(pi) };
  };

  const routes = (method: string, path: string, params: Readonly<Record<string, string>>, query: URLSearchParams): Reply => {
    if (method === 'POST' && path === '/v1/payment_intents') {
      const amount = positiveInteger(params, 'amount', true) ?? 0;
      const currency = params['currency'];
      if (currency === undefined || !/^[a-z]{3}$/.test(currency)) throw invalidRequest('Invalid currency.', { code: 'parameter_invalid_string', param: 'currency' }, 400, false);
      const captureMethod = params['capture_method'] ?? 'automatic';
      if (captureMethod !== 'automatic' && captureMethod !== 'manual') throw invalidRequest('Invalid capture_method.', { param: 'capture_method' }, 400, false);
      const pi: PaymentIntentState = {
        id: id('pi'),
        amount,
        currency,
        captureMethod,
        created: now(),
        description: params['description'] ?? null,
        paymentMethod: params['payment_method'] ?? null,
        status: params['payment_method'] !== undefined ? 'requires_confirmation' : 'requires_payment_method',
        amountCapturable: 0,
        amountReceived: 0,
        latestCharge: null,
        lastPaymentError: null,
        nextAction: null,
        cancellationReason: null,
        metadata: metadataOf(params),
      };
      intents.set(pi.id, pi);
      if (params['confirm'] === 'true') return confirm(pi, params['return_url']);
      return { status: 200, body: intentJson(pi) };
    }

    if (method === 'GET' && path === '/v1/payment_intents/search') {
      const q = query.get('query') ?? '';
      const m = /^metadata\['([^']+)'\]:'([^']*)'$/.exec(q.trim());
      if (!m) throw invalidRequest(`The simulator only supports metadata['key']:'value' queries, got: ${q}`, { code: 'parameter_invalid_string', param: 'query' });
      const [, name, value] = m;
      const data = [...intents.values()].filter((pi) => name !== undefined && pi.metadata[name] === value).map(intentJson);
      return { status: 200, body: { object: 'search_result', url: '/v1/payment_intents/search', has_more: false, next_page: null, data } };
    }

    const piMatch = /^\/v1\/payment_intents\/([^/]+)(?:\/(confirm|capture|cancel))?$/.exec(path);
    if (piMatch?.[1] !== undefined) {
      const pi = intentOr404(piMatch[1]);
      const action = piMatch[2];
      if (method === 'GET' && action === undefined) return { status: 200, body: intentJson(pi) };
      if (method === 'POST' && action === undefined) {
        Object.assign(pi.metadata, metadataOf(params));
        return { status: 200, body: intentJson(pi) };
      }
      if (method === 'POST' && action === 'confirm') {
        if (params['payment_method'] !== undefined) pi.paymentMethod = params['payment_method'];
        if (pi.status === 'requires_action') return { status: 200, body: intentJson(pi) };
        if (pi.status !== 'requires_confirmation' && pi.status !== 'requires_payment_method') throw unexpectedState(pi, 'confirmed', ['requires_confirmation', 'requires_payment_method']);
        return confirm(pi, params['return_url']);
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
        return { status: 200, body: intentJson(pi) };
      }
      if (method === 'POST' && action === 'cancel') {
        const cancelable = ['requires_payment_method', 'requires_capture', 'requires_confirmation', 'requires_action', 'processing'];
        if (!cancelable.includes(pi.status)) throw unexpectedState(pi, 'canceled', cancelable);
        pi.status = 'canceled';
        pi.amountCapturable = 0;
        pi.nextAction = null;
        pi.cancellationReason = params['cancellation_reason'] ?? null;
        return { status: 200, body: intentJson(pi) };
      }
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

  return {
    port,
    secretKey,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
    completeChallenge: (paymentIntentId, outcome) => {
      const pi = intents.get(paymentIntentId);
      if (!pi || pi.status !== 'requires_action') throw new Error(`no challenge pending for ${paymentIntentId}`);
      if (outcome === 'authenticated') {
        authorizeFunds(pi);
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
    },
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
  };
}
