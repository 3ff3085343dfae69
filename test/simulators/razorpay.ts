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
 * Recurring payments (Customers + Tokens, "card recurring"): POST /v1/customers (with
 * `fail_existing: 0` it returns the customer of the same email and contact), GET
 * /v1/customers/:id and its tokens; an order created with `customer_id`, `method: 'card'` and a
 * `token` mandate is an authorization transaction, and its successful payment creates a confirmed
 * recurring token (`token_id` and `customer_id` on the payment). POST
 * /v1/payments/create/recurring debits a token against a fresh order and answers with
 * `razorpay_payment_id`/`razorpay_order_id`/`razorpay_signature`; a refused debit is an error
 * whose `metadata` names the failed payment (400 for bank/customer declines, 502 for gateway
 * errors, as Razorpay). An order is paid at most once. Documented rules it applies:
 * - a debit above the token's `max_amount` is refused (input validation);
 * - a debit above ₹15,000 (RBI's AFA-exempt limit for recurring payments) needs the customer to
 *   complete AFA from the pre-debit notification. Nobody does in the simulator, so such a debit
 *   fails with reason `authentication_failed`;
 * - `failRecurringDebits({ tokenId, outcome })` plays the issuer refusing later debits of a token
 *   (e.g. the account ran out of funds); real Razorpay has no such switch.
 * Debits are decided at once here; at some banks they stay `created` for up to ~36 hours.
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
  /** Set on authorization transactions (and kept out of responses like autoCapture). */
  customerId: string | null;
  mandate: SimMandate | null;
}

interface SimMandate {
  readonly max_amount: number;
  readonly expire_at: number;
  readonly frequency: string;
}

interface SimCustomer {
  id: string;
  entity: 'customer';
  name: string | null;
  email: string | null;
  contact: string | null;
  gstin: null;
  notes: Record<string, string>;
  created_at: number;
}

interface SimToken {
  id: string;
  entity: 'token';
  token: string;
  bank: null;
  wallet: null;
  method: 'card';
  card: { entity: 'card'; name: string; last4: string; network: string; type: string; issuer: string; international: boolean; emi: boolean; expiry_month: number; expiry_year: number };
  recurring: boolean;
  recurring_details: { status: 'confirmed' | 'cancelled'; failure_reason: string | null };
  auth_type: null;
  mrn: null;
  used_at: number;
  created_at: number;
  expired_at: number;
  max_amount: number;
  dcc_enabled: boolean;
  /** Not part of Razorpay's token JSON. */
  customerId: string;
  debitOutcome: RazorpaySimScenario;
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
  customer_id: string | null;
  token_id: string | null;
  recurring: boolean;
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
  /** From now on, debits of this recurring token fail as `outcome` does (`success` restores them). */
  failRecurringDebits(args: { readonly tokenId: string; readonly outcome: RazorpaySimScenario }): void;
}

/** RBI: recurring debits above ₹15,000 need an additional factor of authentication. */
export const RAZORPAY_SIM_AFA_LIMIT_PAISE = 1_500_000;

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

const publicOrder = ({ autoCapture: _capture, customerId: _customer, mandate: _mandate, ...order }: SimOrder): Omit<SimOrder, 'autoCapture' | 'customerId' | 'mandate'> => order;
const publicToken = ({ customerId: _customer, debitOutcome: _outcome, ...token }: SimToken): Omit<SimToken, 'customerId' | 'debitOutcome'> => token;
const AFA_FAILURE: Omit<RazorpayErrorBody, 'metadata'> = {
  code: 'BAD_REQUEST_ERROR',
  description: 'Payment failed because the customer did not complete the additional factor of authentication required for this amount.',
  source: 'customer',
  step: 'payment_authentication',
  reason: 'authentication_failed',
};
const collection = <T>(items: readonly T[]): { entity: 'collection'; count: number; items: readonly T[] } => ({ entity: 'collection', count: items.length, items });

