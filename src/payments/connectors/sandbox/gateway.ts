/**
 * The simulated gateway: "another company's" payment API that happens to run in Obol's process
 * and share its database. It speaks its own wire format (minor-unit integers, its own error
 * codes), keeps its own log in `sandbox_charges`, and decides outcomes from the test token.
 * The connector (connector.ts) is the only caller and maps this API onto Obol's port.
 *
 * The log is append-only: every request that the gateway executed is one row, and the state of a
 * charge (captured, voided, refunded so far) is derived from its authorization row and the rows
 * whose `parent_id` points at it. Nothing is ever updated, so a row's `response` is exactly what
 * the first request with that idempotency key was told, and a replay gets the same answer.
 *
 * Idempotency, as real gateways do it:
 * - A key is unique across every operation (the unique index on `idempotency_key`). Concurrent
 *   duplicates race on that index; the losers read the winner's row back and replay it.
 * - The same key with different parameters (or for a different operation) is refused with
 *   `idempotency_key_reused` and executes nothing: the key is already spent on another request.
 * - Requests refused by validation (malformed amount, unknown charge, currency mismatch, a payment
 *   method that looks like a card number) are not executed, so they are not logged and their key
 *   stays unspent, like Stripe's "no result is saved if parameters failed validation".
 * - A resume that changes nothing (challenge not yet answered, charge already resolved) is a read,
 *   not logged either, so the caller may resume again with the same key once the cardholder acts.
 *
 * Changes to one charge (resume, capture, void, refund, challenge result) run in the gateway's own
 * short transaction that locks the authorization row first, so two different refunds racing each
 * other cannot together exceed what was captured. These are the sandbox's own statements: it is
 * never called inside an Obol transaction (invariant 4) and never joins one.
 */
import { ID_PREFIXES, isId, newId, ObolError, type Clock } from '../../../kernel/index.js';
import { forUpdate, isUniqueViolation, type Db, type Executor, type SandboxChargesTable } from '../../../platform/db/index.js';
import { sandboxTokenSpec, type SandboxTokenSpec } from './tokens.js';

export interface SandboxOptions {
  /** Added to every call, as network and processing time (real milliseconds, for benchmarks). */
  readonly latencyMs?: number;
  /** 0..1: share of new authorizations the processor fails with a soft `processing_error`. */
  readonly failureRate?: number;
  /** 0..1: share of executed requests whose response is lost after the row is logged. */
  readonly timeoutRate?: number;
  /** [0, 1) source for the two rates; inject a seeded one in tests. */
  readonly random?: () => number;
}

/**
 * Every kind of row in the log. `challenge` rows hold the cardholder's 3-D Secure answer; `save`
 * rows are saved payment methods (their id is the saved method's id); `charge_off_session` rows
 * are merchant-initiated charges of a saved method, which capture, void and refund act on like
 * authorizations.
 */
export const SANDBOX_OPERATIONS = ['authorize', 'resume', 'capture', 'void', 'refund', 'challenge', 'save', 'charge_off_session'] as const;
export type SandboxOperation = (typeof SANDBOX_OPERATIONS)[number];

export const SANDBOX_ROW_STATUSES = ['succeeded', 'requires_capture', 'requires_action', 'failed', 'authenticated', 'saved'] as const;
export type SandboxRowStatus = (typeof SANDBOX_ROW_STATUSES)[number];

export const GATEWAY_ERROR_CODES = [
  'card_declined',
  'processing_error',
  'authentication_failed',
  'authentication_required',
  'invalid_payment_method',
  'invalid_request',
  'amount_too_large',
  'currency_mismatch',
  'charge_already_captured',
  'charge_already_voided',
  'charge_not_captured',
  'charge_not_authorized',
  'resource_missing',
  'idempotency_key_reused',
] as const;
export type GatewayErrorCode = (typeof GATEWAY_ERROR_CODES)[number];

// ---- the gateway's wire format -------------------------------------------------------------

export interface GatewayNextAction {
  readonly type: 'three_d_secure_redirect';
  readonly challengeId: string;
  readonly url: string;
}

/** What 3-D Secure did for a charge, as the gateway reports it. */
export const GATEWAY_THREE_DS_RESULTS = ['frictionless', 'challenge', 'exempted', 'not_attempted'] as const;
export type GatewayThreeDsResult = (typeof GATEWAY_THREE_DS_RESULTS)[number];

/** What the merchant asks about 3-D Secure for a customer-present charge. */
export const GATEWAY_THREE_DS_REQUESTS = ['automatic', 'required', 'exempt_low_value', 'exempt_recurring'] as const;
export type GatewayThreeDsRequest = (typeof GATEWAY_THREE_DS_REQUESTS)[number];

/** Amounts are integers in the currency's minor unit; `currency` is the ISO 4217 code. */
export interface GatewayCharge {
  readonly object: 'charge';
  readonly id: string;
  readonly status: 'succeeded' | 'requires_capture' | 'requires_action';
  readonly amount: number;
  readonly amountCaptured: number;
  readonly currency: string;
  readonly nextAction: GatewayNextAction | null;
  /** null while undecided (a challenge not yet answered) and for merchant-initiated charges. */
  readonly threeDSecure: GatewayThreeDsResult | null;
  /** The saved payment method, when the charge asked to save it and was approved. */
  readonly savedPaymentMethod: string | null;
}

export interface GatewaySavedMethod {
  readonly object: 'payment_method';
  readonly id: string;
  readonly customer: string;
}

