/**
 * Authorization: an attempt row (with the idempotency key the gateway will see) is committed
 * before the gateway call; the outcome is applied in a second transaction after it (invariant 4).
 * An outcome nobody knows (timeout, crash) leaves the attempt `unknown` for the reconciler.
 */
import { authorize, mayActFor, newId, notFound, ObolError, type Caller } from '../kernel/index.js';
import { authorizationPosting, postJournal, salePosting } from '../ledger/index.js';
import { money, type Money } from '../money/index.js';
import { enqueueEvent } from '../platform/events/index.js';
import type { Tx } from '../platform/db/index.js';
import {
  ConnectorUnavailableError,
  isChallengeSimulator,
  type AuthenticationRequest,
  type AuthorizedDetails,
  type AuthorizeOutcome,
  type ChallengeOutcome,
  type Connector,
  type Decline,
} from './connectors/port.js';
import { decodeAuthentication, encodeAuthentication, planAuthentication, recordAuthentication, STEP_UP_AUTHENTICATION, threeDsOf, type PlannedAuthentication } from './authentication.js';
import type { PaymentsDeps } from './deps.js';
import { shouldFailOver } from './routing/failover.js';
import { declineNeedsAuthentication } from './sca/decide.js';
import { transitionAttempt } from './domain/attempt.js';
import { transitionPayment } from './domain/payment-intent.js';
import {
  currencyOf,
  loadPaymentView,
  lockAttempt,
  lockIntent,
  normaliseAttempt,
  saveAttempt,
  saveIntent,
  statusOf,
  type AttemptRow,
  type CaptureMethod,
  saleOf,
  type IntentRow,
  type PaymentInitiator,
  type PaymentView,
  type SaleRef,
} from './records.js';
import { recordSavedPaymentMethod } from './payment-methods.js';
import { traced } from '../platform/observability/tracing.js';

export interface BeginAttemptArgs {
  /** What the payment pays for. */
  readonly sale: SaleRef;
  readonly customerId: string;
  readonly customerCountry: string | null;
  readonly amount: Money;
  readonly captureMethod: CaptureMethod;
  readonly paymentMethod: string;
  /** The card issuer's country as the gateway's client SDK reported it (never card data); null when unknown. */
  readonly issuerCountry: string | null;
  /** The API caller's idempotency key for this confirmation. */
  readonly requestKey: string;
  /** The session's intent from an earlier, declined confirmation, if any. */
  readonly existingPaymentId: string | null;
  /**
   * Also save the payment method for later merchant-initiated charges (a subscription's first
   * payment, with the customer's consent); a saved method becomes the intent's `payment_method_id`.
   */
  readonly savePaymentMethod?: boolean;
  readonly now: number;
}

/** Inside the caller's transaction: creates or reuses the intent and commits a `pending` attempt. */
export async function beginAttempt(deps: PaymentsDeps, tx: Tx, args: BeginAttemptArgs): Promise<{ readonly paymentId: string; readonly attemptId: string }> {
  const { now } = args;
  const paymentId = args.existingPaymentId ?? newId('payment', now);
  const { connector, reason: routing } = deps.connectors.route({ paymentId, currency: args.amount.currency, amount: args.amount.amount, customerCountry: args.customerCountry, paymentMethod: args.paymentMethod });
  let intent: IntentRow;
  if (args.existingPaymentId !== null) {
    const found = await lockIntent(deps.db, tx, args.existingPaymentId);
    if (!found) throw new Error(`payment ${args.existingPaymentId} of ${args.sale.kind} ${args.sale.id} is missing`);
    if (found.failed_attempts >= deps.maxFailedAttempts) {
      throw new ObolError('PAYMENT_ATTEMPTS_EXHAUSTED', 'Too many failed payment attempts for this checkout; start a new checkout.');
    }
    const confirmed = transitionPayment(transitionPayment(statusOf(found), 'attach_payment_method'), 'confirm');
    intent = await saveIntent(tx, found, { status: confirmed, connector: connector.name, next_action: null, issuer_country: args.issuerCountry }, now);
  } else {
    intent = newIntentRow({
      id: paymentId,
      sale: args.sale,
      initiator: 'customer',
      paymentMethodId: null,
      customerId: args.customerId,
      amount: args.amount,
      captureMethod: args.captureMethod,
      connector: connector.name,
      customerCountry: args.customerCountry,
      issuerCountry: args.issuerCountry,
      now,
    });
    await tx.insertInto('payment_intents').values(intent).execute();
  }
  const attemptId = newId('attempt', now);
  const authentication = await planAuthentication(tx, {
    customerId: intent.customer_id,
    acquirerCountry: deps.acquirerCountries[connector.name] ?? null,
    issuerCountry: args.issuerCountry,
    amount: args.amount,
  });
  await tx
    .insertInto('payment_attempts')
    .values(
      pendingAttempt({
        id: attemptId,
        paymentId: intent.id,
        seq: await nextAttemptSeq(tx, intent.id),
        connector: connector.name,
        requestKey: args.requestKey,
        paymentMethod: args.paymentMethod,
        amount: intent.amount,
        currency: intent.currency,
        routing,
        authentication,
        savePaymentMethod: args.savePaymentMethod === true,
        now,
      }),
    )
    .execute();
  return { paymentId: intent.id, attemptId };
}

