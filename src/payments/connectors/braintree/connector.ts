/**
 * The Braintree connector: Obol's port on one side, the official `braintree` Node SDK on the
 * other. A client per flow (sale, submitForSettlement, void, refund, find, search) wraps the
 * SDK's loose types at this edge; everything it answers goes through the pure mapping in
 * `transformers.ts`.
 *
 * Idempotency: Braintree's Node SDK sends no idempotency header, so Obol's key is the
 * transaction's `orderId` (see transformers.ts for captures, vaulting sales and off-session
 * charges), and before a sale or refund is sent the connector searches transactions by that
 * orderId (`transaction.search`): a retry under the same key finds the first attempt and answers
 * from it instead of creating a second sale. Saving a payment method creates no transaction, so
 * there the key becomes the vaulted method's token (`paymentMethod.find` before
 * `paymentMethod.create`, and a "token in use" refusal means an earlier call stored it). Both rely
 * on Obol never running two calls under one key at the same moment (the payment attempt is locked
 * while a call is in flight); concurrent duplicates are not prevented by Braintree.
 *
 * Saved payment methods live in Braintree's vault under one Braintree customer per Obol customer
 * (`braintreeCustomerId`), created when Braintree first says it does not know it; "already
 * exists" is success, so creating it is idempotent too. `savedPaymentMethod` is the vaulted token.
 *
 * Retry policy: reads (find, search) are safe and are retried twice on a transport failure;
 * writes are never re-sent inside the connector. A write that loses its answer throws
 * ConnectorUnknownOutcomeError and Obol resolves it with `retrieve` (a search by orderId), and a
 * later re-send under the same key is safe because of the search-before-send above.
 *
 * Environment: 'sandbox' and 'production' are the SDK's own; `{ host, port, ssl }` builds a
 * `braintree.Environment(host, port, …, ssl, …)`. The SDK's HTTP client connects to
 * `environment.server`/`environment.port` directly (http.js), so this is how tests point the real
 * SDK at the local simulator. The timeout is the SDK's `config.timeout` (default 60 s).
 */
import braintree from 'braintree';
import type { Money } from '../../../money/index.js';
import {
  ConnectorUnavailableError,
  ConnectorUnknownOutcomeError,
  type AuthorizeOutcome,
  type Connector,
  type Decline,
  type RetrieveOutcome,
  type SavePaymentMethodOutcome,
} from '../port.js';
import {
  CUSTOMER_ID_IN_USE,
  PAYMENT_METHOD_CUSTOMER_UNKNOWN,
  SALE_CUSTOMER_UNKNOWN,
  TOKEN_IN_USE_CODES,
  authenticationFields,
  authorizeOutcomeOf,
  authorizeOutcomeOfResult,
  braintreeCustomerId,
  captureOutcomeOf,
  captureOutcomeOfResult,
  captureSuffix,
  isCaptureForKey,
  isOffSessionChargeForKey,
  isRefundForKey,
  isSaleForKey,
  offSessionOrderId,
  orderIdWithCapture,
  readCustomerResult,
  readPaymentMethodResult,
  readResult,
  readTransaction,
  readVaultedMethod,
  refundOutcomeOf,
  refundOutcomeOfResult,
  resourceMissing,
  saleOrderId,
  savedMethodToken,
  toBraintreeAmount,
  transactionDecline,
  validationDecline,
  voidOutcomeOfResult,
  type BtCustomerResult,
  type BtPaymentMethodResult,
  type BtResult,
  type BtTransaction,
  type BtVaultedMethod,
  type ThreeDSecureOptions,
} from './transformers.js';

export const BRAINTREE_CONNECTOR_NAME = 'braintree';

/** Obol's payment method for Braintree: a vaulted token as `token:<token>`, anything else is a nonce from the client SDK. */
export const VAULTED_TOKEN_PREFIX = 'token:';

