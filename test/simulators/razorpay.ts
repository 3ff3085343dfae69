/**
 * A local simulator of the parts of Razorpay's HTTP API that Obol's Razorpay connector uses, so the
 * real `razorpay` SDK can be exercised without internet. It is a test double with in-memory state,
 * not Obol storage; every response body uses Razorpay's documented JSON shapes (orders, payments,
 * refunds, collections, and `{ error: { code, description, source, step, reason, metadata } }`).
 *
 * Checkout is the customer's part and happens in a browser, so the simulator plays it in two ways:
 * - `completeCheckout({ orderId, outcome })` is what the browser would report back to Obol
 *   (`razorpay_payment_id`, `razorpay_order_id`, `razorpay_signature`).
 * - An order created with `notes.obol_sim_scenario` is paid at once with that scenario, which lets
 *   a single server call stand for "order created and checkout completed". Real Razorpay ignores
 *   notes, so against a real account such an order just waits for Checkout.
 *
 * Faithful behaviours worth knowing: ids are 400 BAD_REQUEST_ERROR when unknown (as Razorpay does);
 * capture must be of exactly the authorized amount (Razorpay has no partial capture); refunds need
 * a captured payment and honour the `X-Refund-Idempotency` header (same key and body: the same
 * refund; same key, different body: BAD_REQUEST_ERROR); `receipt` is at most 40 characters.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const RAZORPAY_SIM_SCENARIOS = [
  'success',
  'card_declined',
  'insufficient_funds',
  'payment_failed',
  'authentication_failed',
  'gateway_technical_error',
  'server_error',
  /** Paid like `success`, but the response to the order creation is lost. */
  'timeout',
] as const;
export type RazorpaySimScenario = (typeof RAZORPAY_SIM_SCENARIOS)[number];

interface RazorpayErrorBody {
  readonly code: 'BAD_REQUEST_ERROR' | 'GATEWAY_ERROR' | 'SERVER_ERROR';
  readonly description: string;
  readonly source: string;
  readonly step: string;
  readonly reason: string;
  readonly metadata: Record<string, string>;
}

interface SimOrder {
  id: string;
  entity: 'order';
  amount: number;
  amount_paid: number;
  amount_due: number;
  currency: string;
  receipt: string | null;
  offer_id: null;
  status: 'created' | 'attempted' | 'paid';
  attempts: number;
  notes: Record<string, string>;
  created_at: number;
  /** Not part of Razorpay's order JSON: kept out of responses. */
  autoCapture: boolean;
}

interface SimPayment {
  id: string;
  entity: 'payment';
  amount: number;
  currency: string;
  status: 'created' | 'authorized' | 'captured' | 'refunded' | 'failed';
  order_id: string;
  invoice_id: null;
  international: boolean;
  method: 'card';
  amount_refunded: number;
  refund_status: null | 'partial' | 'full';
  captured: boolean;
  description: string | null;
  card_id: string;
  bank: null;
  wallet: null;
  vpa: null;
  email: string;
  contact: string;
  notes: Record<string, string>;
  fee: number | null;
  tax: number | null;
  error_code: string | null;
  error_description: string | null;
  error_source: string | null;
  error_step: string | null;
  error_reason: string | null;
  acquirer_data: Record<string, string | null>;
  created_at: number;
}

interface SimRefund {
  id: string;
  entity: 'refund';
  amount: number;
  currency: string;
  payment_id: string;
  notes: Record<string, string>;
  receipt: null;
  acquirer_data: { arn: string | null };
  created_at: number;
  batch_id: null;
  status: 'pending' | 'processed' | 'failed';
  speed_processed: 'normal';
  speed_requested: 'normal';
}

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: unknown;
}

export interface RequestMatch {
  readonly method?: string;
  readonly path?: string;
}