export interface BeginMerchantInitiatedArgs {
  readonly invoiceId: string;
  readonly customerId: string;
  readonly amount: Money;
  /** An active saved payment method of the customer (`spm_…`). */
  readonly paymentMethodId: string;
  /** Recorded on the attempt as its request key (the job or request that started the charge). */
  readonly requestKey: string;
  readonly now: number;
}

/**
 * Inside the caller's transaction: a merchant-initiated charge of a saved payment method (a
 * renewal), as a new intent with one `pending` attempt at the connector that saved the method.
 * No routing and no failover: a saved method lives at one gateway. Outside SCA's scope (the
 * customer is absent), so the attempt asks nothing about 3-D Secure.
 */
export async function beginMerchantInitiatedAttempt(deps: PaymentsDeps, tx: Tx, args: BeginMerchantInitiatedArgs): Promise<{ readonly paymentId: string; readonly attemptId: string }> {
  const { now } = args;
  const method = await tx.selectFrom('payment_methods').selectAll().where('id', '=', args.paymentMethodId).executeTakeFirst();
  if (!method || method.customer_id !== args.customerId) throw new ObolError('PAYMENT_METHOD_NOT_FOUND', 'No such saved payment method for this customer.', { field: 'paymentMethodId' });
  if (method.status !== 'active' || method.gateway_reference === null) {
    throw new ObolError('PAYMENT_METHOD_NOT_FOUND', `The saved payment method is ${method.status} and cannot be charged.`, { field: 'paymentMethodId' });
  }
  connectorFor(deps, method.connector);
  const paymentId = newId('payment', now);
  const intent = newIntentRow({
    id: paymentId,
    sale: { kind: 'invoice', id: args.invoiceId },
    initiator: 'merchant',
    paymentMethodId: method.id,
    customerId: args.customerId,
    amount: args.amount,
    captureMethod: 'automatic',
    connector: method.connector,
    customerCountry: null,
    issuerCountry: null,
    now,
  });
  await tx.insertInto('payment_intents').values(intent).execute();
  const attemptId = newId('attempt', now);
  await tx
    .insertInto('payment_attempts')
    .values(
      pendingAttempt({
        id: attemptId,
        paymentId,
        seq: 1,
        connector: method.connector,
        requestKey: args.requestKey,
        paymentMethod: method.gateway_reference,
        amount: args.amount.amount,
        currency: args.amount.currency,
        routing: `merchant-initiated: the connector that saved ${method.id}`,
        authentication: MERCHANT_INITIATED_AUTHENTICATION,
        savePaymentMethod: false,
        now,
      }),
    )
    .execute();
  return { paymentId, attemptId };
}

/** A new intent, confirmed and about to make its first attempt at `connector`. */
function newIntentRow(a: {
  readonly id: string;
  readonly sale: SaleRef;
  readonly initiator: PaymentInitiator;
  readonly paymentMethodId: string | null;
  readonly customerId: string;
  readonly amount: Money;
  readonly captureMethod: CaptureMethod;
  readonly connector: string;
  readonly customerCountry: string | null;
  readonly issuerCountry: string | null;
  readonly now: number;
}): IntentRow {
  return {
    id: a.id,
    checkout_session_id: a.sale.kind === 'checkout_session' ? a.sale.id : null,
    invoice_id: a.sale.kind === 'invoice' ? a.sale.id : null,
    initiator: a.initiator,
    payment_method_id: a.paymentMethodId,
    customer_id: a.customerId,
    currency: a.amount.currency,
    amount: a.amount.amount,
    capture_method: a.captureMethod,
    status: transitionPayment(transitionPayment('requires_payment_method', 'attach_payment_method'), 'confirm'),
    connector: a.connector,
    amount_authorized: 0,
    amount_captured: 0,
    amount_refunded: 0,
    failed_attempts: 0,
    last_error_code: null,
    last_error_reason: null,
    last_error_class: null,
    next_action: null,
    canceled_reason: null,
    customer_country: a.customerCountry,
    issuer_country: a.issuerCountry,
    created_at: a.now,
    updated_at: a.now,
    version: 0,
  };
}