export interface BraintreeConnectorArgs {
  readonly merchantId: string;
  readonly publicKey: string;
  readonly privateKey: string;
  readonly environment: 'sandbox' | 'production' | { readonly host: string; readonly port: number; readonly ssl: boolean };
  readonly timeoutMs?: number;
  /** Braintree fixes a transaction's currency by merchant account: one account per currency Obol charges in. Absent: the merchant's default account. */
  readonly merchantAccountIds?: Readonly<Record<string, string>>;
  /** See ThreeDSecureOptions: where a customer runs Braintree's client-side 3-D Secure. */
  readonly threeDSecureUrl?: string;
}

// ---- the SDK edge ---------------------------------------------------------------------------

/** The slice of the SDK's transaction gateway we use, typed by what we actually pass. */
interface SdkTransactionGateway {
  sale(request: Readonly<Record<string, unknown>>): Promise<unknown>;
  submitForSettlement(id: string, amount: string, options: Readonly<Record<string, unknown>>): Promise<unknown>;
  void(id: string): Promise<unknown>;
  refund(id: string, options: Readonly<Record<string, unknown>>): Promise<unknown>;
  find(id: string): Promise<unknown>;
  search(build: (search: SdkTransactionSearch) => void): NodeJS.ReadableStream;
}
interface SdkTextField {
  is(value: string): void;
  startsWith(value: string): void;
  endsWith(value: string): void;
}
interface SdkTransactionSearch {
  orderId(): SdkTextField;
}
interface SdkCustomerGateway {
  create(request: Readonly<Record<string, unknown>>): Promise<unknown>;
}
interface SdkPaymentMethodGateway {
  create(request: Readonly<Record<string, unknown>>): Promise<unknown>;
  find(token: string): Promise<unknown>;
}

/** Why a call got no usable answer. `refused`: certainly not executed; `unknown`: may have been. */
class TransportFailure extends Error {
  constructor(
    readonly certainlyNotExecuted: boolean,
    /** False where asking again gives the same refusal (bad credentials, outdated SDK). */
    readonly retryable: boolean,
    message: string,
    options?: { cause: unknown },
  ) {
    super(message, options);
  }
}

function errorType(err: unknown): string | undefined {
  const type: unknown = err instanceof Error ? (err as Error & { readonly type?: unknown }).type : undefined;
  return typeof type === 'string' ? type : undefined;
}

/**
 * The SDK reports every transport problem as an `unexpectedError` with the Node error in its
 * message. Refused connections and auth/rate-limit/upgrade refusals happen before Braintree acts;
 * everything else (timeouts, dropped sockets, 5xx, unreadable bodies) may have taken effect.
 */
function classifyTransport(err: unknown): TransportFailure {
  const message = err instanceof Error ? err.message : String(err);
  const type = errorType(err);
  const refused =
    /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH/.test(message) ||
    type === 'authenticationError' ||
    type === 'authorizationError' ||
    type === 'tooManyRequestsError' ||
    type === 'upgradeRequired' ||
    // The SDK refuses unknown request keys locally, before any I/O.
    type === 'invalidKeysError';
  const permanent = type === 'authenticationError' || type === 'authorizationError' || type === 'upgradeRequired' || type === 'invalidKeysError';
  return new TransportFailure(refused, !permanent, `${type ?? 'error'}: ${message}`, { cause: err });
}

const isNotFound = (err: unknown): boolean => errorType(err) === 'notFoundError';

interface Client {
  sale(request: Readonly<Record<string, unknown>>): Promise<BtResult>;
  submitForSettlement(id: string, amount: string, orderId: string): Promise<BtResult | 'not_found'>;
  void(id: string): Promise<BtResult | 'not_found'>;
  refund(id: string, amount: string, orderId: string): Promise<BtResult | 'not_found'>;
  find(id: string): Promise<BtTransaction | null>;
  searchOrderId(criterion: 'is' | 'startsWith' | 'endsWith', value: string): Promise<readonly BtTransaction[]>;
  createCustomer(id: string): Promise<BtCustomerResult>;
  createPaymentMethod(request: Readonly<Record<string, unknown>>): Promise<BtPaymentMethodResult>;
  findPaymentMethod(token: string): Promise<BtVaultedMethod | null>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Reads are idempotent, so a transport failure is worth two more tries before Obol hears of it. */
async function withReadRetries<T>(read: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await read();
    } catch (err) {
      if (!(err instanceof TransportFailure) || !err.retryable || attempt >= 2) throw err;
      await sleep(50 * (attempt + 1));
    }
  }
}

