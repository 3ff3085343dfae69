/**
 * The sandbox connector: Obol's port on one side, the sandbox gateway's API on the other. Like a
 * Hyperswitch connector it is a client per flow plus pure request/response mapping: Money to the
 * gateway's amount format and back, the gateway's error codes to Obol's normalized decline
 * reasons and classes, and transport failures to the port's two exceptions.
 */
import { money, parseCurrency, type Money } from '../../../money/index.js';
import type { Clock } from '../../../kernel/index.js';
import type { Db } from '../../../platform/db/index.js';
import {
  ConnectorUnavailableError,
  ConnectorUnknownOutcomeError,
  type AuthenticationRequest,
  type AuthorizedDetails,
  type AuthorizeOutcome,
  type CaptureOutcome,
  type SavePaymentMethodOutcome,
  type ChallengeSimulator,
  type Connector,
  type Decline,
  type DeclineClass,
  type RefundOutcome,
  type RetrieveOutcome,
  type VoidOutcome,
} from '../port.js';
import {
  createSandboxGateway,
  SandboxTransportError,
  type CaptureResponse,
  type ChargeResponse,
  type GatewayCharge,
  type GatewayThreeDsRequest,
  type SaveResponse,
  type GatewayError,
  type GatewayErrorCode,
  type RefundResponse,
  type SandboxChargeRecord,
  type SandboxGateway,
  type SandboxOptions,
  type VoidResponse,
} from './gateway.js';

export const SANDBOX_CONNECTOR_NAME = 'sandbox';

export type SandboxConnector = Connector &
  ChallengeSimulator & {
    /** Every row the sandbox gateway logged, by time (rows of one millisecond in no defined order): the proof that nothing ran twice. */
    chargeLog(): Promise<readonly SandboxChargeRecord[]>;
  };

/** The gateway's answer could not be understood: for Obol that is the same as no answer. */
class UnreadableResponse extends Error {}

// ---- amounts --------------------------------------------------------------------------------

/** The sandbox speaks integer minor units, so only the shape changes; a decimal-string gateway would format here. */
function toGatewayAmount(amount: Money): { readonly amount: number; readonly currency: string } {
  return { amount: amount.amount, currency: amount.currency };
}

function fromGatewayAmount(amount: number, currency: string): Money {
  const code = parseCurrency(currency);
  if (code === undefined || !Number.isSafeInteger(amount)) throw new UnreadableResponse(`unreadable amount ${amount} ${currency}`);
  return money(amount, code);
}

// ---- declines -------------------------------------------------------------------------------

/** Obol's normalized reason for a gateway error: the issuer's decline code when it gave one. */
function reasonOf(error: GatewayError): string {
  switch (error.code) {
    case 'card_declined':
      return error.declineCode ?? 'generic_decline';
    case 'authentication_failed':
    case 'authentication_required':
      return error.declineCode ?? 'authentication_required';
    case 'processing_error':
    case 'invalid_payment_method':
    case 'invalid_request':
    case 'amount_too_large':
    case 'currency_mismatch':
    case 'charge_already_captured':
    case 'charge_already_voided':
    case 'charge_not_captured':
    case 'charge_not_authorized':
    case 'resource_missing':
    case 'idempotency_key_reused':
      return error.code;
    default: {
      const unreachable: never = error.code;
      throw new UnreadableResponse(`unknown gateway error code ${String(unreachable)}`);
    }
  }
}

/**
 * Soft only where trying again (later, or on another connector) can succeed. A reused idempotency
 * key is hard: it is a bug on Obol's side, and retrying under that key can never execute.
 */