export interface RazorpaySimulator {
  readonly port: number;
  readonly baseUrl: string;
  readonly keyId: string;
  readonly keySecret: string;
  close(): Promise<void>;
  /** The next request (matching `only`, if given) is executed, then its connection is destroyed before any response. */
  dropNextResponse(only?: RequestMatch): void;
  /** The next request (matching `only`, if given) is answered 500 SERVER_ERROR without being executed. */
  failNextRequest(only?: RequestMatch): void;
  /** Plays the customer paying the order in Razorpay Checkout; returns what the browser hands Obol. */
  completeCheckout(args: { readonly orderId: string; readonly outcome?: RazorpaySimScenario }): { paymentId: string; orderId: string; signature: string };
  /** Every request received, oldest first. */
  requests(): readonly RecordedRequest[];
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
function entityId(prefix: string): string {
  const bytes = randomBytes(14);
  return `${prefix}_${Array.from(bytes, (b) => ALPHABET[b % ALPHABET.length]).join('')}`;
}

const now = (): number => Math.floor(Date.now() / 1000);

class SimError extends Error {
  constructor(
    readonly status: number,
    readonly body: RazorpayErrorBody,
  ) {
    super(body.description);
  }
}

function badRequest(description: string, field?: string): SimError {
  return new SimError(400, { code: 'BAD_REQUEST_ERROR', description, source: 'business', step: 'payment_initiation', reason: 'input_validation_failed', metadata: field ? { field } : {} });
}

/** What a failed payment carries for each declining scenario, as Razorpay reports it on the payment entity. */
const FAILURES: Partial<Record<RazorpaySimScenario, Omit<RazorpayErrorBody, 'metadata'>>> = {
  card_declined: { code: 'BAD_REQUEST_ERROR', description: 'Your payment has been declined by the bank.', source: 'bank', step: 'payment_authorization', reason: 'card_declined' },
  insufficient_funds: { code: 'BAD_REQUEST_ERROR', description: 'Your payment could not be completed due to insufficient account balance.', source: 'customer', step: 'payment_authorization', reason: 'insufficient_funds' },
  payment_failed: { code: 'BAD_REQUEST_ERROR', description: 'Payment failed.', source: 'bank', step: 'payment_authorization', reason: 'payment_failed' },
  authentication_failed: { code: 'BAD_REQUEST_ERROR', description: 'Payment failed because cardholder couldn\'t be authenticated.', source: 'customer', step: 'payment_authentication', reason: 'authentication_failed' },
  gateway_technical_error: { code: 'GATEWAY_ERROR', description: 'Payment processing failed due to error at bank or wallet gateway.', source: 'gateway', step: 'payment_authorization', reason: 'gateway_technical_error' },
  server_error: { code: 'SERVER_ERROR', description: 'The server encountered an error. The incident has been reported to admins.', source: 'internal', step: 'payment_authorization', reason: 'server_error' },
};

function isScenario(value: unknown): value is RazorpaySimScenario {
  return typeof value === 'string' && (RAZORPAY_SIM_SCENARIOS as readonly string[]).includes(value);
}

function stringRecord(value: unknown): Record<string, string> {
  if (typeof value !== 'object' || value === null) return {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) if (typeof v === 'string' || typeof v === 'number') out[k] = String(v);
  return out;
}

function readBody(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.length === 0) return resolve({});
      try {
        resolve(JSON.parse(text) as unknown);
      } catch {
        resolve({});
      }
    });
    req.on('error', reject);
  });
}

const publicOrder = ({ autoCapture: _hidden, ...order }: SimOrder): Omit<SimOrder, 'autoCapture'> => order;
const collection = <T>(items: readonly T[]): { entity: 'collection'; count: number; items: readonly T[] } => ({ entity: 'collection', count: items.length, items });