async function nextAttemptSeq(tx: Tx, paymentId: string): Promise<number> {
  const row = await tx.selectFrom('payment_attempts').select((eb) => eb.fn.countAll<number>().as('n')).where('payment_id', '=', paymentId).executeTakeFirst();
  return Number(row?.n ?? 0) + 1;
}

/** A new attempt, committed before its gateway call. */
function pendingAttempt(a: {
  readonly id: string;
  readonly paymentId: string;
  readonly seq: number;
  readonly connector: string;
  readonly requestKey: string;
  readonly paymentMethod: string;
  readonly amount: number;
  readonly currency: string;
  readonly routing: string;
  readonly authentication: PlannedAuthentication | typeof MERCHANT_INITIATED_AUTHENTICATION;
  readonly savePaymentMethod: boolean;
  readonly now: number;
}): AttemptRow {
  const merchant = a.authentication === MERCHANT_INITIATED_AUTHENTICATION;
  return {
    id: a.id,
    payment_id: a.paymentId,
    seq: a.seq,
    connector: a.connector,
    // The gateway sees the attempt id as its idempotency key: one attempt, at most one charge.
    idempotency_key: a.id,
    request_idempotency_key: a.requestKey,
    payment_method: a.paymentMethod,
    amount: a.amount,
    currency: a.currency,
    status: 'pending',
    gateway_reference: null,
    decline_code: null,
    decline_reason: null,
    decline_class: null,
    next_action: null,
    resumes: 0,
    resume_request_key: null,
    routing: a.routing,
    authentication: merchant ? MERCHANT_INITIATED : encodeAuthentication(a.authentication.request),
    sca_decision: merchant ? 'merchant-initiated charge of a saved payment method: outside the scope of SCA' : a.authentication.explanation,
    three_ds: null,
    save_payment_method: a.savePaymentMethod ? 1 : 0,
    created_at: a.now,
    updated_at: a.now,
    resolved_at: null,
    version: 0,
  };
}

function connectorFor(deps: PaymentsDeps, name: string): Connector {
  const connector = deps.connectors.get(name);
  if (!connector) throw new Error(`connector ${name} is not configured`);
  return connector;
}

/** Stored in `payment_attempts.authentication` for a merchant-initiated charge: nothing was asked about 3-D Secure. */
const MERCHANT_INITIATED = 'merchant_initiated';
const MERCHANT_INITIATED_AUTHENTICATION = Symbol('merchant-initiated');

export function isMerchantInitiated(attempt: Pick<AttemptRow, 'authentication'>): boolean {
  return attempt.authentication === MERCHANT_INITIATED;
}

/** What the attempt asked about 3-D Secure; a merchant-initiated charge asked nothing. */
function askedOf(attempt: AttemptRow): AuthenticationRequest {
  return isMerchantInitiated(attempt) ? { kind: 'gateway_default' } : decodeAuthentication(attempt.authentication);
}

/**
 * The gateway key of an attempt's current call: the authorization itself (or the off-session
 * charge), or its n-th resume.
 */
export function gatewayKeyOf(attempt: AttemptRow): { readonly operation: 'authorize' | 'resume' | 'charge_off_session'; readonly key: string } {
  if (isMerchantInitiated(attempt)) return { operation: 'charge_off_session', key: attempt.idempotency_key };
  return attempt.resumes === 0 ? { operation: 'authorize', key: attempt.idempotency_key } : { operation: 'resume', key: `${attempt.idempotency_key}:resume:${attempt.resumes}` };
}

export interface ExecuteOptions {
  /**
   * True only for the call that sends the request for the first time. Only then does "could not
   * connect" prove that the gateway never saw it; a repeat may race an earlier send that did
   * arrive, so its connection failure leaves the outcome unknown.
   */
  readonly firstSend: boolean;
}

/**
 * Calls the gateway for a committed `pending` attempt (no transaction is open here) and applies
 * whatever comes back. Safe to call again for the same attempt: the gateway key makes a repeat
 * the same request.
 */
