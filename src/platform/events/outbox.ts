/**
 * Transactional outbox (invariant 2): a use case appends its events in the same transaction as
 * its state change; the worker's relay publishes them afterwards. Events are CloudEvents 1.0
 * envelopes, one topic per context and version, keyed by aggregate id.
 */
import { newId } from '../../kernel/index.js';
import type { Executor } from '../db/index.js';
import { activeTraceIds, traceHeaders } from '../observability/tracing.js';

export const EVENT_TOPICS = ['obol.checkout.v1', 'obol.payments.v1', 'obol.ledger.v1', 'obol.subscriptions.v1'] as const;
export type EventTopic = (typeof EVENT_TOPICS)[number];

export const EVENT_TYPES = [
  'checkout.session_created',
  'checkout.completed',
  'checkout.canceled',
  'checkout.expired',
  'order.access_revoked',
  'payment.authorized',
  'payment.requires_action',
  'payment.succeeded',
  'payment.failed',
  'payment.canceled',
  'refund.succeeded',
  'refund.failed',
  'dispute.opened',
  'dispute.won',
  'dispute.lost',
  'subscription.created',
  'subscription.activated',
  'subscription.renewed',
  'subscription.past_due',
  'subscription.authentication_required',
  'subscription.recovered',
  'subscription.cancel_scheduled',
  'subscription.resumed',
  'subscription.plan_changed',
  'subscription.canceled',
  'subscription.unpaid',
  'invoice.paid',
  'invoice.payment_failed',
  'invoice.voided',
  'invoice.uncollectible',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/**
 * The topic of each event type: its context's. The one place that says it, so an emitter cannot
 * file an event under another context, and a consumer knows which topics to read.
 */
const TOPIC_OF: Readonly<Record<EventType, EventTopic>> = {
  'checkout.session_created': 'obol.checkout.v1',
  'checkout.completed': 'obol.checkout.v1',
  'checkout.canceled': 'obol.checkout.v1',
  'checkout.expired': 'obol.checkout.v1',
  'order.access_revoked': 'obol.checkout.v1',
  'payment.authorized': 'obol.payments.v1',
  'payment.requires_action': 'obol.payments.v1',
  'payment.succeeded': 'obol.payments.v1',
  'payment.failed': 'obol.payments.v1',
  'payment.canceled': 'obol.payments.v1',
  'refund.succeeded': 'obol.payments.v1',
  'refund.failed': 'obol.payments.v1',
  'dispute.opened': 'obol.payments.v1',
  'dispute.won': 'obol.payments.v1',
  'dispute.lost': 'obol.payments.v1',
  'subscription.created': 'obol.subscriptions.v1',
  'subscription.activated': 'obol.subscriptions.v1',
  'subscription.renewed': 'obol.subscriptions.v1',
  'subscription.past_due': 'obol.subscriptions.v1',
  'subscription.authentication_required': 'obol.subscriptions.v1',
  'subscription.recovered': 'obol.subscriptions.v1',
  'subscription.cancel_scheduled': 'obol.subscriptions.v1',
  'subscription.resumed': 'obol.subscriptions.v1',
  'subscription.plan_changed': 'obol.subscriptions.v1',
  'subscription.canceled': 'obol.subscriptions.v1',
  'subscription.unpaid': 'obol.subscriptions.v1',
  'invoice.paid': 'obol.subscriptions.v1',
  'invoice.payment_failed': 'obol.subscriptions.v1',
  'invoice.voided': 'obol.subscriptions.v1',
  'invoice.uncollectible': 'obol.subscriptions.v1',
};

export function topicOfType(type: EventType): EventTopic {
  return TOPIC_OF[type];
}

export interface CloudEvent<T = unknown> {
  readonly specversion: '1.0';
  readonly id: string;
  readonly source: string;
  readonly type: EventType;
  readonly subject: string;
  readonly time: string;
  readonly datacontenttype: 'application/json';
  /** Partition key: all events of one aggregate stay in order. */
  readonly partitionkey: string;
  readonly data: T;
}

export interface NewEvent<T> {
  readonly type: EventType;
  readonly aggregateType: string;
  readonly aggregateId: string;
  readonly data: T;
  readonly now: number;
}

/**
 * Outbox rows are spread over this many relay shards by aggregate id. Changing it would move
 * aggregates between shards while rows are in flight, so it is a constant (and the lease rows
 * are created by migration 0012 with the same number).
 */
export const RELAY_SHARDS = 16;

/** FNV-1a (32-bit) of the aggregate id: stable across processes and releases. */
export function shardOf(aggregateId: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < aggregateId.length; i++) {
    h ^= aggregateId.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % RELAY_SHARDS;
}

export async function enqueueEvent<T>(tx: Executor, event: NewEvent<T>): Promise<CloudEvent<T>> {
  const topic = topicOfType(event.type);
  const envelope: CloudEvent<T> = {
    specversion: '1.0',
    id: newId('event', event.now),
    source: `/obol/${topic.split('.')[1] ?? 'core'}`,
    type: event.type,
    subject: event.aggregateId,
    time: new Date(event.now).toISOString(),
    datacontenttype: 'application/json',
    partitionkey: event.aggregateId,
    data: event.data,
  };
  await tx
    .insertInto('outbox')
    .values({
      id: envelope.id,
      topic,
      type: event.type,
      aggregate_type: event.aggregateType,
      aggregate_id: event.aggregateId,
      payload: JSON.stringify(envelope),
      occurred_at: event.now,
      published_at: null,
      attempts: 0,
      last_error: null,
      shard: shardOf(event.aggregateId),
      // The writing operation's trace, continued by the relay and the consumers (tracing.ts). It
      // fits the column whatever a caller sends: traceparent is 55 characters and the propagator
      // drops a tracestate longer than 512.
      trace_context: activeTraceIds() === null ? null : JSON.stringify(traceHeaders()),
    })
    .execute();
  return envelope;
}