export async function startRazorpaySimulator(): Promise<RazorpaySimulator> {
  const keyId = `rzp_test_${randomBytes(7).toString('hex')}`;
  const keySecret = randomBytes(18).toString('hex');
  const orders = new Map<string, SimOrder>();
  const payments = new Map<string, SimPayment>();
  const refunds = new Map<string, SimRefund>();
  const refundKeys = new Map<string, { readonly body: string; readonly refundId: string }>();
  const log: RecordedRequest[] = [];
  let dropNext: RequestMatch | undefined;
  let failNext: RequestMatch | undefined;
  const matches = (m: RequestMatch | undefined, method: string, path: string): boolean => m !== undefined && (m.method === undefined || m.method === method) && (m.path === undefined || m.path === path);
  /** Order creations whose response is lost (scenario `timeout`). */
  const dropThisResponse = new WeakSet<IncomingMessage>();

  const sign = (orderId: string, paymentId: string): string => createHmac('sha256', keySecret).update(`${orderId}|${paymentId}`).digest('hex');

  function pay(order: SimOrder, scenario: RazorpaySimScenario): SimPayment {
    const failure = FAILURES[scenario];
    const captured = failure === undefined && order.autoCapture;
    const payment: SimPayment = {
      id: entityId('pay'),
      entity: 'payment',
      amount: order.amount,
      currency: order.currency,
      status: failure ? 'failed' : captured ? 'captured' : 'authorized',
      order_id: order.id,
      invoice_id: null,
      international: false,
      method: 'card',
      amount_refunded: 0,
      refund_status: null,
      captured,
      description: null,
      card_id: entityId('card'),
      bank: null,
      wallet: null,
      vpa: null,
      email: 'customer@example.com',
      contact: '+919000090000',
      notes: {},
      fee: captured ? Math.round(order.amount * 0.02) : null,
      tax: captured ? 0 : null,
      error_code: failure?.code ?? null,
      error_description: failure?.description ?? null,
      error_source: failure?.source ?? null,
      error_step: failure?.step ?? null,
      error_reason: failure?.reason ?? null,
      acquirer_data: { auth_code: failure ? null : String(100000 + (randomBytes(2).readUInt16BE() % 900000)) },
      created_at: now(),
    };
    payments.set(payment.id, payment);
    order.attempts += 1;
    order.status = failure ? 'attempted' : 'paid';
    if (!failure) {
      order.amount_paid = order.amount;
      order.amount_due = 0;
    }
    return payment;
  }

  function order(id: string): SimOrder {
    const found = orders.get(id);
    if (!found) throw badRequest('The id provided does not exist', 'id');
    return found;
  }
  function payment(id: string): SimPayment {
    const found = payments.get(id);
    if (!found) throw badRequest('The id provided does not exist', 'id');
    return found;
  }

  async function route(req: IncomingMessage, method: string, path: string, query: URLSearchParams, body: unknown): Promise<unknown> {
    const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
    let m: RegExpMatchArray | null;

    if (method === 'POST' && path === '/v1/orders') {
      const amount = b['amount'];
      if (typeof amount !== 'number' || !Number.isInteger(amount)) throw badRequest('The amount must be an integer.', 'amount');
      if (amount < 100) throw badRequest('The amount must be atleast INR 1.00', 'amount');
      const currency = typeof b['currency'] === 'string' ? b['currency'] : 'INR';
      if (currency !== 'INR') throw badRequest('Currency is not supported', 'currency');
      const receipt = typeof b['receipt'] === 'string' ? b['receipt'] : null;
      if (receipt !== null && receipt.length > 40) throw badRequest('The receipt may not be greater than 40 characters.', 'receipt');
      const notes = stringRecord(b['notes']);
      const created: SimOrder = {
        id: entityId('order'),
        entity: 'order',
        amount,
        amount_paid: 0,
        amount_due: amount,
        currency,
        receipt,
        offer_id: null,
        status: 'created',
        attempts: 0,
        notes,
        created_at: now(),
        autoCapture: b['payment_capture'] === true || b['payment_capture'] === 1 || b['payment_capture'] === '1',
      };
      orders.set(created.id, created);
      const scenario = notes['obol_sim_scenario'];
      if (isScenario(scenario)) {
        pay(created, scenario);
        if (scenario === 'timeout') dropThisResponse.add(req);
      }
      return publicOrder(created);
    }
    if (method === 'GET' && path === '/v1/orders') {
      const receipt = query.get('receipt');
      const all = [...orders.values()].filter((o) => receipt === null || o.receipt === receipt).sort((a, b2) => b2.created_at - a.created_at);
      return collection(all.map(publicOrder));
    }
    if (method === 'GET' && (m = path.match(/^\/v1\/orders\/([^/]+)\/payments$/))) {
      const o = order(m[1]!);
      return collection([...payments.values()].filter((p) => p.order_id === o.id).reverse());
    }
    if (method === 'GET' && (m = path.match(/^\/v1\/orders\/([^/]+)$/))) return publicOrder(order(m[1]!));
    if (method === 'GET' && (m = path.match(/^\/v1\/payments\/([^/]+)$/))) return payment(m[1]!);
    if (method === 'POST' && (m = path.match(/^\/v1\/payments\/([^/]+)\/capture$/))) {
      const p = payment(m[1]!);
      const amount = b['amount'];
      if (p.status === 'captured' || p.status === 'refunded') throw badRequest('This payment has already been captured');
      if (p.status !== 'authorized') throw badRequest('Only payments which have been authorized and not yet captured can be captured');
      if (typeof b['currency'] === 'string' && b['currency'] !== p.currency) throw badRequest('Currency should be same as payment currency', 'currency');
      // Razorpay has no partial capture: the amount must be exactly what was authorized.
      if (amount !== p.amount) throw badRequest('Capture amount must be equal to the amount authorized', 'amount');
      p.status = 'captured';
      p.captured = true;
      p.fee = Math.round(p.amount * 0.02);
      p.tax = 0;
      return p;
    }
    if (method === 'POST' && (m = path.match(/^\/v1\/payments\/([^/]+)\/refund$/))) {
      const p = payment(m[1]!);
      const header = req.headers['x-refund-idempotency'];
      const key = typeof header === 'string' ? header : undefined;
      const canonical = JSON.stringify({ amount: b['amount'] ?? null, notes: b['notes'] ?? null, speed: b['speed'] ?? null });
      if (key !== undefined) {
        if (!/^[A-Za-z0-9_-]{10,}$/.test(key)) throw badRequest('The idempotency key must be at least 10 characters and contain only alphanumerics, hyphens and underscores');
        const seen = refundKeys.get(key);
        if (seen) {
          if (seen.body !== canonical) {
            throw new SimError(400, { code: 'BAD_REQUEST_ERROR', description: 'Different request with the same idempotency key has already been processed.', source: 'NA', step: 'NA', reason: 'NA', metadata: {} });
          }
          return refunds.get(seen.refundId);
        }
      }
      if (!p.captured) throw badRequest('The payment has not been captured');
      const remaining = p.amount - p.amount_refunded;
      const amount = b['amount'] === undefined ? remaining : b['amount'];
      if (typeof amount !== 'number' || !Number.isInteger(amount) || amount < 100) throw badRequest('The amount must be atleast INR 1.00', 'amount');
      if (remaining === 0) throw badRequest('The payment has been fully refunded already');
      if (amount > remaining) throw badRequest('The refund amount provided is greater than amount captured', 'amount');
      const refund: SimRefund = {
        id: entityId('rfnd'),
        entity: 'refund',
        amount,
        currency: p.currency,
        payment_id: p.id,
        notes: stringRecord(b['notes']),
        receipt: null,
        acquirer_data: { arn: null },
        created_at: now(),
        batch_id: null,
        status: 'processed',
        speed_processed: 'normal',
        speed_requested: 'normal',
      };
      refunds.set(refund.id, refund);
      if (key !== undefined) refundKeys.set(key, { body: canonical, refundId: refund.id });
      p.amount_refunded += amount;
      p.refund_status = p.amount_refunded === p.amount ? 'full' : 'partial';
      if (p.amount_refunded === p.amount) p.status = 'refunded';
      return refund;
    }
    if (method === 'GET' && (m = path.match(/^\/v1\/payments\/([^/]+)\/refunds$/))) {
      const p = payment(m[1]!);
      return collection([...refunds.values()].filter((r) => r.payment_id === p.id).reverse());
    }
    if (method === 'GET' && (m = path.match(/^\/v1\/refunds\/([^/]+)$/))) {
      const r = refunds.get(m[1]!);
      if (!r) throw badRequest('The id provided does not exist', 'id');
      return r;
    }
    throw new SimError(404, { code: 'BAD_REQUEST_ERROR', description: 'The requested URL was not found on the server.', source: 'NA', step: 'NA', reason: 'NA', metadata: {} });
  }

  const expectedAuth = `Basic ${Buffer.from(`${keyId}:${keySecret}`).toString('base64')}`;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = req.method ?? 'GET';
    const body = await readBody(req);
    log.push({ method, path: url.pathname, headers: { ...req.headers }, body });
    const send = (status: number, payload: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(payload));
    };
    if (req.headers.authorization !== expectedAuth) {
      send(401, { error: { code: 'BAD_REQUEST_ERROR', description: 'The api key provided is invalid', source: 'NA', step: 'NA', reason: 'NA', metadata: {} } });
      return;
    }
    if (matches(failNext, method, url.pathname)) {
      failNext = undefined;
      send(500, { error: { code: 'SERVER_ERROR', description: 'The server encountered an error. The incident has been reported to admins.', source: 'NA', step: 'NA', reason: 'server_error', metadata: {} } });
      return;
    }
    const drop = matches(dropNext, method, url.pathname);
    if (drop) dropNext = undefined;
    let status = 200;
    let payload: unknown;
    try {
      payload = await route(req, method, url.pathname, url.searchParams, body);
    } catch (err) {
      if (!(err instanceof SimError)) throw err;
      status = err.status;
      payload = { error: err.body };
    }
    if (drop || dropThisResponse.has(req)) {
      // Executed, but the client never hears back: exactly the "unknown outcome" case.
      req.socket.destroy();
      return;
    }
    send(status, payload);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'SERVER_ERROR', description: 'simulator failure', source: 'NA', step: 'NA', reason: 'server_error', metadata: {} } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    port,
    baseUrl: `http://127.0.0.1:${port}`,
    keyId,
    keySecret,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
    dropNextResponse: (only = {}) => {
      dropNext = only;
    },
    failNextRequest: (only = {}) => {
      failNext = only;
    },
    completeCheckout: ({ orderId, outcome = 'success' }) => {
      const o = order(orderId);
      const p = pay(o, outcome);
      // Real Checkout signs only successful payments; signing failures too keeps tests short and
      // lets them check that a valid signature does not turn a failed payment into a success.
      return { paymentId: p.id, orderId: o.id, signature: sign(o.id, p.id) };
    },
    requests: () => [...log],
  };
}