async function executeAttemptUntraced(deps: PaymentsDeps, attemptId: string, options: ExecuteOptions = { firstSend: true }): Promise<void> {
  const row = await deps.db.kysely.selectFrom('payment_attempts').selectAll().where('id', '=', attemptId).executeTakeFirst();
  if (!row) throw new Error(`attempt ${attemptId} not found`);
  const attempt = normaliseAttempt(row);
  const intentRow = await deps.db.kysely.selectFrom('payment_intents').select(['id', 'capture_method', 'customer_id', 'checkout_session_id', 'invoice_id']).where('id', '=', attempt.payment_id).executeTakeFirstOrThrow();
  const sale = saleOf(intentRow);
  const description = sale.kind === 'invoice' ? `Obol invoice ${sale.id}` : `Obol checkout ${sale.id}`;
  const connector = connectorFor(deps, attempt.connector);
  const { operation, key } = gatewayKeyOf(attempt);
  const captureMethod: CaptureMethod = intentRow.capture_method === 'manual' ? 'manual' : 'automatic';
  let outcome: AuthorizeOutcome;
  try {
    const amount = money(attempt.amount, currencyOf(attempt.currency));
    switch (operation) {
      case 'authorize':
        outcome = await connector.authorize({
          idempotencyKey: key,
          amount,
          paymentMethod: attempt.payment_method,
          captureMethod,
          customerId: intentRow.customer_id,
          description,
          authentication: decodeAuthentication(attempt.authentication),
          ...(attempt.save_payment_method === 1 ? { savePaymentMethod: true } : {}),
        });
        break;
      case 'resume':
        outcome = await connector.resume({ idempotencyKey: key, reference: attempt.gateway_reference ?? '', captureMethod });
        break;
      case 'charge_off_session':
        outcome = await connector.chargeOffSession({ idempotencyKey: key, amount, savedPaymentMethod: attempt.payment_method, customerId: intentRow.customer_id, description });
        break;
      default: {
        const unreachable: never = operation;
        throw new Error(`unknown gateway operation ${String(unreachable)}`);
      }
    }
  } catch (err) {
    deps.onIncident?.(err, { operation, id: attempt.id });
    deps.connectors.recordCall({ connector: attempt.connector, ok: false });
    if (err instanceof ConnectorUnavailableError && operation !== 'resume' && options.firstSend) {
      // Nothing reached the gateway: a definite failure with no issuer decision, so the payment
      // may fail over to the next connector the routing rules allow; with none left it is a
      // retryable decline, never an unknown.
      const unavailable: Decline = { code: 'gateway_unavailable', reason: 'gateway_unavailable', declineClass: 'soft', message: 'The payment gateway could not be reached.' };
      const nextAttempt = operation === 'authorize' ? await failOver(deps, attempt, unavailable) : null;
      if (nextAttempt !== null) return executeAttempt(deps, nextAttempt);
      await applyAuthorizeOutcome(deps, attempt.id, { status: 'declined', reference: null, decline: unavailable });
      return;
    }
    await markAttemptUnknown(deps, attempt.id);
    return;
  }
  deps.connectors.recordCall({ connector: attempt.connector, ok: true, ...issuerVerdict(outcome) });
  // A merchant-initiated charge neither steps up (the customer is absent) nor fails over (its
  // saved method lives at one gateway): its decline stands, and dunning decides what follows.
  if (outcome.status === 'declined' && operation === 'authorize') {
    const next = await afterDecline(deps, attempt, outcome.decline);
    if (next !== null) return executeAttempt(deps, next);
  }
  await applyAuthorizeOutcome(deps, attempt.id, outcome);
}

/** What the outcome says about issuers' treatment of this connector, for its authorization rate. */
function issuerVerdict(outcome: AuthorizeOutcome): { readonly authorization?: 'authorized' | 'declined' } {
  switch (outcome.status) {
    case 'succeeded':
    case 'requires_capture':
      return { authorization: 'authorized' };
    case 'declined':
      // A processing error is the gateway's failure, not an issuer's answer.
      return outcome.decline.reason === 'processing_error' ? {} : { authorization: 'declined' };
    case 'requires_action':
    case 'processing':
      return {};
    default: {
      const unreachable: never = outcome;
      throw new Error(`unknown outcome ${JSON.stringify(unreachable)}`);
    }
  }
}

