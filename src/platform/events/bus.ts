/**
 * The event-bus port. The embedded default delivers in process; Kafka implements the same port
 * later. Delivery is at least once: consumers deduplicate by event id.
 */
import type { CloudEvent, EventTopic } from './outbox.js';

export interface PublishedEvent {
  readonly topic: EventTopic;
  readonly key: string;
  readonly event: CloudEvent;
  /** Transport headers: the W3C trace context (`traceparent`, `tracestate`) of the publication. */
  readonly headers?: Readonly<Record<string, string>>;
}

export interface EventBus {
  /** `kafka`, `in_process`…: names the messaging system in traces. */
  readonly transport?: string;
  publish(events: readonly PublishedEvent[]): Promise<void>;
  close(): Promise<void>;
}

export type EventHandler = (event: CloudEvent, topic: EventTopic, headers: Readonly<Record<string, string>>) => Promise<void>;

/**
 * In-process bus: handlers run in order of subscription; a failing handler fails the publish,
 * so the relay keeps the event and tries again (handlers must be idempotent by event id).
 */
export class InProcessEventBus implements EventBus {
  readonly transport = 'in_process';
  readonly #handlers: { readonly pattern: string; readonly handler: EventHandler }[] = [];

  /** `pattern` is an event type (`payment.succeeded`), a prefix (`payment.*`) or `*`. */
  subscribe(pattern: string, handler: EventHandler): () => void {
    const entry = { pattern, handler };
    this.#handlers.push(entry);
    return () => {
      const i = this.#handlers.indexOf(entry);
      if (i >= 0) this.#handlers.splice(i, 1);
    };
  }

  async publish(events: readonly PublishedEvent[]): Promise<void> {
    for (const { topic, event, headers } of events) {
      for (const { pattern, handler } of this.#handlers) {
        if (matches(pattern, event.type)) await handler(event, topic, headers ?? {});
      }
    }
  }

  async close(): Promise<void> {
    this.#handlers.length = 0;
  }
}

function matches(pattern: string, type: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('.*')) return type.startsWith(pattern.slice(0, -1));
  return pattern === type;
}