function sdkEnvironment(environment: BraintreeConnectorArgs['environment']): braintree.Environment {
  if (environment === 'sandbox') return braintree.Environment.Sandbox;
  if (environment === 'production') return braintree.Environment.Production;
  // Only server, port and ssl are read for the REST API; the auth and GraphQL endpoints are unused by these flows.
  return new braintree.Environment(environment.host, String(environment.port), '', environment.ssl, environment.host, String(environment.port));
}

function createClient(args: BraintreeConnectorArgs): Client {
  const gateway = new braintree.BraintreeGateway({
    environment: sdkEnvironment(args.environment),
    merchantId: args.merchantId,
    publicKey: args.publicKey,
    privateKey: args.privateKey,
  });
  // The SDK has no constructor option for it; Config.timeout is what http.js passes to setTimeout.
  (gateway.config as { timeout: number }).timeout = args.timeoutMs ?? 30_000;
  const tx = gateway.transaction as unknown as SdkTransactionGateway;
  const customers = gateway.customer as unknown as SdkCustomerGateway;
  const vault = gateway.paymentMethod as unknown as SdkPaymentMethodGateway;

  const write = async (send: () => Promise<unknown>): Promise<BtResult | 'not_found'> => {
    let raw: unknown;
    try {
      raw = await send();
    } catch (err) {
      if (isNotFound(err)) return 'not_found';
      throw classifyTransport(err);
    }
    return readResult(raw);
  };

  return {
    sale: async (request) => {
      const result = await write(() => tx.sale(request));
      if (result === 'not_found') throw new TransportFailure(false, false, 'sale answered 404');
      return result;
    },
    submitForSettlement: (id, amount, orderId) => write(() => tx.submitForSettlement(id, amount, { orderId })),
    void: (id) => write(() => tx.void(id)),
    refund: (id, amount, orderId) => write(() => tx.refund(id, { amount, orderId })),
    find: (id) =>
      withReadRetries(async () => {
        let raw: unknown;
        try {
          raw = await tx.find(id);
        } catch (err) {
          if (isNotFound(err)) return null;
          throw classifyTransport(err);
        }
        return readTransaction(raw);
      }),
    createCustomer: async (id) => {
      let raw: unknown;
      try {
        raw = await customers.create({ id });
      } catch (err) {
        throw classifyTransport(err);
      }
      return readCustomerResult(raw);
    },
    createPaymentMethod: async (request) => {
      let raw: unknown;
      try {
        raw = await vault.create(request);
      } catch (err) {
        throw classifyTransport(err);
      }
      return readPaymentMethodResult(raw);
    },
    findPaymentMethod: (token) =>
      withReadRetries(async () => {
        let raw: unknown;
        try {
          raw = await vault.find(token);
        } catch (err) {
          if (isNotFound(err)) return null;
          throw classifyTransport(err);
        }
        return readVaultedMethod(raw);
      }),
    searchOrderId: (criterion, value) =>
      withReadRetries(
        () =>
          new Promise<readonly BtTransaction[]>((resolve, reject) => {
            const found: BtTransaction[] = [];
            let failed = false;
            const stream = tx.search((search) => search.orderId()[criterion](value));
            stream.on('data', (item: unknown) => {
              try {
                found.push(readTransaction(item));
              } catch (err) {
                failed = true;
                reject(err);
              }
            });
            stream.on('error', (err: unknown) => {
              failed = true;
              reject(classifyTransport(err));
            });
            stream.on('end', () => {
              if (!failed) resolve(found);
            });
          }),
      ),
  };
}

// ---- the connector --------------------------------------------------------------------------

