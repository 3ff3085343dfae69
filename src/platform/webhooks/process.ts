/**
 * The worker's side of the webhook inbox: claim due events, turn each into what it means for
 * Obol, apply it, and mark it processed; a failure is retried with backoff and, after enough
 * attempts, parked for a person. Each event's effect is idempotent, so a crash mid-way is safe.
 */
import type { Logger } from 'pino';
import type { Clock } from '../../kernel/index.js';
import { applyGatewayFact, mapBraintreeNotification, mapRazorpayEvent, mapStripeEvent, type GatewayFact, type PaymentsDeps } from '../../payments/index.js';
import type { Db } from '../db/index.js';
import { withLogScope } from '../logging.js';
import { inSpan, recordFailure, SpanKind } from '../observability/tracing.js';
import { claimWebhooks, markFailed, markProcessed, type ClaimedWebhook } from './inbox.js';

function factOf(event: ClaimedWebhook): GatewayFact {
  switch (event.gateway) {
    case 'stripe':
      return mapStripeEvent(event.payload);
    case 'razorpay':
      return mapRazorpayEvent(event.payload);
    case 'braintree':
      // The inbox holds the verified notification's XML (kind, timestamp and subject).
      return mapBraintreeNotification(event.payload);
    default: {
      const unreachable: never = event.gateway;
      throw new Error(`unknown gateway ${String(unreachable)}`);
    }
  }
}

export async function processWebhooksOnce(args: { readonly db: Db; readonly clock: Clock; readonly payments: PaymentsDeps; readonly logger: Logger; readonly limit?: number }): Promise<number> {
  const { db, clock, payments, logger } = args;
  const events = await claimWebhooks(db, { limit: args.limit ?? 50, now: clock.now() });
  for (const event of events) {
    const ref = { gateway: event.gateway, eventId: event.eventId };
    // Each delivery is an operation of its own: a span (its statements and gateway calls under it)
    // and log lines that name the delivery.
    await inSpan('webhook.process', { kind: SpanKind.CONSUMER, attributes: { 'obol.webhook.gateway': event.gateway, 'obol.webhook.event_id': event.eventId, 'obol.webhook.type': event.type.slice(0, 100) } }, (span) =>
      withLogScope({ webhookEventId: event.eventId, gateway: event.gateway }, async () => {
        try {
          const { outcome } = await applyGatewayFact(payments, factOf(event), event.occurredAt ?? event.receivedAt);
          await markProcessed(db, { ...ref, now: clock.now() });
          logger.info({ ...ref, type: event.type, outcome }, 'webhook processed');
        } catch (err) {
          recordFailure(span, err);
          const message = err instanceof Error ? err.message : String(err);
          const { status } = await markFailed(db, { ...ref, error: message, now: clock.now() });
          logger.warn({ ...ref, type: event.type, attempt: event.attempt, status, err }, 'webhook processing failed');
        }
      }),
    );
  }
  return events.length;
}