/**
 * A declined first authorization may continue as a new attempt instead of failing the payment:
 * - the issuer refused an exemption (or an unauthenticated payment) for missing authentication:
 *   step up at the same connector, asking for 3-D Secure, so the customer gets a challenge;
 * - a soft decline the routing rules allow to fail over (no issuer verdict on the account): the
 *   next connector of the route.
 * Returns the new attempt's id, or null when the decline stands.
 */
async function afterDecline(deps: PaymentsDeps, attempt: AttemptRow, decline: Decline): Promise<string | null> {
  const asked = decodeAuthentication(attempt.authentication);
  if (decline.declineClass === 'customer_action' && asked.kind !== 'required' && (declineNeedsAuthentication(decline.code) || declineNeedsAuthentication(decline.reason))) {
    return stepUp(deps, attempt, decline);
  }
  if (shouldFailOver({ kind: 'declined', declineClass: decline.declineClass, code: decline.reason }).failover) return failOver(deps, attempt, decline);
  return null;
}

/** Closes the declined attempt and opens one at the same connector that asks for 3-D Secure. */
async function stepUp(deps: PaymentsDeps, declined: AttemptRow, decline: Decline): Promise<string | null> {
  return replaceAttempt(deps, declined, decline, {
    connector: declined.connector,
    routing: `step-up after ${decline.code} at ${declined.connector}: same connector, with 3-D Secure`,
    authentication: STEP_UP_AUTHENTICATION,
  });
}

/**
 * Moves a payment whose attempt failed with no issuer decision to the next connector: the failed
 * attempt is closed and a new one (with its own gateway key) is committed in one transaction,
 * while the payment stays `processing`. Returns the new attempt's id, or null when the routing
 * rules leave no other connector. Only connectors a rule lists for this payment are tried, so
 * rules must only list gateways that accept the payment-method token's kind.
 */
async function failOver(deps: PaymentsDeps, failed: AttemptRow, decline: Decline): Promise<string | null> {
  const { db } = deps;
  const intent = await db.kysely.selectFrom('payment_intents').select(['id', 'customer_id', 'customer_country', 'issuer_country']).where('id', '=', failed.payment_id).executeTakeFirstOrThrow();
  const tried = await db.kysely.selectFrom('payment_attempts').select('connector').distinct().where('payment_id', '=', failed.payment_id).execute();
  const choice = deps.connectors.next({
    paymentId: failed.payment_id,
    currency: failed.currency,
    amount: failed.amount,
    customerCountry: intent.customer_country,
    paymentMethod: failed.payment_method,
    tried: tried.map((t) => t.connector),
  });
  if (!choice) return null;
  // The next connector may acquire in another country, so SCA is decided afresh for it.
  const authentication = await planAuthentication(db.kysely, {
    customerId: intent.customer_id,
    acquirerCountry: deps.acquirerCountries[choice.connector.name] ?? null,
    issuerCountry: intent.issuer_country,
    amount: money(failed.amount, currencyOf(failed.currency)),
  });
  return replaceAttempt(deps, failed, decline, { connector: choice.connector.name, routing: `${decline.code} at ${failed.connector}; ${choice.reason}`, authentication });
}

/**
 * Closes a pending attempt as declined and commits its successor (with its own gateway key) in
 * one transaction, while the payment stays `processing`. Null when the attempt was resolved
 * meanwhile (a concurrent reconciler got there first).
 */
async function replaceAttempt(
  deps: PaymentsDeps,
  failed: AttemptRow,
  decline: Decline,
  next: { readonly connector: string; readonly routing: string; readonly authentication: PlannedAuthentication },
): Promise<string | null> {
  const { db, clock } = deps;
  return db.transaction(async (tx) => {
    const now = clock.now();
    const attempt = await lockAttempt(db, tx, failed.id);
    if (!attempt || attempt.status !== 'pending') return null;
    await saveAttempt(tx, attempt, { status: transitionAttempt('pending', 'declined'), resolved_at: now, ...declineColumns(decline) }, now);
    const intentRow = await lockIntent(db, tx, failed.payment_id);
    if (!intentRow || intentRow.status !== 'processing') return null;
    await saveIntent(tx, intentRow, { connector: next.connector }, now);
    const id = newId('attempt', now);
    await tx
      .insertInto('payment_attempts')
      .values(
        pendingAttempt({
          id,
          paymentId: failed.payment_id,
          seq: await nextAttemptSeq(tx, failed.payment_id),
          connector: next.connector,
          requestKey: failed.request_idempotency_key,
          paymentMethod: failed.payment_method,
          amount: failed.amount,
          currency: failed.currency,
          routing: next.routing.slice(0, 1000),
          authentication: next.authentication,
          savePaymentMethod: failed.save_payment_method === 1,
          now,
        }),
      )
      .execute();
    return id;
  });
}