export interface GatewayCapture {
  readonly object: 'capture';
  readonly id: string;
  readonly charge: string;
  readonly amount: number;
  readonly currency: string;
}

export interface GatewayVoid {
  readonly object: 'void';
  readonly id: string;
  readonly charge: string;
}

export interface GatewayRefund {
  readonly object: 'refund';
  readonly id: string;
  readonly charge: string;
  readonly amount: number;
  readonly currency: string;
}

export interface GatewayError {
  readonly object: 'error';
  readonly code: GatewayErrorCode;
  /** The issuer's reason when the issuer declined (`insufficient_funds`, ...). */
  readonly declineCode: string | null;
  readonly message: string;
  /** The charge the error concerns, when there is one (a declined charge is still a charge). */
  readonly charge: string | null;
}

export type ChargeResponse = GatewayCharge | GatewayError;
export type SaveResponse = GatewaySavedMethod | GatewayError;
export type CaptureResponse = GatewayCapture | GatewayError;
export type VoidResponse = GatewayVoid | GatewayError;
export type RefundResponse = GatewayRefund | GatewayError;

interface Responses {
  readonly authorize: ChargeResponse;
  readonly resume: ChargeResponse;
  readonly capture: CaptureResponse;
  readonly void: VoidResponse;
  readonly refund: RefundResponse;
  readonly save: SaveResponse;
  readonly charge_off_session: ChargeResponse;
}
type RequestOperation = keyof Responses;
const REQUEST_OPERATIONS: readonly RequestOperation[] = ['authorize', 'resume', 'capture', 'void', 'refund', 'save', 'charge_off_session'];
/** Rows that are charges: what capture, void and refund act on. */
const CHARGE_OPERATIONS = ['authorize', 'charge_off_session'] as const;

export interface CreateChargeRequest {
  readonly idempotencyKey: string;
  readonly amount: number;
  readonly currency: string;
  readonly paymentMethod: string;
  /** true: capture at once; false: authorize only. */
  readonly capture: boolean;
  readonly customer: string;
  readonly description: string;
  readonly threeDSecure: GatewayThreeDsRequest;
  /** Save the payment method for merchant-initiated charges when the charge is approved. */
  readonly savePaymentMethod: boolean;
}

export interface SavePaymentMethodRequest {
  readonly idempotencyKey: string;
  readonly paymentMethod: string;
  readonly customer: string;
}

/** A merchant-initiated charge of a saved payment method: captured at once, no 3-D Secure. */
export interface OffSessionChargeRequest {
  readonly idempotencyKey: string;
  readonly amount: number;
  readonly currency: string;
  /** A saved payment method's id. */
  readonly paymentMethod: string;
  readonly customer: string;
  readonly description: string;
}

export interface ConfirmChargeRequest {
  readonly idempotencyKey: string;
  readonly charge: string;
  readonly capture: boolean;
}

export interface CaptureChargeRequest {
  readonly idempotencyKey: string;
  readonly charge: string;
  readonly amount: number;
  readonly currency: string;
}

export interface VoidChargeRequest {
  readonly idempotencyKey: string;
  readonly charge: string;
}

export interface RefundChargeRequest {
  readonly idempotencyKey: string;
  readonly charge: string;
  readonly amount: number;
  readonly currency: string;
}

/** What the gateway stored for a key: the operation and the response the first request got. */
export type StoredResponse =
  | { readonly operation: 'authorize' | 'resume' | 'charge_off_session'; readonly body: ChargeResponse }
  | { readonly operation: 'save'; readonly body: SaveResponse }
  | { readonly operation: 'capture'; readonly body: CaptureResponse }
  | { readonly operation: 'void'; readonly body: VoidResponse }
  | { readonly operation: 'refund'; readonly body: RefundResponse };

/**
 * The network failed. `connect`: the connection was refused, nothing was sent. `response`: the
 * request was sent (and may have been executed) but no answer came back.
 */
export class SandboxTransportError extends Error {
  constructor(
    readonly phase: 'connect' | 'response',
    message: string,
  ) {
    super(message);
    this.name = 'SandboxTransportError';
  }
}

export interface SandboxChargeRecord {
  readonly id: string;
  readonly idempotencyKey: string;
  readonly operation: SandboxOperation;
  /** The authorization this row acts on; null for an authorization. */
  readonly parentId: string | null;
  readonly paymentMethod: string;
  /** Minor units. For a void: the amount released; for a challenge result: 0. */
  readonly amount: number;
  readonly currency: string;
  readonly status: SandboxRowStatus;
  readonly createdAt: number;
}

export interface SandboxGateway {
  createCharge(request: CreateChargeRequest): Promise<ChargeResponse>;
  savePaymentMethod(request: SavePaymentMethodRequest): Promise<SaveResponse>;
  chargeSavedMethod(request: OffSessionChargeRequest): Promise<ChargeResponse>;
  /** Continues a charge that waited for 3-D Secure. */
  confirmCharge(request: ConfirmChargeRequest): Promise<ChargeResponse>;
  captureCharge(request: CaptureChargeRequest): Promise<CaptureResponse>;
  voidCharge(request: VoidChargeRequest): Promise<VoidResponse>;
  refundCharge(request: RefundChargeRequest): Promise<RefundResponse>;
  /** The stored response for a key; undefined when no request with that key was executed. */
  lookup(idempotencyKey: string): Promise<StoredResponse | undefined>;
  /** The cardholder's answer at the issuer's access control server. */
  completeChallenge(args: { readonly challengeId: string; readonly outcome: 'authenticated' | 'failed' }): Promise<void>;
  /** Every row, by `created_at`; rows of the same millisecond come in no defined order. */
  chargeLog(): Promise<readonly SandboxChargeRecord[]>;
}