export async function startRazorpaySimulator(): Promise<RazorpaySimulator> {
  const keyId = `rzp_test_${randomBytes(7).toString('hex')}`;
  const keySecret = randomBytes(18).toString('hex');
  const orders = new Map<string, SimOrder>();
  const payments = new Map<string, SimPayment>();
  const refunds = new Map<string, SimRefund>();
  const refundKeys = new Map<string, { readonly body: string; readonly refundId: string }>();
  const customers = new Map<string, SimCustomer>();
  const tokens = new Map<string, SimToken>();
  const log: RecordedRequest[] = [];
  let dropNext: RequestMatch | undefined;
  let failNext: RequestMatch | undefined;
  const matches = (m: RequestMatch | undefined, method: string, path: string): boolean => m !== undefined && (m.method === undefined || m.method === method) && (m.path === undefined || m.path === path);
  /** Order creations whose response is lost (scenario `timeout`). */
  const dropThisResponse = new WeakSet<IncomingMessage>();

  const sign = (orderId: string, paymentId: string): string => createHmac('sha256', keySecret).update(`${orderId}|${paymentId}`).digest('hex');

  function issueToken(customerId: string, mandate: SimMandate): SimToken {
    const token: SimToken = {
      id: entityId('token'),
      entity: 'token',
      token: randomBytes(7).toString('hex'),
      bank: null,
      wallet: null,
      method: 'card',
      card: { entity: 'card', name: 'Gaurav Kumar', last4: '1111', network: 'Visa', type: 'credit', issuer: 'HDFC', international: false, emi: false, expiry_month: 12, expiry_year: 2034 },
      recurring: true,
      recurring_details: { status: 'confirmed', failure_reason: null },
      auth_type: null,
      mrn: null,
      used_at: now(),
      created_at: now(),
      expired_at: mandate.expire_at,
      max_amount: mandate.max_amount,
      dcc_enabled: false,
      customerId,
      debitOutcome: 'success',
    };
    tokens.set(token.id, token);
    return token;
  }

  function pay(order: SimOrder, scenario: RazorpaySimScenario, recurring?: { readonly token: SimToken; readonly email: string; readonly contact: string; readonly notes: Record<string, string>; readonly description: string | null }): SimPayment {
    const failure = recurring ? (recurring.token.debitOutcome !== 'success' ? FAILURES[recurring.token.debitOutcome] : order.amount > RAZORPAY_SIM_AFA_LIMIT_PAISE ? AFA_FAILURE : undefined) : FAILURES[scenario];
    const captured = failure === undefined && order.autoCapture;
    // An authorization transaction's successful payment registers the mandate as a recurring token.
    const token = recurring ? recurring.token : failure === undefined && order.customerId !== null && order.mandate !== null ? issueToken(order.customerId, order.mandate) : undefined;
    const customerId = recurring ? recurring.token.customerId : order.customerId;
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
      description: recurring?.description ?? null,
      card_id: entityId('card'),
      customer_id: customerId,
      token_id: token?.id ?? null,
      recurring: recurring !== undefined,
      bank: null,
      wallet: null,
      vpa: null,
      email: recurring?.email ?? (customerId !== null ? (customers.get(customerId)?.email ?? 'customer@example.com') : 'customer@example.com'),
      contact: recurring?.contact ?? (customerId !== null ? (customers.get(customerId)?.contact ?? '+919000090000') : '+919000090000'),
      notes: recurring?.notes ?? {},
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
  function customer(id: string): SimCustomer {
    const found = customers.get(id);
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
      let customerId: string | null = null;
      let mandate: SimMandate | null = null;
      if (b['customer_id'] !== undefined) {
        if (typeof b['customer_id'] !== 'string' || !customers.has(b['customer_id'])) throw badRequest('The id provided does not exist', 'customer_id');
        customerId = b['customer_id'];
      }
      if (b['token'] !== undefined) {
        const t = (typeof b['token'] === 'object' && b['token'] !== null ? b['token'] : {}) as Record<string, unknown>;
        if (customerId === null) throw badRequest('The customer id field is required when token is present.', 'customer_id');
        if (b['method'] !== 'card') throw badRequest('The method must be card for a card mandate.', 'method');
        const maxAmount = t['max_amount'];
        if (typeof maxAmount !== 'number' || !Number.isInteger(maxAmount) || maxAmount < 100) throw badRequest('The token max amount must be at least 100.', 'token.max_amount');
        const expireAt = typeof t['expire_at'] === 'number' ? t['expire_at'] : now() + 10 * 365 * 86_400;
        if (expireAt <= now()) throw badRequest('The token expire_at must be in the future.', 'token.expire_at');
        const frequency = typeof t['frequency'] === 'string' ? t['frequency'] : 'as_presented';
        if (!['as_presented', 'monthly', 'weekly', 'daily', 'yearly', 'quarterly', 'half_yearly'].includes(frequency)) throw badRequest('The token frequency is invalid.', 'token.frequency');
        mandate = { max_amount: maxAmount, expire_at: expireAt, frequency };
      }
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
        customerId,
        mandate,
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
    if (method === 'POST' && path === '/v1/customers') {
      const text = (f: string): string | null => (typeof b[f] === 'string' ? (b[f] as string) : typeof b[f] === 'number' ? String(b[f]) : null);
      const name = text('name');
      const email = text('email');
      const contact = text('contact');
      if (name !== null && (name.length < 3 || name.length > 50)) throw badRequest('The name must be between 3 and 50 characters.', 'name');
      if (email !== null && (email.length > 64 || !/^[^@\s]+@[^@\s]+$/.test(email))) throw badRequest('The email must be a valid email address.', 'email');
      if (contact !== null && !/^\+?[0-9]{8,15}$/.test(contact)) throw badRequest('The contact must be a valid phone number.', 'contact');
      const existing = [...customers.values()].find((c) => c.email === email && c.contact === contact && (email !== null || contact !== null));
      if (existing) {
        const failExisting = b['fail_existing'];
        if (failExisting === 0 || failExisting === '0' || failExisting === false) return existing;
        throw badRequest('Customer already exists for the merchant');
      }
      const created: SimCustomer = { id: entityId('cust'), entity: 'customer', name, email, contact, gstin: null, notes: stringRecord(b['notes']), created_at: now() };
      customers.set(created.id, created);
      return created;
    }
    if (method === 'GET' && (m = path.match(/^\/v1\/customers\/([^/]+)\/tokens$/))) {
      const c = customer(m[1]!);
      return collection([...tokens.values()].filter((t) => t.customerId === c.id).map(publicToken));
    }
    if (method === 'GET' && (m = path.match(/^\/v1\/customers\/([^/]+)\/tokens\/([^/]+)$/))) {
      const c = customer(m[1]!);
      const t = tokens.get(m[2]!);
      if (!t || t.customerId !== c.id) throw badRequest('The id provided does not exist', 'token_id');
      return publicToken(t);
    }
    if (method === 'GET' && (m = path.match(/^\/v1\/customers\/([^/]+)$/))) return customer(m[1]!);
    if (method === 'POST' && path === '/v1/payments/create/recurring') {
      const orderId = b['order_id'];
      if (typeof orderId !== 'string') throw badRequest('The order id field is required.', 'order_id');
      const o = order(orderId);
      const customerId = b['customer_id'];
      if (typeof customerId !== 'string' || !customers.has(customerId)) throw badRequest('The id provided does not exist', 'customer_id');
      const tokenId = b['token'];
      const t = typeof tokenId === 'string' ? tokens.get(tokenId) : undefined;
      if (!t || t.customerId !== customerId) throw badRequest('The token id provided does not exist', 'token');
      if (t.recurring_details.status !== 'confirmed' || t.expired_at <= now()) throw badRequest('The token is not active for recurring payments', 'token');
      const recurring = b['recurring'];
      if (recurring !== '1' && recurring !== 1 && recurring !== true && recurring !== 'true') throw badRequest('The recurring field must be 1 for a recurring payment.', 'recurring');
      const email = b['email'];
      const contact = b['contact'];
      if (typeof email !== 'string' || email.length === 0) throw badRequest('The email field is required.', 'email');
      if ((typeof contact !== 'string' && typeof contact !== 'number') || String(contact).length === 0) throw badRequest('The contact field is required.', 'contact');
      if (b['amount'] !== o.amount) throw badRequest('The amount must be equal to the order amount.', 'amount');
      if (typeof b['currency'] === 'string' && b['currency'] !== o.currency) throw badRequest('Currency should be same as order currency', 'currency');
      if (o.status === 'paid') throw badRequest('Order has already been paid');
      if (o.amount > t.max_amount) throw badRequest('The amount is greater than the maximum amount allowed for the token', 'amount');
      const p = pay(o, 'success', { token: t, email, contact: String(contact), notes: stringRecord(b['notes']), description: typeof b['description'] === 'string' ? b['description'] : null });
      t.used_at = now();
      if (p.status === 'failed') {
        const httpStatus = p.error_code === 'GATEWAY_ERROR' ? 502 : p.error_code === 'SERVER_ERROR' ? 500 : 400;
        throw new SimError(httpStatus, {
          code: (p.error_code ?? 'BAD_REQUEST_ERROR') as RazorpayErrorBody['code'],
          description: p.error_description ?? 'Payment failed',
          source: p.error_source ?? 'NA',
          step: p.error_step ?? 'NA',
          reason: p.error_reason ?? 'NA',
          metadata: { payment_id: p.id, order_id: o.id },
        });
      }
      return { razorpay_payment_id: p.id, razorpay_order_id: o.id, razorpay_signature: sign(o.id, p.id) };
    }
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
    failRecurringDebits: ({ tokenId, outcome }) => {
      const t = tokens.get(tokenId);
      if (!t) throw new Error(`unknown token ${tokenId}`);
      t.debitOutcome = outcome;
    },
  };
}