export async function markAttemptUnknown(deps: PaymentsDeps, attemptId: string): Promise<void> {
  await deps.db.transaction(async (tx) => {
    const attempt = await lockAttempt(deps.db, tx, attemptId);
    if (!attempt || attempt.status !== 'pending') return;
    await saveAttempt(tx, attempt, { status: transitionAttempt('pending', 'outcome_unknown') }, deps.clock.now());
  });
}

function declineColumns(d: Decline) {
  return { decline_code: d.code, decline_reason: d.reason, decline_class: d.declineClass };
}

/**
 * Applies a gateway's answer to an attempt, exactly once: an attempt that already has a final
 * outcome is left alone (a late or repeated answer for the same key is the same answer).
 */
export async function applyAuthorizeOutcome(deps: PaymentsDeps, attemptId: string, outcome: AuthorizeOutcome): Promise<void> {
  const { db, clock, hooks } = deps;
  await db.transaction(async (tx) => {
    const now = clock.now();
    const attempt = await lockAttempt(db, tx, attemptId);
    if (!attempt) throw new Error(`attempt ${attemptId} not found`);
    if (attempt.status !== 'pending' && attempt.status !== 'unknown') {
      // Same key, same answer: a repeat is expected. A different final answer is not, and money
      // may be at stake, so it is raised for a person to look at rather than silently dropped.
      if (contradicts(attempt.status, outcome)) {
        deps.onIncident?.(new Error(`gateway reports ${outcome.status} for attempt ${attempt.id}, recorded as ${attempt.status}`), { operation: 'contradiction', id: attempt.id });
      }
      return;
    }
    const intent = await lockIntent(db, tx, attempt.payment_id);
    if (!intent) throw new Error(`payment ${attempt.payment_id} not found`);
    assertOutcomeFits(outcome, intent);
    const from = statusOf(intent);
    const attemptStatus = attempt.status === 'unknown' ? 'unknown' : 'pending';
    const asked = askedOf(attempt);
    const threeDs = threeDsOf({ asked, outcome, challenged: attempt.resumes > 0 });
    const three_ds = threeDs ?? attempt.three_ds;
    const eventBase = { paymentId: intent.id, checkoutSessionId: intent.checkout_session_id, invoiceId: intent.invoice_id, customerId: intent.customer_id, attemptId: attempt.id, connector: attempt.connector };

    switch (outcome.status) {
      case 'succeeded': {
        const captured = outcome.captured.amount;
        await saveAttempt(tx, attempt, { status: transitionAttempt(attemptStatus, 'captured'), gateway_reference: outcome.reference, next_action: null, resolved_at: now, three_ds }, now);
        await recordAuthentication(tx, { dialect: db.dialect, customerId: intent.customer_id, asked, threeDs, amount: money(captured, currencyOf(intent.currency)), now });
        const payment_method_id = await keepSavedMethod(deps, tx, { attempt, intent, outcome, now });
        const updated = await saveIntent(
          tx,
          intent,
          { status: transitionPayment(from, 'captured'), amount_authorized: captured, amount_captured: captured, next_action: null, last_error_code: null, last_error_reason: null, last_error_class: null, payment_method_id },
          now,
        );
        await postSale(deps, tx, updated, captured, now);
        await hooks.onSucceeded(tx, updated, now);
        await enqueueEvent(tx, { type: 'payment.succeeded', aggregateType: 'payment', aggregateId: intent.id, now, data: { ...eventBase, amount: captured, currency: intent.currency } });
        return;
      }
      case 'requires_capture': {
        const authorized = outcome.authorized.amount;
        await saveAttempt(tx, attempt, { status: transitionAttempt(attemptStatus, 'authorized'), gateway_reference: outcome.reference, next_action: null, resolved_at: now, three_ds }, now);
        await recordAuthentication(tx, { dialect: db.dialect, customerId: intent.customer_id, asked, threeDs, amount: money(authorized, currencyOf(intent.currency)), now });
        const payment_method_id = await keepSavedMethod(deps, tx, { attempt, intent, outcome, now });
        const updated = await saveIntent(tx, intent, { status: transitionPayment(from, 'authorized'), amount_authorized: authorized, next_action: null, last_error_code: null, last_error_reason: null, last_error_class: null, payment_method_id }, now);
        await postJournal(tx, authorizationPosting({ paymentId: intent.id, connector: attempt.connector, amount: money(authorized, currencyOf(intent.currency)) }), now);
        await hooks.onAuthorized(tx, updated, now);
        await enqueueEvent(tx, { type: 'payment.authorized', aggregateType: 'payment', aggregateId: intent.id, now, data: { ...eventBase, amount: authorized, currency: intent.currency } });
        return;
      }
      case 'requires_action': {
        const action = JSON.stringify(outcome.action);
        await saveAttempt(tx, attempt, { status: transitionAttempt(attemptStatus, 'requires_action'), gateway_reference: outcome.reference, next_action: action, three_ds }, now);
        // A resume that the issuer answered "still waiting" leaves the intent where it was.
        const status = from === 'requires_action' ? from : transitionPayment(from, 'requires_action');
        await saveIntent(tx, intent, { status, next_action: action }, now);
        await enqueueEvent(tx, { type: 'payment.requires_action', aggregateType: 'payment', aggregateId: intent.id, now, data: { ...eventBase, actionType: outcome.action.type } });
        return;
      }
      case 'processing': {
        // Accepted but not settled: the reconciler asks again later.
        if (attempt.status === 'pending') await saveAttempt(tx, attempt, { status: transitionAttempt('pending', 'outcome_unknown'), gateway_reference: outcome.reference }, now);
        return;
      }
      case 'declined': {
        const d = outcome.decline;
        await saveAttempt(tx, attempt, { status: transitionAttempt(attemptStatus, 'declined'), gateway_reference: outcome.reference, next_action: null, resolved_at: now, three_ds, ...declineColumns(d) }, now);
        // An unreachable gateway is not the customer's failure and does not count against them.
        const failedAttempts = d.code === 'gateway_unavailable' ? intent.failed_attempts : intent.failed_attempts + 1;
        const exhausted = failedAttempts >= deps.maxFailedAttempts;
        const updated = await saveIntent(
          tx,
          intent,
          {
            status: transitionPayment(from, exhausted ? 'attempts_exhausted' : 'declined'),
            failed_attempts: failedAttempts,
            last_error_code: d.code,
            last_error_reason: d.reason,
            last_error_class: d.declineClass,
            next_action: null,
          },
          now,
        );
        if (exhausted) await hooks.onFailed(tx, updated, now);
        else await hooks.onDeclined(tx, updated, now);
        await enqueueEvent(tx, {
          type: 'payment.failed',
          aggregateType: 'payment',
          aggregateId: intent.id,
          now,
          data: { ...eventBase, declineCode: d.code, declineReason: d.reason, declineClass: d.declineClass, final: exhausted },
        });
        return;
      }
      default: {
        const unreachable: never = outcome;
        throw new Error(`unknown authorize outcome ${JSON.stringify(unreachable)}`);
      }
    }
  });
}