// ---- implementation ------------------------------------------------------------------------

const GATEWAY_HOST = 'https://sandbox.obol.invalid';
const MAX_KEY_LENGTH = 100;
const MAX_PAYMENT_METHOD_LENGTH = 255;

type Row = SandboxChargesTable;
type Fingerprint = Readonly<Record<string, string | number | boolean>>;
interface Envelope {
  readonly request: Fingerprint;
  readonly body: Responses[RequestOperation];
}

const MESSAGES: Readonly<Record<GatewayErrorCode, string>> = {
  card_declined: 'Your card was declined.',
  processing_error: 'An error occurred while processing your card. Try again in a little bit.',
  authentication_failed: 'The cardholder did not complete 3-D Secure authentication.',
  authentication_required: 'The issuer requires the cardholder to authenticate this payment.',
  invalid_payment_method: 'The payment method is not a valid sandbox test token.',
  invalid_request: 'The request is malformed.',
  amount_too_large: 'The amount exceeds what remains on the charge.',
  currency_mismatch: "The currency differs from the charge's currency.",
  charge_already_captured: 'The charge has already been captured.',
  charge_already_voided: 'The charge has been voided.',
  charge_not_captured: 'The charge has not been captured, so there is nothing to refund.',
  charge_not_authorized: 'The charge was never authorized.',
  resource_missing: 'No such charge.',
  idempotency_key_reused: 'This idempotency key was already used for a different request.',
};

function gatewayError(code: GatewayErrorCode, charge: string | null, declineCode: string | null = null, message: string = MESSAGES[code]): GatewayError {
  return { object: 'error', code, declineCode, message, charge };
}

/** The challenge id is the charge id under the challenge prefix: the ACS callback finds its charge by primary key. */
export function challengeIdFor(chargeId: string): string {
  return `${ID_PREFIXES.challenge}_${chargeId.slice(ID_PREFIXES.sandboxCharge.length + 1)}`;
}

function chargeIdForChallenge(challengeId: string): string | undefined {
  if (!isId('challenge', challengeId)) return undefined;
  return `${ID_PREFIXES.sandboxCharge}_${challengeId.slice(ID_PREFIXES.challenge.length + 1)}`;
}

function challengeKey(challengeId: string): string {
  return `challenge:${challengeId}`;
}

/** Obol never sends card data, but a gateway sharing its database must not store it by accident either. */
function looksLikeCardNumber(value: string): boolean {
  return /\d(?:[ -]?\d){11,18}/.test(value);
}

function validPaymentMethod(paymentMethod: string): GatewayError | undefined {
  return paymentMethod.length === 0 || paymentMethod.length > MAX_PAYMENT_METHOD_LENGTH || looksLikeCardNumber(paymentMethod)
    ? gatewayError('invalid_request', null, null, 'The payment method must be a token; card data is refused and was not stored.')
    : undefined;
}

function validCustomer(customer: string, description: string): GatewayError | undefined {
  return customer.length > 255 || description.length > 1000 ? gatewayError('invalid_request', null, null, 'The customer or description is too long.') : undefined;
}

/**
 * A charge that saved its payment method names the saved method after itself (same ULID, the
 * saved-method prefix), so nothing but the charge's own row needs writing and the saved method
 * exists exactly when the charge was approved.
 */
function savedMethodIdFor(chargeId: string): string {
  return `${ID_PREFIXES.sandboxPaymentMethod}_${chargeId.slice(ID_PREFIXES.sandboxCharge.length + 1)}`;
}

function chargeRow(a: {
  readonly id: string;
  readonly key: string;
  readonly operation: 'authorize' | 'charge_off_session';
  readonly paymentMethod: string;
  readonly amount: number;
  readonly currency: string;
  readonly fingerprint: Fingerprint;
  readonly body: ChargeResponse;
  readonly now: number;
}): Row {
  return {
    id: a.id,
    idempotency_key: a.key,
    operation: a.operation,
    parent_id: null,
    payment_method: a.paymentMethod,
    amount: a.amount,
    currency: a.currency,
    status: rowStatusOf(a.body),
    response: JSON.stringify({ request: a.fingerprint, body: a.body } satisfies Envelope),
    created_at: a.now,
  };
}

function validKey(key: string): GatewayError | undefined {
  return key.length === 0 || key.length > MAX_KEY_LENGTH ? gatewayError('invalid_request', null, null, `The idempotency key must have 1 to ${MAX_KEY_LENGTH} characters.`) : undefined;
}

function validAmount(amount: number, currency: string): GatewayError | undefined {
  if (!Number.isSafeInteger(amount) || amount <= 0) return gatewayError('invalid_request', null, null, 'The amount must be a positive integer in minor units.');
  if (!/^[A-Z]{3}$/.test(currency)) return gatewayError('invalid_request', null, null, 'The currency must be an ISO 4217 code.');
  return undefined;
}

function parseEnvelope(row: Row): Envelope {
  return JSON.parse(row.response) as Envelope;
}

function isRequestOperation(value: string): value is RequestOperation {
  return (REQUEST_OPERATIONS as readonly string[]).includes(value);
}

function isSandboxOperation(value: string): value is SandboxOperation {
  return (SANDBOX_OPERATIONS as readonly string[]).includes(value);
}

