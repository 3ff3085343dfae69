/**
 * Event consumers inside Obol (entitlements today; analytics, subscriptions later). A consumer is a
 * named group with the event types it wants and a handler that changes state in a transaction.
 * Delivery is at least once on every bus, so `deliverOnce` makes the effect happen once: the
 * inbox row (group, event id) and the handler's changes commit in the same transaction, and a
 * redelivered event finds its row and changes nothing.
 *
 * The same consumers run behind the in-process bus (embedded) and behind Kafka consumer groups
 * (production); only the transport differs, never the handler.
 */
import { ROOT_CONTEXT } from '@opentelemetry/api';
import { isUniqueViolation, type Db, type Tx } from '../db/index.js';
import { withLogScope } from '../logging.js';
import { contextFromHeaders, inSpan, SpanKind } from '../observability/tracing.js';
import type { CloudEvent, EventType } from './outbox.js';

export interface EventConsumer {
  /** The consumer group, stable across releases: it keys the inbox and names the Kafka group (`obol.<group>`). */
  readonly group: string;
  readonly types: readonly EventType[];
  /** Applies one event inside the caller's transaction. Throw to fail it (retried, then dead-lettered). */
  handle(tx: Tx, event: CloudEvent, now: number): Promise<void>;
}

export type DeliveryResult = 'applied' | 'duplicate' | 'not_subscribed';

export async function deliverOnce(args: { readonly db: Db; readonly consumer: EventConsumer; readonly event: CloudEvent; readonly now: number }): Promise<DeliveryResult> {
  const { db, consumer, event, now } = args;
  if (!consumer.types.includes(event.type)) return 'not_subscribed';
  try {
    return await db.transaction(async (tx) => {
      const seen = await tx.selectFrom('consumer_inbox').select('event_id').where('consumer_group', '=', consumer.group).where('event_id', '=', event.id).executeTakeFirst();
      if (seen) return 'duplicate' as const;
      await tx.insertInto('consumer_inbox').values({ consumer_group: consumer.group, event_id: event.id, event_type: event.type, processed_at: now }).execute();
      await consumer.handle(tx, event, now);
      return 'applied' as const;
    });
  } catch (err) {
    // Two copies delivering the same event at once: the loser's insert collides and rolls back.
    if (isUniqueViolation(err)) return 'duplicate';
    throw err;
  }
}

/**
 * `deliverOnce` as the consumer span of the event's trace (the publication's context comes in the
 * transport headers, Kafka's or the in-process bus's), with the event id on every log line.
 */
export function deliverTraced(args: {
  readonly db: Db;
  readonly consumer: EventConsumer;
  readonly event: CloudEvent;
  readonly now: number;
  readonly topic: string;
  /** The message's headers: a plain object or a Map (Kafka). */
  readonly headers: unknown;
}): Promise<DeliveryResult> {
  const { consumer, event, topic } = args;
  return inSpan(
    `process ${topic}`,
    {
      kind: SpanKind.CONSUMER,
      parent: contextFromHeaders(args.headers, ROOT_CONTEXT),
      attributes: { 'messaging.operation.type': 'process', 'messaging.destination.name': topic, 'messaging.consumer.group.name': consumer.group, 'messaging.message.id': event.id, 'obol.event.type': event.type },
    },
    (span) =>
      withLogScope({ eventId: event.id, consumerGroup: consumer.group }, async () => {
        const result = await deliverOnce(args);
        span.setAttribute('obol.delivery', result);
        return result;
      }),
  );
}