/**
 * The saved payment method an approved attempt leaves on its payment: the one the gateway just
 * saved (when the attempt asked), else whatever the payment already had (a merchant-initiated
 * charge's). A gateway that approves but does not save what it was asked to is an incident: the
 * subscription behind it will have nothing to renew with.
 */
async function keepSavedMethod(
  deps: PaymentsDeps,
  tx: Tx,
  args: { readonly attempt: AttemptRow; readonly intent: IntentRow; readonly outcome: AuthorizedDetails; readonly now: number },
): Promise<string | null> {
  const { attempt, intent, outcome, now } = args;
  if (attempt.save_payment_method !== 1) return intent.payment_method_id;
  if (outcome.savedPaymentMethod === undefined) {
    deps.onIncident?.(new Error(`attempt ${attempt.id} asked ${attempt.connector} to save the payment method; it approved without saving`), { operation: 'save_payment_method', id: attempt.id });
    return intent.payment_method_id;
  }
  return recordSavedPaymentMethod(tx, { customerId: intent.customer_id, connector: attempt.connector, gatewayReference: outcome.savedPaymentMethod, createdByPaymentId: intent.id, now });
}

function contradicts(recorded: string, outcome: AuthorizeOutcome): boolean {
  switch (outcome.status) {
    case 'succeeded':
      return recorded !== 'captured';
    case 'requires_capture':
      return recorded !== 'authorized' && recorded !== 'captured' && recorded !== 'voided';
    case 'declined':
      return recorded !== 'failed';
    case 'requires_action':
    case 'processing':
      return false;
    default: {
      const unreachable: never = outcome;
      throw new Error(`unknown outcome ${JSON.stringify(unreachable)}`);
    }
  }
}