function isRowStatus(value: string): value is SandboxRowStatus {
  return (SANDBOX_ROW_STATUSES as readonly string[]).includes(value);
}

function sameRequest(a: Fingerprint, b: Fingerprint): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}

/** The stored answer for a repeated key, or `idempotency_key_reused` when it was spent on another request. */
function replay<O extends RequestOperation>(row: Row, operation: O, request: Fingerprint): Responses[O] {
  if (row.operation !== operation) return gatewayError('idempotency_key_reused', null) as Responses[O];
  const envelope = parseEnvelope(row);
  if (!sameRequest(envelope.request, request)) return gatewayError('idempotency_key_reused', null) as Responses[O];
  return envelope.body as Responses[O];
}

/** A charge's state, folded from its authorization row and the rows acting on it. */
type ChargeState =
  | { readonly status: 'requires_action'; readonly challenge: 'authenticated' | 'failed' | null }
  | { readonly status: 'failed'; readonly failure: GatewayError }
  | { readonly status: 'requires_capture'; readonly authorized: number }
  | { readonly status: 'captured'; readonly captured: number; readonly refunded: number }
  | { readonly status: 'voided' };

function failureOf(row: Row): GatewayError {
  const body = parseEnvelope(row).body;
  return body.object === 'error' ? body : gatewayError('charge_not_authorized', row.parent_id ?? row.id);
}

function chargeState(parent: Row, children: readonly Row[]): ChargeState {
  const succeeded = (operation: SandboxOperation) => children.filter((r) => r.operation === operation && r.status === 'succeeded');
  const resume = children.find((r) => r.operation === 'resume');
  const decisive = resume ?? parent;
  let authorizedState: ChargeState;
  switch (decisive.status) {
    case 'succeeded':
      authorizedState = { status: 'captured', captured: parent.amount, refunded: 0 };
      break;
    case 'requires_capture':
      authorizedState = { status: 'requires_capture', authorized: parent.amount };
      break;
    case 'requires_action': {
      const answer = children.find((r) => r.operation === 'challenge');
      const challenge = answer?.status === 'authenticated' ? 'authenticated' : answer?.status === 'failed' ? 'failed' : null;
      return { status: 'requires_action', challenge };
    }
    default:
      return { status: 'failed', failure: failureOf(decisive) };
  }
  if (authorizedState.status === 'requires_capture') {
    if (succeeded('void').length > 0) return { status: 'voided' };
    const capture = succeeded('capture')[0];
    if (capture) authorizedState = { status: 'captured', captured: capture.amount, refunded: 0 };
  }
  if (authorizedState.status === 'captured') {
    const refunded = succeeded('refund').reduce((total, r) => total + r.amount, 0);
    return { ...authorizedState, refunded };
  }
  return authorizedState;
}

function chargeBody(
  charge: Pick<Row, 'id' | 'amount' | 'currency'>,
  status: GatewayCharge['status'],
  amountCaptured: number,
  extra: { readonly threeDSecure: GatewayThreeDsResult | null; readonly savedPaymentMethod: string | null } = { threeDSecure: null, savedPaymentMethod: null },
): GatewayCharge {
  const challengeId = challengeIdFor(charge.id);
  return {
    object: 'charge',
    id: charge.id,
    status,
    amount: charge.amount,
    amountCaptured,
    currency: charge.currency,
    nextAction: status === 'requires_action' ? { type: 'three_d_secure_redirect', challengeId, url: `${GATEWAY_HOST}/3ds/${challengeId}` } : null,
    threeDSecure: status === 'requires_action' ? null : extra.threeDSecure,
    savedPaymentMethod: status === 'requires_action' ? null : extra.savedPaymentMethod,
  };
}

/** What 3-D Secure did for an approved customer-present charge that was not challenged. */
function threeDsResultOf(request: GatewayThreeDsRequest): GatewayThreeDsResult {
  switch (request) {
    case 'automatic':
      return 'not_attempted';
    case 'required':
      // Test cards that need no challenge authenticate frictionlessly, as in Stripe's test mode.
      return 'frictionless';
    case 'exempt_low_value':
    case 'exempt_recurring':
      return 'exempted';
    default: {
      const unreachable: never = request;
      throw new Error(`unknown 3-D Secure request ${String(unreachable)}`);
    }
  }
}

/** What a change to a charge decided: the answer, and the row to log when something was executed. */
interface Decision<O extends RequestOperation> {
  readonly body: Responses[O];
  readonly row: Row | null;
}

function rowStatusOf(body: Responses[RequestOperation]): SandboxRowStatus {
  if (body.object === 'error') return 'failed';
  if (body.object === 'payment_method') return 'saved';
  return body.object === 'charge' ? body.status : 'succeeded';
}

function toRecord(row: Row): SandboxChargeRecord {
  if (!isSandboxOperation(row.operation) || !isRowStatus(row.status)) throw new Error(`sandbox_charges row ${row.id} is corrupt`);
  return {
    id: row.id,
    idempotencyKey: row.idempotency_key,
    operation: row.operation,
    parentId: row.parent_id,
    paymentMethod: row.payment_method,
    amount: Number(row.amount),
    currency: row.currency,
    status: row.status,
    createdAt: Number(row.created_at),
  };
}

