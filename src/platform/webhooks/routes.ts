/**
 * HTTP intake of gateway webhooks: POST /webhooks/{stripe,braintree,razorpay}. Each request is
 * card-guarded, verified against the exact bytes received, stored in the inbox and acknowledged;
 * processing happens later in the worker, so a gateway never waits on our business logic.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ObolError, isObolError, type Clock, type ErrorCode } from '../../kernel/index.js';
import type { Db } from '../db/index.js';
import { httpStatusFor } from '../graphql/errors.js';
import type { Logger } from '../logging.js';
import { CARD_DATA_MESSAGE, findCardNumber } from '../security/card-guard.js';
import { recordWebhook } from './inbox.js';
import {
  isWebhookSignatureError,
  verifyBraintreeNotification,
  verifyRazorpaySignature,
  verifyStripeSignature,
  type BraintreeKey,
  type VerifiedWebhook,
  type WebhookGateway,
} from './verify.js';

export interface WebhookSecrets {
  readonly stripe: readonly string[];
  readonly braintree: readonly BraintreeKey[];
  readonly razorpay: readonly string[];
}

export interface RegisterWebhookRoutesArgs {
  readonly db: Db;
  readonly clock: Clock;
  readonly secrets: WebhookSecrets;
  readonly logger: Logger;
  /** Stripe's timestamp tolerance; Stripe's SDK defaults to 300 s. */
  readonly stripeToleranceSeconds?: number;
}

export const DEFAULT_STRIPE_TOLERANCE_SECONDS = 300;

function sendError(reply: FastifyReply, code: ErrorCode, message: string) {
  return reply
    .status(httpStatusFor(code))
    .header('content-type', 'application/json; charset=utf-8')
    .send({ errors: [{ message, extensions: { code } }] });
}

function header(req: FastifyRequest, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' ? value : undefined;
}

function rawBody(req: FastifyRequest): Buffer {
  if (!Buffer.isBuffer(req.body) || req.body.length === 0) throw new ObolError('VALIDATION_FAILED', 'The webhook body is empty.');
  return req.body;
}

/** Invariant 6 at this entry point: masked card data (last4, bin) passes, a full PAN does not. */
function guard(text: string): void {
  if (findCardNumber(text)) throw new ObolError('CARD_DATA_REFUSED', CARD_DATA_MESSAGE);
}

/**
 * Registers the routes in their own encapsulated scope: there, every content type is read as raw
 * bytes (the host server's JSON parser would hand over a re-serialisable object, and a signature
 * is over the exact bytes), and errors get webhook-specific handling.
 */
export async function registerWebhookRoutes(server: FastifyInstance, args: RegisterWebhookRoutesArgs): Promise<void> {
  const { db, clock, secrets, logger } = args;
  const toleranceSeconds = args.stripeToleranceSeconds ?? DEFAULT_STRIPE_TOLERANCE_SECONDS;

  await server.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

    scope.setErrorHandler((err: unknown, req, reply) => {
      const gateway = req.url.split('?')[0]?.split('/')[2];
      if (isWebhookSignatureError(err)) {
        // The gateway hears one generic message; the log keeps the reason for whoever investigates.
        logger.warn({ requestId: req.id, gateway, reason: err.reason }, 'webhook signature refused');
        return sendError(reply, err.code, err.message);
      }
      if (isObolError(err)) {
        logger.info({ requestId: req.id, gateway, code: err.code }, 'webhook refused');
        return sendError(reply, err.code, err.message);
      }
      const e = err as { code?: string; statusCode?: number };
      if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return sendError(reply, 'INPUT_TOO_LARGE', 'The webhook body is too large.');
      if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) return sendError(reply, 'VALIDATION_FAILED', 'The webhook request is malformed.');
      // A 5xx makes the gateway redeliver later, which is what we want when the inbox is down.
      logger.error({ err, requestId: req.id, gateway }, 'webhook intake failed');
      return sendError(reply, 'INTERNAL', 'Internal error');
    });

    async function store(gateway: WebhookGateway, event: VerifiedWebhook, payload: string, req: FastifyRequest) {
      const { duplicate } = await recordWebhook(db, { gateway, eventId: event.eventId, type: event.type, payload, occurredAt: event.occurredAt, now: clock.now() });
      logger.info({ requestId: req.id, gateway, eventId: event.eventId, type: event.type, duplicate }, 'webhook received');
      return { received: true, duplicate };
    }

    scope.post('/webhooks/stripe', async (req) => {
      const body = rawBody(req);
      const text = body.toString('utf8');
      guard(text);
      const event = verifyStripeSignature({ rawBody: body, header: header(req, 'stripe-signature'), secrets: secrets.stripe, toleranceSeconds, now: clock.now() });
      return store('stripe', event, text, req);
    });

    scope.post('/webhooks/razorpay', async (req) => {
      const body = rawBody(req);
      const text = body.toString('utf8');
      guard(text);
      const event = verifyRazorpaySignature({
        rawBody: body,
        signature: header(req, 'x-razorpay-signature'),
        eventId: header(req, 'x-razorpay-event-id'),
        secrets: secrets.razorpay,
      });
      return store('razorpay', event, text, req);
    });

    scope.post('/webhooks/braintree', async (req) => {
      // Braintree posts application/x-www-form-urlencoded bt_signature and bt_payload. Neither is
      // what anyone typed: the signature is hex and the payload base64, where digit runs occur by
      // chance (a 40-digit hex HMAC holds a Luhn-valid 13–19 digit run about once in a few hundred
      // deliveries). Scanning them would refuse genuine notifications, and Braintree's retries
      // carry the same bytes, so the notification would be lost. The guard reads the decoded XML.
      const form = new URLSearchParams(rawBody(req).toString('utf8'));
      const event = verifyBraintreeNotification({
        btSignature: form.get('bt_signature') ?? undefined,
        btPayload: form.get('bt_payload') ?? undefined,
        keys: secrets.braintree,
      });
      guard(event.xml);
      return store('braintree', event, event.xml, req);
    });
  });
}