/** A gateway answering in another currency, or with more than was asked, is not applied. */
function assertOutcomeFits(outcome: AuthorizeOutcome, intent: IntentRow): void {
  const amount = outcome.status === 'succeeded' ? outcome.captured : outcome.status === 'requires_capture' ? outcome.authorized : undefined;
  if (amount && (amount.currency !== intent.currency || amount.amount < 0 || amount.amount > intent.amount)) {
    throw new Error(`gateway answered ${amount.amount} ${amount.currency} for payment ${intent.id} of ${intent.amount} ${intent.currency}`);
  }
}

export async function postSale(deps: PaymentsDeps, tx: Tx, intent: IntentRow, captured: number, now: number): Promise<void> {
  const { sale, taxCountry } = await deps.hooks.saleFor(tx, intent);
  const currency = currencyOf(intent.currency);
  await postJournal(
    tx,
    salePosting({
      paymentId: intent.id,
      connector: intent.connector ?? 'none',
      captured: money(captured, currency),
      total: money(intent.amount, currency),
      sale,
      taxCountry,
    }),
    now,
  );
}

export interface CompleteThreeDSecureProps {
  readonly caller: Caller;
  readonly paymentId: string;
  /** For test gateways: the cardholder's result at the issuer. Real gateways report it themselves. */
  readonly outcome: ChallengeOutcome | null;
  /** The caller's idempotency key, remembered on the attempt so a replay finds its result. */
  readonly requestKey: string;
}

/** Resumes an authorization that waited for 3-D Secure; returns the payment afterwards. */
async function completeThreeDSecureUntraced(deps: PaymentsDeps, props: CompleteThreeDSecureProps): Promise<PaymentView> {
  const { db, clock } = deps;
  authorize(props.caller.actor, 'payment.authenticate');
  const view = await loadPaymentView(db.kysely, props.paymentId);
  if (!view || !mayActFor(props.caller.actor, view.customerId)) throw notFound('payment', 'paymentId');
  if (view.status !== 'requires_action') {
    const resumedByThisRequest = await db.kysely.selectFrom('payment_attempts').select('id').where('payment_id', '=', view.id).where('resume_request_key', '=', props.requestKey).executeTakeFirst();
    if (resumedByThisRequest) return view; // the same request, repeated after a lost response
    throw new ObolError('NO_ACTION_REQUIRED', `This payment does not wait for customer authentication (status ${view.status}).`, { status: view.status });
  }
  const waiting = [...view.attempts].reverse().find((a) => a.status === 'requires_action');
  if (!waiting || !waiting.nextAction) throw new Error(`payment ${view.id} requires action but no attempt does`);
  const connector = connectorFor(deps, waiting.connector);
  if (props.outcome !== null) {
    if (!isChallengeSimulator(connector)) {
      if (props.outcome === 'failed') {
        throw new ObolError('VALIDATION_FAILED', `Only test gateways take the cardholder's answer from the API; ${connector.name} learns it from the issuer.`, { field: 'outcome' });
      }
    } else {
      await connector.completeChallenge({ challengeId: waiting.nextAction.challengeId, outcome: props.outcome });
    }
  }
  const resumed = await db.transaction(async (tx) => {
    const now = clock.now();
    const attempt = await lockAttempt(db, tx, waiting.id);
    const intent = await lockIntent(db, tx, view.id);
    if (!attempt || !intent || attempt.status !== 'requires_action' || intent.status !== 'requires_action') return false; // resumed concurrently
    await saveAttempt(tx, attempt, { status: transitionAttempt('requires_action', 'resume'), resumes: attempt.resumes + 1, resume_request_key: props.requestKey }, now);
    await saveIntent(tx, intent, { status: transitionPayment('requires_action', 'action_completed'), next_action: null }, now);
    return true;
  });
  if (resumed) await executeAttempt(deps, waiting.id);
  const after = await loadPaymentView(db.kysely, view.id);
  if (!after) throw new Error('payment vanished');
  return after;
}

/** Each call is one span of the trace it belongs to (platform/observability/tracing.ts). */
export const executeAttempt = traced('payments.execute_attempt', executeAttemptUntraced);
export const completeThreeDSecure = traced('payments.complete_three_d_secure', completeThreeDSecureUntraced);