function declineClassOf(code: GatewayErrorCode): DeclineClass {
  switch (code) {
    case 'processing_error':
      return 'soft';
    case 'authentication_failed':
    case 'authentication_required':
      return 'customer_action';
    case 'card_declined':
    case 'invalid_payment_method':
    case 'invalid_request':
    case 'amount_too_large':
    case 'currency_mismatch':
    case 'charge_already_captured':
    case 'charge_already_voided':
    case 'charge_not_captured':
    case 'charge_not_authorized':
    case 'resource_missing':
    case 'idempotency_key_reused':
      return 'hard';
    default: {
      const unreachable: never = code;
      throw new UnreadableResponse(`unknown gateway error code ${String(unreachable)}`);
    }
  }
}

export function toDecline(error: GatewayError): Decline {
  return { code: error.code, reason: reasonOf(error), declineClass: declineClassOf(error.code), message: error.message };
}

// ---- responses ------------------------------------------------------------------------------

/** The gateway's 3-D Secure result and saved method, left out when it reports none (the port's convention). */
function detailsOf(response: GatewayCharge): AuthorizedDetails {
  return {
    ...(response.threeDSecure === null ? {} : { threeDSecure: response.threeDSecure }),
    ...(response.savedPaymentMethod === null ? {} : { savedPaymentMethod: response.savedPaymentMethod }),
  };
}

function toThreeDsRequest(request: AuthenticationRequest | undefined): GatewayThreeDsRequest {
  if (request === undefined) return 'automatic';
  switch (request.kind) {
    case 'gateway_default':
      return 'automatic';
    case 'required':
      return 'required';
    case 'exemption':
      return request.exemption === 'low_value' ? 'exempt_low_value' : 'exempt_recurring';
    default: {
      const unreachable: never = request;
      throw new Error(`unknown authentication request ${JSON.stringify(unreachable)}`);
    }
  }
}

function toAuthorizeOutcome(response: ChargeResponse): AuthorizeOutcome {
  if (response.object === 'error') return { status: 'declined', reference: response.charge, decline: toDecline(response) };
  switch (response.status) {
    case 'succeeded':
      return { status: 'succeeded', reference: response.id, captured: fromGatewayAmount(response.amountCaptured, response.currency), ...detailsOf(response) };
    case 'requires_capture':
      return { status: 'requires_capture', reference: response.id, authorized: fromGatewayAmount(response.amount, response.currency), ...detailsOf(response) };
    case 'requires_action': {
      const next = response.nextAction;
      if (next?.type !== 'three_d_secure_redirect') throw new UnreadableResponse('requires_action without a next action');
      return { status: 'requires_action', reference: response.id, action: { type: 'three_d_secure_challenge', challengeId: next.challengeId, redirectUrl: next.url } };
    }
    default: {
      const unreachable: never = response.status;
      throw new UnreadableResponse(`unknown charge status ${String(unreachable)}`);
    }
  }
}

function toSaveOutcome(response: SaveResponse): SavePaymentMethodOutcome {
  return response.object === 'error' ? { status: 'declined', decline: toDecline(response) } : { status: 'saved', savedPaymentMethod: response.id };
}

function toCaptureOutcome(response: CaptureResponse): CaptureOutcome {
  return response.object === 'error' ? { status: 'declined', decline: toDecline(response) } : { status: 'succeeded', captured: fromGatewayAmount(response.amount, response.currency) };
}

function toVoidOutcome(response: VoidResponse): VoidOutcome {
  return response.object === 'error' ? { status: 'declined', decline: toDecline(response) } : { status: 'succeeded' };
}

function toRefundOutcome(response: RefundResponse): RefundOutcome {
  return response.object === 'error' ? { status: 'declined', decline: toDecline(response) } : { status: 'succeeded', reference: response.id };
}

// ---- the connector --------------------------------------------------------------------------

/**
 * Runs one gateway call and maps its answer. A refused connection certainly did nothing; anything
 * else that leaves us without a readable answer (lost response, the gateway failing mid-request,
 * a response we cannot parse) may have taken effect and is reported as an unknown outcome.
 */