function validateOptions(options: SandboxOptions): void {
  const rate = (name: string, value: number | undefined) => {
    if (value !== undefined && !(value >= 0 && value <= 1)) throw new ObolError('VALIDATION_FAILED', `sandbox ${name} must be between 0 and 1`, { field: name });
  };
  rate('failureRate', options.failureRate);
  rate('timeoutRate', options.timeoutRate);
  if (options.latencyMs !== undefined && !(Number.isFinite(options.latencyMs) && options.latencyMs >= 0)) {
    throw new ObolError('VALIDATION_FAILED', 'sandbox latencyMs must be a non-negative number', { field: 'latencyMs' });
  }
}

export function createSandboxGateway(args: { readonly db: Db; readonly clock: Clock; readonly options?: SandboxOptions }): SandboxGateway {
  const { db, clock } = args;
  const options = args.options ?? {};
  validateOptions(options);
  const random = options.random ?? Math.random;
  const latencyMs = options.latencyMs ?? 0;

  // Rates of 0 draw nothing, so a seeded sequence is spent only on the faults a test asked for.
  const chance = (rate: number | undefined): boolean => rate !== undefined && rate > 0 && random() < rate;

  const travel = (): Promise<void> => (latencyMs > 0 ? new Promise((resolve) => setTimeout(resolve, latencyMs)) : Promise.resolve());

  const loseResponse = (): never => {
    throw new SandboxTransportError('response', 'sandbox: the connection closed before the response arrived');
  };

  const findByKey = (executor: Executor, key: string): Promise<Row | undefined> =>
    executor.selectFrom('sandbox_charges').selectAll().where('idempotency_key', '=', key).executeTakeFirst();

  const insert = async (executor: Executor, row: Row): Promise<void> => {
    await executor.insertInto('sandbox_charges').values(row).execute();
  };

  /** A concurrent duplicate lost the race on the unique index: answer with the winner's row. */
  async function replayAfterRace<O extends RequestOperation>(err: unknown, key: string, operation: O, request: Fingerprint): Promise<Responses[O]> {
    if (!isUniqueViolation(err)) throw err;
    const winner = await findByKey(db.kysely, key);
    if (!winner) throw err;
    return replay(winner, operation, request);
  }

  function decideAuthorization(id: string, request: CreateChargeRequest, spec: SandboxTokenSpec | undefined): ChargeResponse {
    if (spec === undefined) return gatewayError('invalid_payment_method', id);
    if (chance(options.failureRate)) return gatewayError('processing_error', id, null, 'The processor failed to handle the request (injected fault). Try again in a little bit.');
    const charge = { id, amount: request.amount, currency: request.currency };
    const approve = (threeDSecure: GatewayThreeDsResult): GatewayCharge => {
      const extra = { threeDSecure, savedPaymentMethod: request.savePaymentMethod ? savedMethodIdFor(id) : null };
      return request.capture ? chargeBody(charge, 'succeeded', request.amount, extra) : chargeBody(charge, 'requires_capture', 0, extra);
    };
    switch (spec.behavior) {
      case 'approve':
      case 'lose_response':
      case 'decline_renewals':
        return approve(threeDsResultOf(request.threeDSecure));
      case 'refuse_exemption':
        return request.threeDSecure === 'exempt_low_value' || request.threeDSecure === 'exempt_recurring'
          ? gatewayError('authentication_required', id, 'authentication_required')
          : approve(threeDsResultOf(request.threeDSecure));
      case 'decline':
        return gatewayError(spec.code, id, spec.declineCode);
      case 'challenge':
        return chargeBody(charge, 'requires_action', 0);
      case 'refuse_connection':
        throw new Error('refuse_connection is decided before the request is sent');
      default: {
        const unreachable: never = spec;
        throw new Error(`unknown token behaviour ${JSON.stringify(unreachable)}`);
      }
    }
  }

  /** Merchant-initiated: no 3-D Secure, and a card whose issuer insists on it is refused for missing authentication. */
  function decideOffSession(id: string, request: OffSessionChargeRequest, spec: SandboxTokenSpec, declinedBefore: number): ChargeResponse {
    if (chance(options.failureRate)) return gatewayError('processing_error', id, null, 'The processor failed to handle the request (injected fault). Try again in a little bit.');
    const charge = { id, amount: request.amount, currency: request.currency };
    switch (spec.behavior) {
      case 'decline_renewals':
        return spec.times === null || declinedBefore < spec.times ? gatewayError(spec.code, id, spec.declineCode) : chargeBody(charge, 'succeeded', request.amount);
      case 'approve':
      case 'lose_response':
      case 'refuse_exemption':
        return chargeBody(charge, 'succeeded', request.amount);
      case 'challenge':
        return gatewayError('authentication_required', id, 'authentication_required');
      case 'decline':
        return gatewayError(spec.code, id, spec.declineCode);
      case 'refuse_connection':
        throw new Error('refuse_connection is decided before the request is sent');
      default: {
        const unreachable: never = spec;
        throw new Error(`unknown token behaviour ${JSON.stringify(unreachable)}`);
      }
    }
  }

  /** Logs a new row under its key, or answers a repeat (or a concurrent duplicate) with the first answer. */
  async function logNew<O extends 'authorize' | 'save' | 'charge_off_session'>(
    operation: O,
    key: string,
    fingerprint: Fingerprint,
    build: (now: number) => { readonly row: Row; readonly body: Responses[O] },
  ): Promise<{ readonly body: Responses[O]; readonly fresh: boolean }> {
    const existing = await findByKey(db.kysely, key);
    if (existing) return { body: replay(existing, operation, fingerprint), fresh: false };
    const { row, body } = build(clock.now());
    try {
      await insert(db.kysely, row);
    } catch (err) {
      return { body: await replayAfterRace(err, key, operation, fingerprint), fresh: false };
    }
    return { body, fresh: true };
  }

  async function createCharge(request: CreateChargeRequest): Promise<ChargeResponse> {
    const spec = sandboxTokenSpec(request.paymentMethod);
    if (spec?.behavior === 'refuse_connection') throw new SandboxTransportError('connect', 'sandbox: connection refused');
    await travel();
    const invalid =
      validKey(request.idempotencyKey) ??
      validAmount(request.amount, request.currency) ??
      validPaymentMethod(request.paymentMethod) ??
      validCustomer(request.customer, request.description) ??
      ((GATEWAY_THREE_DS_REQUESTS as readonly string[]).includes(request.threeDSecure) ? undefined : gatewayError('invalid_request', null, null, 'Unknown 3-D Secure request.'));
    if (invalid) return invalid;
    const fingerprint: Fingerprint = {
      operation: 'authorize',
      amount: request.amount,
      currency: request.currency,
      paymentMethod: request.paymentMethod,
      capture: request.capture,
      customer: request.customer,
      description: request.description,
      threeDSecure: request.threeDSecure,
      savePaymentMethod: request.savePaymentMethod,
    };
    const { body, fresh } = await logNew('authorize', request.idempotencyKey, fingerprint, (now) => {
      const id = newId('sandboxCharge', now);
      const decided = decideAuthorization(id, request, spec);
      return { body: decided, row: chargeRow({ id, key: request.idempotencyKey, operation: 'authorize', paymentMethod: request.paymentMethod, amount: request.amount, currency: request.currency, fingerprint, body: decided, now }) };
    });
    if (fresh && (spec?.behavior === 'lose_response' || chance(options.timeoutRate))) loseResponse();
    return body;
  }

  async function savePaymentMethod(request: SavePaymentMethodRequest): Promise<SaveResponse> {
    const spec = sandboxTokenSpec(request.paymentMethod);
    if (spec?.behavior === 'refuse_connection') throw new SandboxTransportError('connect', 'sandbox: connection refused');
    await travel();
    const invalid = validKey(request.idempotencyKey) ?? validPaymentMethod(request.paymentMethod) ?? validCustomer(request.customer, '');
    if (invalid) return invalid;
    const fingerprint: Fingerprint = { operation: 'save', paymentMethod: request.paymentMethod, customer: request.customer };
    const { body, fresh } = await logNew('save', request.idempotencyKey, fingerprint, (now) => {
      const id = newId('sandboxPaymentMethod', now);
      // Saving verifies the card with the issuer: a card the issuer declines is not saved. A card
      // that needs 3-D Secure is saved as authenticated during setup (the customer was present).
      const decided: SaveResponse =
        spec === undefined
          ? gatewayError('invalid_payment_method', null)
          : spec.behavior === 'decline'
            ? gatewayError(spec.code, null, spec.declineCode)
            : { object: 'payment_method', id, customer: request.customer };
      const row: Row = {
        id,
        idempotency_key: request.idempotencyKey,
        operation: 'save',
        parent_id: null,
        payment_method: request.paymentMethod,
        amount: 0,
        currency: 'XXX',
        status: decided.object === 'error' ? 'failed' : 'saved',
        response: JSON.stringify({ request: fingerprint, body: decided } satisfies Envelope),
        created_at: now,
      };
      return { body: decided, row };
    });
    if (fresh && (spec?.behavior === 'lose_response' || chance(options.timeoutRate))) loseResponse();
    return body;
  }

  /** The test token behind a saved payment method, whether saved on its own or by an approved charge that asked to save it. */
  async function resolveSavedMethod(savedId: string): Promise<string | undefined> {
    if (!isId('sandboxPaymentMethod', savedId)) return undefined;
    const saved = await db.kysely.selectFrom('sandbox_charges').selectAll().where('id', '=', savedId).where('operation', '=', 'save').where('status', '=', 'saved').executeTakeFirst();
    if (saved) return saved.payment_method;
    const chargeId = `${ID_PREFIXES.sandboxCharge}_${savedId.slice(ID_PREFIXES.sandboxPaymentMethod.length + 1)}`;
    const charge = await db.kysely.selectFrom('sandbox_charges').selectAll().where('id', '=', chargeId).where('operation', '=', 'authorize').executeTakeFirst();
    if (!charge || parseEnvelope(charge).request.savePaymentMethod !== true) return undefined;
    const children = await db.kysely.selectFrom('sandbox_charges').selectAll().where('parent_id', '=', charge.id).execute();
    const state = chargeState(charge, children);
    return state.status === 'captured' || state.status === 'requires_capture' || state.status === 'voided' ? charge.payment_method : undefined;
  }

  async function chargeSavedMethod(request: OffSessionChargeRequest): Promise<ChargeResponse> {
    await travel();
    const invalid = validKey(request.idempotencyKey) ?? validAmount(request.amount, request.currency) ?? validPaymentMethod(request.paymentMethod) ?? validCustomer(request.customer, request.description);
    if (invalid) return invalid;
    const token = await resolveSavedMethod(request.paymentMethod);
    const spec = token === undefined ? undefined : sandboxTokenSpec(token);
    if (spec?.behavior === 'refuse_connection') throw new SandboxTransportError('connect', 'sandbox: connection refused');
    const fingerprint: Fingerprint = {
      operation: 'charge_off_session',
      amount: request.amount,
      currency: request.currency,
      paymentMethod: request.paymentMethod,
      customer: request.customer,
      description: request.description,
    };
    // How often this saved card was declined off-session before (only cards that decline renewals ask).
    const declinedBefore =
      spec?.behavior === 'decline_renewals'
        ? (await db.kysely.selectFrom('sandbox_charges').select('id').where('operation', '=', 'charge_off_session').where('payment_method', '=', request.paymentMethod).where('status', '=', 'failed').execute()).length
        : 0;
    const { body, fresh } = await logNew('charge_off_session', request.idempotencyKey, fingerprint, (now) => {
      const id = newId('sandboxCharge', now);
      const decided = spec === undefined ? gatewayError('invalid_payment_method', id, null, 'No such saved payment method.') : decideOffSession(id, request, spec, declinedBefore);
      return { body: decided, row: chargeRow({ id, key: request.idempotencyKey, operation: 'charge_off_session', paymentMethod: request.paymentMethod, amount: request.amount, currency: request.currency, fingerprint, body: decided, now }) };
    });
    if (fresh && (spec?.behavior === 'lose_response' || chance(options.timeoutRate))) loseResponse();
    return body;
  }

  /**
   * The shared path of every change to an existing charge: validate, replay a spent key, then
   * decide under the charge's lock and log what was executed.
   */
  async function changeCharge<O extends Exclude<RequestOperation, 'authorize' | 'save' | 'charge_off_session'>>(
    operation: O,
    request: { readonly idempotencyKey: string; readonly charge: string },
    fingerprint: Fingerprint,
    invalid: GatewayError | undefined,
    decide: (parent: Row, state: ChargeState, newRow: (status: SandboxRowStatus, amount: number, body: Responses[O]) => Row) => Decision<O>,
  ): Promise<Responses[O]> {
    await travel();
    const rejected = validKey(request.idempotencyKey) ?? invalid;
    if (rejected) return rejected as Responses[O];
    const existing = await findByKey(db.kysely, request.idempotencyKey);
    if (existing) return replay(existing, operation, fingerprint);

    let outcome: { readonly replayed: Row } | Decision<O>;
    try {
      outcome = await db.transaction(async (tx) => {
        const parent = await forUpdate(db, tx.selectFrom('sandbox_charges').selectAll().where('id', '=', request.charge).where('operation', 'in', CHARGE_OPERATIONS)).executeTakeFirst();
        if (!parent) return { body: gatewayError('resource_missing', null) as Responses[O], row: null };
        const again = await findByKey(tx, request.idempotencyKey);
        if (again) return { replayed: again };
        const children = await tx.selectFrom('sandbox_charges').selectAll().where('parent_id', '=', parent.id).orderBy('created_at').orderBy('id').execute();
        const now = clock.now();
        const decision = decide(parent, chargeState(parent, children), (status, amount, body) => ({
          id: body.object === 'charge' || body.object === 'error' ? newId('sandboxCharge', now) : body.id,
          idempotency_key: request.idempotencyKey,
          operation,
          parent_id: parent.id,
          payment_method: parent.payment_method,
          amount,
          currency: parent.currency,
          status,
          response: JSON.stringify({ request: fingerprint, body } satisfies Envelope),
          created_at: now,
        }));
        if (decision.row) await insert(tx, decision.row);
        return decision;
      });
    } catch (err) {
      return replayAfterRace(err, request.idempotencyKey, operation, fingerprint);
    }
    if ('replayed' in outcome) return replay(outcome.replayed, operation, fingerprint);
    if (outcome.row && chance(options.timeoutRate)) loseResponse();
    return outcome.body;
  }

  function confirmCharge(request: ConfirmChargeRequest): Promise<ChargeResponse> {
    const fingerprint: Fingerprint = { operation: 'resume', charge: request.charge, capture: request.capture };
    return changeCharge('resume', request, fingerprint, undefined, (parent, state, newRow) => {
      switch (state.status) {
        case 'requires_action': {
          if (state.challenge === null) return { body: chargeBody(parent, 'requires_action', 0), row: null };
          const extra = { threeDSecure: 'challenge' as const, savedPaymentMethod: parseEnvelope(parent).request.savePaymentMethod === true ? savedMethodIdFor(parent.id) : null };
          const body: ChargeResponse =
            state.challenge === 'failed'
              ? gatewayError('authentication_failed', parent.id, 'authentication_required')
              : request.capture
                ? chargeBody(parent, 'succeeded', parent.amount, extra)
                : chargeBody(parent, 'requires_capture', 0, extra);
          return { body, row: newRow(rowStatusOf(body), parent.amount, body) };
        }
        case 'requires_capture':
          return { body: chargeBody(parent, 'requires_capture', 0), row: null };
        case 'captured':
          return { body: chargeBody(parent, 'succeeded', state.captured), row: null };
        case 'voided':
          return { body: gatewayError('charge_already_voided', parent.id), row: null };
        case 'failed':
          return { body: state.failure, row: null };
        default: {
          const unreachable: never = state;
          throw new Error(`unknown charge state ${JSON.stringify(unreachable)}`);
        }
      }
    });
  }

  /** A state conflict is executed and logged (a replay must give the same refusal); a mismatched currency is not. */
  function stateConflict(state: ChargeState, parent: Row): GatewayError | undefined {
    switch (state.status) {
      case 'requires_action':
      case 'failed':
        return gatewayError('charge_not_authorized', parent.id);
      case 'voided':
        return gatewayError('charge_already_voided', parent.id);
      case 'requires_capture':
      case 'captured':
        return undefined;
      default: {
        const unreachable: never = state;
        throw new Error(`unknown charge state ${JSON.stringify(unreachable)}`);
      }
    }
  }

  function captureCharge(request: CaptureChargeRequest): Promise<CaptureResponse> {
    const fingerprint: Fingerprint = { operation: 'capture', charge: request.charge, amount: request.amount, currency: request.currency };
    return changeCharge('capture', request, fingerprint, validAmount(request.amount, request.currency), (parent, state, newRow) => {
      if (parent.currency !== request.currency) return { body: gatewayError('currency_mismatch', parent.id), row: null };
      const refusal =
        stateConflict(state, parent) ??
        (state.status === 'captured' ? gatewayError('charge_already_captured', parent.id) : undefined) ??
        (state.status === 'requires_capture' && request.amount > state.authorized ? gatewayError('amount_too_large', parent.id) : undefined);
      if (refusal) return { body: refusal, row: newRow('failed', request.amount, refusal) };
      const id = newId('sandboxCharge', clock.now());
      const body: GatewayCapture = { object: 'capture', id, charge: parent.id, amount: request.amount, currency: parent.currency };
      return { body, row: newRow('succeeded', request.amount, body) };
    });
  }

  function voidCharge(request: VoidChargeRequest): Promise<VoidResponse> {
    const fingerprint: Fingerprint = { operation: 'void', charge: request.charge };
    return changeCharge('void', request, fingerprint, undefined, (parent, state, newRow) => {
      const refusal = stateConflict(state, parent) ?? (state.status === 'captured' ? gatewayError('charge_already_captured', parent.id) : undefined);
      if (refusal) return { body: refusal, row: newRow('failed', parent.amount, refusal) };
      const body: GatewayVoid = { object: 'void', id: newId('sandboxCharge', clock.now()), charge: parent.id };
      return { body, row: newRow('succeeded', parent.amount, body) };
    });
  }

  function refundCharge(request: RefundChargeRequest): Promise<RefundResponse> {
    const fingerprint: Fingerprint = { operation: 'refund', charge: request.charge, amount: request.amount, currency: request.currency };
    return changeCharge('refund', request, fingerprint, validAmount(request.amount, request.currency), (parent, state, newRow) => {
      if (parent.currency !== request.currency) return { body: gatewayError('currency_mismatch', parent.id), row: null };
      const refusal =
        stateConflict(state, parent) ??
        (state.status === 'requires_capture' ? gatewayError('charge_not_captured', parent.id) : undefined) ??
        (state.status === 'captured' && request.amount > state.captured - state.refunded ? gatewayError('amount_too_large', parent.id) : undefined);
      if (refusal) return { body: refusal, row: newRow('failed', request.amount, refusal) };
      const body: GatewayRefund = { object: 'refund', id: newId('sandboxCharge', clock.now()), charge: parent.id, amount: request.amount, currency: parent.currency };
      return { body, row: newRow('succeeded', request.amount, body) };
    });
  }

  async function lookup(idempotencyKey: string): Promise<StoredResponse | undefined> {
    await travel();
    const row = await findByKey(db.kysely, idempotencyKey);
    if (!row || !isRequestOperation(row.operation)) return undefined;
    const body = parseEnvelope(row).body;
    return { operation: row.operation, body } as StoredResponse;
  }

  async function completeChallenge(args: { readonly challengeId: string; readonly outcome: 'authenticated' | 'failed' }): Promise<void> {
    const chargeId = chargeIdForChallenge(args.challengeId);
    const notFound = () => new ObolError('NOT_FOUND', 'No 3-D Secure challenge with this id.', { field: 'challengeId' });
    if (chargeId === undefined) throw notFound();
    const key = challengeKey(args.challengeId);
    try {
      await db.transaction(async (tx) => {
        const parent = await forUpdate(db, tx.selectFrom('sandbox_charges').selectAll().where('id', '=', chargeId).where('operation', '=', 'authorize')).executeTakeFirst();
        if (!parent) throw notFound();
        if (parent.status !== 'requires_action') throw new ObolError('NO_ACTION_REQUIRED', 'This charge did not ask for 3-D Secure.', { field: 'challengeId' });
        const answered = await findByKey(tx, key);
        if (answered) {
          if (answered.status === args.outcome) return;
          throw new ObolError('NO_ACTION_REQUIRED', `The challenge was already completed as ${answered.status}.`, { field: 'challengeId' });
        }
        const now = clock.now();
        await insert(tx, {
          id: newId('sandboxCharge', now),
          idempotency_key: key,
          operation: 'challenge',
          parent_id: parent.id,
          payment_method: parent.payment_method,
          amount: 0,
          currency: parent.currency,
          status: args.outcome,
          response: JSON.stringify({ challengeId: args.challengeId, outcome: args.outcome }),
          created_at: now,
        });
      });
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      // A concurrent completion won; the same answer twice is one answer.
      const answered = await findByKey(db.kysely, key);
      if (answered?.status !== args.outcome) throw new ObolError('NO_ACTION_REQUIRED', 'The challenge was already completed.', { field: 'challengeId' });
    }
  }

  async function chargeLog(): Promise<readonly SandboxChargeRecord[]> {
    const rows = await db.kysely.selectFrom('sandbox_charges').selectAll().orderBy('created_at').orderBy('id').execute();
    return rows.map(toRecord);
  }

  return { createCharge, savePaymentMethod, chargeSavedMethod, confirmCharge, captureCharge, voidCharge, refundCharge, lookup, completeChallenge, chargeLog };
}