/** Runs one flow; transport failures become the port's two exceptions, unreadable answers an unknown outcome. */
async function call<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof TransportFailure && err.certainlyNotExecuted) {
      const unavailable = new ConnectorUnavailableError(BRAINTREE_CONNECTOR_NAME, `braintree: ${err.message}`);
      unavailable.cause = err;
      throw unavailable;
    }
    if (err instanceof ConnectorUnavailableError || err instanceof ConnectorUnknownOutcomeError) throw err;
    const reason = err instanceof Error ? err.message : String(err);
    const unknown = new ConnectorUnknownOutcomeError(BRAINTREE_CONNECTOR_NAME, `braintree: outcome unknown (${reason})`);
    unknown.cause = err;
    throw unknown;
  }
}

function paymentMethodFields(paymentMethod: string): Record<string, string> {
  return paymentMethod.startsWith(VAULTED_TOKEN_PREFIX) ? { paymentMethodToken: paymentMethod.slice(VAULTED_TOKEN_PREFIX.length) } : { paymentMethodNonce: paymentMethod };
}

export function createBraintreeConnector(args: BraintreeConnectorArgs): Connector {
  const client = createClient(args);
  const tds: ThreeDSecureOptions = args.threeDSecureUrl === undefined ? {} : { threeDSecureUrl: args.threeDSecureUrl };

  const findSale = async (key: string): Promise<BtTransaction | undefined> => (await client.searchOrderId('startsWith', key)).find((t) => isSaleForKey(t, key));
  const findOffSessionCharge = async (key: string): Promise<BtTransaction | undefined> =>
    (await client.searchOrderId('is', offSessionOrderId(key))).find((t) => isOffSessionChargeForKey(t, key));

  /**
   * Runs a vaulting call for the Braintree customer, creating the customer only when Braintree
   * says it does not exist yet (one extra call per Obol customer, not per save). The refused first
   * call created nothing, so sending it again is safe; "ID taken" on create means a concurrent or
   * earlier call created the customer, which is just as good.
   */
  const withCustomer = async <R>(customerId: string, send: () => Promise<R>, customerUnknown: (result: R) => boolean): Promise<R | Decline> => {
    const first = await send();
    if (!customerUnknown(first)) return first;
    const created = await client.createCustomer(customerId);
    if (created.kind === 'error' && !created.errors.some((e) => e.code === CUSTOMER_ID_IN_USE)) return validationDecline(created.errors, created.message);
    return send();
  };

  /** A vaulted method found under a save's token: the save's answer, unless another customer's save used the same key. */
  const savedOutcome = (method: BtVaultedMethod, customerId: string): SavePaymentMethodOutcome =>
    method.customerId === customerId
      ? { status: 'saved', savedPaymentMethod: method.token }
      : { status: 'declined', decline: { code: 'idempotency_key_reused', reason: 'idempotency_key_reused', declineClass: 'hard', message: 'this key already saved a payment method for another customer' } };
  const merchantAccountFor = (amount: Money): Record<string, string> => {
    const id = args.merchantAccountIds?.[amount.currency];
    return id === undefined ? {} : { merchantAccountId: id };
  };

  return {
    name: BRAINTREE_CONNECTOR_NAME,

    authorize: (a) =>
      call(async (): Promise<AuthorizeOutcome> => {
        const earlier = await findSale(a.idempotencyKey);
        if (earlier) return authorizeOutcomeOf(earlier, null, tds);
        if (args.merchantAccountIds !== undefined && args.merchantAccountIds[a.amount.currency] === undefined) {
          return { status: 'declined', reference: null, decline: { code: 'merchant_account_missing', reason: 'currency_not_supported', declineClass: 'hard', message: `no Braintree merchant account for ${a.amount.currency}` } };
        }
        const store = a.savePaymentMethod === true;
        const customerId = braintreeCustomerId(a.customerId);
        const auth = authenticationFields(a.authentication);
        // Braintree has no free-text description on a sale (descriptors are for statements and strictly formatted), so it is not sent.
        const request = {
          amount: toBraintreeAmount(a.amount),
          ...paymentMethodFields(a.paymentMethod),
          ...merchantAccountFor(a.amount),
          // recurring_first flags this customer-present payment as the start of the series that the
          // later off-session charges (transactionSource `recurring`) continue.
          ...(store ? { customerId, transactionSource: 'recurring_first' } : {}),
          ...auth.fields,
          orderId: saleOrderId(a.idempotencyKey, store),
          options: { submitForSettlement: a.captureMethod === 'automatic', ...(store ? { storeInVaultOnSuccess: true } : {}), ...auth.options },
        };
        const result = store
          ? await withCustomer(customerId, () => client.sale(request), (r) => r.kind === 'error' && r.transaction === null && r.errors.some((e) => e.code === SALE_CUSTOMER_UNKNOWN))
          : await client.sale(request);
        if ('declineClass' in result) return { status: 'declined', reference: null, decline: result };
        return authorizeOutcomeOfResult(result, tds);
      }),

    // Braintree's 3-D Secure completes in the client SDK and yields a new nonce for a new sale;
    // nothing server-side changes the rejected transaction, so resuming re-reads it.
    resume: (a) =>
      call(async (): Promise<AuthorizeOutcome> => {
        const t = await client.find(a.reference);
        if (!t) return { status: 'declined', reference: null, decline: resourceMissing(a.reference) };
        return authorizeOutcomeOf(t, null, tds);
      }),

    capture: (a) =>
      call(async () => {
        const t = await client.find(a.reference);
        if (!t) return { status: 'declined', decline: resourceMissing(a.reference) };
        if (isCaptureForKey(t, a.idempotencyKey)) return captureOutcomeOf(t);
        const result = await client.submitForSettlement(a.reference, toBraintreeAmount(a.amount), orderIdWithCapture(t, a.idempotencyKey));
        return result === 'not_found' ? { status: 'declined', decline: resourceMissing(a.reference) } : captureOutcomeOfResult(result);
      }),

    void: (a) =>
      call(async () => {
        const result = await client.void(a.reference);
        if (result === 'not_found') return { status: 'declined', decline: resourceMissing(a.reference) };
        const outcome = voidOutcomeOfResult(result);
        // A void is a state change, not a new transaction: a repeat finds the sale already voided, which is the same outcome.
        if (outcome.status === 'declined' && (await client.find(a.reference))?.status === 'voided') return { status: 'succeeded' };
        return outcome;
      }),

    refund: (a) =>
      call(async () => {
        const earlier = (await client.searchOrderId('is', a.idempotencyKey)).find((t) => isRefundForKey(t, a.idempotencyKey));
        if (earlier) {
          if (earlier.refundedTransactionId !== a.reference) {
            return { status: 'declined', decline: { code: 'idempotency_key_reused', reason: 'idempotency_key_reused', declineClass: 'hard', message: 'this key already refunded another transaction' } };
          }
          return refundOutcomeOf(earlier, null);
        }
        const result = await client.refund(a.reference, toBraintreeAmount(a.amount), a.idempotencyKey);
        return result === 'not_found' ? { status: 'declined', decline: resourceMissing(a.reference) } : refundOutcomeOfResult(result);
      }),

    savePaymentMethod: (a) =>
      call(async (): Promise<SavePaymentMethodOutcome> => {
        const customerId = braintreeCustomerId(a.customerId);
        if (a.paymentMethod.startsWith(VAULTED_TOKEN_PREFIX)) {
          // Already in the vault (it was verified when it was stored): saving it again would only copy it.
          const method = await client.findPaymentMethod(a.paymentMethod.slice(VAULTED_TOKEN_PREFIX.length));
          return method
            ? { status: 'saved', savedPaymentMethod: method.token }
            : { status: 'declined', decline: { code: '91518', reason: 'invalid_payment_method', declineClass: 'hard', message: 'Payment method token is invalid.' } };
        }
        const token = savedMethodToken(a.idempotencyKey);
        const earlier = await client.findPaymentMethod(token);
        if (earlier) return savedOutcome(earlier, customerId);
        const result = await withCustomer(
          customerId,
          () => client.createPaymentMethod({ customerId, paymentMethodNonce: a.paymentMethod, token, options: { verifyCard: true } }),
          (r) => r.kind === 'error' && r.errors.some((e) => e.code === PAYMENT_METHOD_CUSTOMER_UNKNOWN),
        );
        if ('declineClass' in result) return { status: 'declined', decline: result };
        switch (result.kind) {
          case 'saved':
            return savedOutcome(result.method, customerId);
          case 'verification_failed':
            return { status: 'declined', decline: transactionDecline(result.verification, result.message) };
          case 'error': {
            // Taken by the first call under this key, whose answer was lost between our find and create.
            if (result.errors.some((e) => TOKEN_IN_USE_CODES.has(e.code))) {
              const stored = await client.findPaymentMethod(token);
              if (stored) return savedOutcome(stored, customerId);
            }
            return { status: 'declined', decline: validationDecline(result.errors, result.message) };
          }
          default: {
            const unreachable: never = result;
            throw new Error(`unknown payment method result ${JSON.stringify(unreachable)}`);
          }
        }
      }),

    // A renewal: Braintree's `transactionSource: 'recurring'` is the merchant-initiated charge of a
    // subscription on a schedule (`unscheduled` is for charges at no fixed interval), and marks it
    // out of SCA's scope. No 3-D Secure page is passed on, so a `three_d_secure` rejection or
    // processor response 2099 (Cardholder Authentication Required) is a customer_action decline.
    chargeOffSession: (a) =>
      call(async (): Promise<AuthorizeOutcome> => {
        const earlier = await findOffSessionCharge(a.idempotencyKey);
        if (earlier) return authorizeOutcomeOf(earlier, null, {});
        if (args.merchantAccountIds !== undefined && args.merchantAccountIds[a.amount.currency] === undefined) {
          return { status: 'declined', reference: null, decline: { code: 'merchant_account_missing', reason: 'currency_not_supported', declineClass: 'hard', message: `no Braintree merchant account for ${a.amount.currency}` } };
        }
        const result = await client.sale({
          amount: toBraintreeAmount(a.amount),
          paymentMethodToken: a.savedPaymentMethod,
          ...merchantAccountFor(a.amount),
          orderId: offSessionOrderId(a.idempotencyKey),
          transactionSource: 'recurring',
          options: { submitForSettlement: true },
        });
        return authorizeOutcomeOfResult(result, {});
      }),

    retrieve: (a) =>
      call(async (): Promise<RetrieveOutcome> => {
        switch (a.operation) {
          case 'authorize': {
            const sale = await findSale(a.idempotencyKey);
            return sale ? { status: 'found', operation: 'authorize', outcome: authorizeOutcomeOf(sale, null, tds) } : { status: 'not_found' };
          }
          case 'capture': {
            const sale = (await client.searchOrderId('endsWith', captureSuffix(a.idempotencyKey))).find((t) => isCaptureForKey(t, a.idempotencyKey));
            return sale ? { status: 'found', operation: 'capture', outcome: captureOutcomeOf(sale) } : { status: 'not_found' };
          }
          case 'refund': {
            const credit = (await client.searchOrderId('is', a.idempotencyKey)).find((t) => isRefundForKey(t, a.idempotencyKey));
            return credit ? { status: 'found', operation: 'refund', outcome: refundOutcomeOf(credit, null) } : { status: 'not_found' };
          }
          case 'charge_off_session': {
            const sale = await findOffSessionCharge(a.idempotencyKey);
            return sale ? { status: 'found', operation: 'charge_off_session', outcome: authorizeOutcomeOf(sale, null, {}) } : { status: 'not_found' };
          }
          // resume sends nothing to Braintree; a void carries no orderId and is safe to send again
          // (a repeat of a done void answers succeeded), so "not found" correctly means "send it".
          case 'resume':
          case 'void':
            return { status: 'not_found' };
          default: {
            const unreachable: never = a.operation;
            throw new Error(`unknown operation ${String(unreachable)}`);
          }
        }
      }),
  };
}