async function call<T>(send: () => Promise<T>): Promise<T> {
  try {
    return await send();
  } catch (err) {
    if (err instanceof SandboxTransportError && err.phase === 'connect') throw new ConnectorUnavailableError(SANDBOX_CONNECTOR_NAME, err.message);
    const reason = err instanceof Error ? err.message : String(err);
    const unknown = new ConnectorUnknownOutcomeError(SANDBOX_CONNECTOR_NAME, `sandbox: outcome unknown (${reason})`);
    unknown.cause = err;
    throw unknown;
  }
}

export function sandboxConnectorFor(gateway: SandboxGateway): SandboxConnector {
  return {
    name: SANDBOX_CONNECTOR_NAME,

    authorize: (args) =>
      call(async () => {
        const { amount, currency } = toGatewayAmount(args.amount);
        return toAuthorizeOutcome(
          await gateway.createCharge({
            idempotencyKey: args.idempotencyKey,
            amount,
            currency,
            paymentMethod: args.paymentMethod,
            capture: args.captureMethod === 'automatic',
            customer: args.customerId,
            description: args.description,
            threeDSecure: toThreeDsRequest(args.authentication),
            savePaymentMethod: args.savePaymentMethod === true,
          }),
        );
      }),

    savePaymentMethod: (args) =>
      call(async () => toSaveOutcome(await gateway.savePaymentMethod({ idempotencyKey: args.idempotencyKey, paymentMethod: args.paymentMethod, customer: args.customerId }))),

    chargeOffSession: (args) =>
      call(async () => {
        const { amount, currency } = toGatewayAmount(args.amount);
        return toAuthorizeOutcome(
          await gateway.chargeSavedMethod({ idempotencyKey: args.idempotencyKey, amount, currency, paymentMethod: args.savedPaymentMethod, customer: args.customerId, description: args.description }),
        );
      }),

    resume: (args) =>
      call(async () => toAuthorizeOutcome(await gateway.confirmCharge({ idempotencyKey: args.idempotencyKey, charge: args.reference, capture: args.captureMethod === 'automatic' }))),

    capture: (args) =>
      call(async () => toCaptureOutcome(await gateway.captureCharge({ idempotencyKey: args.idempotencyKey, charge: args.reference, ...toGatewayAmount(args.amount) }))),

    void: (args) => call(async () => toVoidOutcome(await gateway.voidCharge({ idempotencyKey: args.idempotencyKey, charge: args.reference }))),

    refund: (args) =>
      call(async () => toRefundOutcome(await gateway.refundCharge({ idempotencyKey: args.idempotencyKey, charge: args.reference, ...toGatewayAmount(args.amount) }))),

    retrieve: (args) =>
      call(async (): Promise<RetrieveOutcome> => {
        const stored = await gateway.lookup(args.idempotencyKey);
        // A key spent on another operation means this operation never ran under it.
        if (stored === undefined || stored.operation !== args.operation) return { status: 'not_found' };
        switch (stored.operation) {
          case 'authorize':
          case 'resume':
          case 'charge_off_session':
            return { status: 'found', operation: stored.operation, outcome: toAuthorizeOutcome(stored.body) };
          case 'capture':
            return { status: 'found', operation: 'capture', outcome: toCaptureOutcome(stored.body) };
          case 'void':
            return { status: 'found', operation: 'void', outcome: toVoidOutcome(stored.body) };
          case 'refund':
            return { status: 'found', operation: 'refund', outcome: toRefundOutcome(stored.body) };
          default: {
            const unreachable: never = stored;
            throw new UnreadableResponse(`unknown stored operation ${JSON.stringify(unreachable)}`);
          }
        }
      }),

    completeChallenge: (args) => gateway.completeChallenge(args),

    chargeLog: () => gateway.chargeLog(),
  };
}

/** The default connector: the built-in sandbox gateway, keeping its own log in `sandbox_charges`. */
export function createSandboxConnector(args: { readonly db: Db; readonly clock: Clock; readonly options?: SandboxOptions }): SandboxConnector {
  return sandboxConnectorFor(createSandboxGateway(args));
}
