/**
 * Kafka as the event bus (production), with @platformatic/kafka: a maintained, pure TypeScript
 * client (Kafka 3.5–4.1), chosen over the librdkafka-based official client because it needs no
 * native build (these machines build native addons from source, and every image would carry a
 * C toolchain and librdkafka's version coupling), and over kafkajs, which has had no release
 * since 2023. It speaks the protocol features Obol relies on: the idempotent producer with
 * acks=all, consumer groups with manual commits, and lag queries.
 *
 * Messages are CloudEvents in structured mode: the value is the whole JSON envelope
 * (`content-type: application/cloudevents+json`), the key is the aggregate id, so one payment's
 * events land in one partition in order. Consumers commit an offset only after the event was
 * applied (at least once), deduplicate through `deliverOnce` (effectively once), retry a failing
 * event with backoff while holding its partition (order is kept), and after the last attempt
 * park it on the group's dead-letter topic with the reason, then move on.
 */
import { Admin, Consumer, Producer, stringDeserializers, stringSerializers, type Message } from '@platformatic/kafka';
import type { Clock } from '../../kernel/index.js';
import type { Db } from '../db/index.js';
import type { EventBus, PublishedEvent } from './bus.js';
import { deliverTraced, type EventConsumer } from './consumer.js';
import { EVENT_TOPICS, EVENT_TYPES, topicOfType, type CloudEvent, type EventTopic, type EventType } from './outbox.js';

/** The topics a consumer must subscribe to for its event types. */
export function topicsFor(types: readonly EventType[]): readonly EventTopic[] {
  return [...new Set(types.map(topicOfType))].sort();
}

/** Where a consumer group parks events it could not apply. */
export function deadLetterTopic(group: string): string {
  return `obol.${group}.dlq.v1`;
}

export function consumerGroupId(group: string): string {
  return `obol.${group}`;
}

export interface KafkaSettings {
  readonly brokers: readonly string[];
  readonly clientId: string;
  /** Partitions for topics Obol creates (existing topics are left as they are). */
  readonly partitions?: number;
  readonly replicationFactor?: number;
}

/** Creates Obol's topics (and the given dead-letter topics) when missing; an existing topic is fine. */
export async function ensureTopics(settings: KafkaSettings, extra: readonly string[] = []): Promise<void> {
  const admin = new Admin({ clientId: `${settings.clientId}-admin`, bootstrapBrokers: [...settings.brokers] });
  try {
    const wanted = [...EVENT_TOPICS, ...extra];
    const existing = new Set(await admin.listTopics());
    const missing = wanted.filter((t) => !existing.has(t));
    if (missing.length === 0) return;
    try {
      await admin.createTopics({ topics: missing, partitions: settings.partitions ?? 6, replicas: settings.replicationFactor ?? 1 });
    } catch (err) {
      // Another process created them meanwhile: only a missing topic afterwards is a failure.
      const now = new Set(await admin.listTopics());
      if (missing.some((t) => !now.has(t))) throw err;
    }
  } finally {
    await admin.close();
  }
}

export class KafkaEventBus implements EventBus {
  readonly transport = 'kafka';
  readonly #producer: Producer<string, string, string, string>;
  readonly #settings: KafkaSettings;
  /** Obol's topics, made sure of once: with auto-creation off, a send to a missing topic never succeeds. */
  #topicsReady: Promise<void> | undefined;

  constructor(settings: KafkaSettings) {
    this.#settings = settings;
    this.#producer = new Producer({
      clientId: settings.clientId,
      bootstrapBrokers: [...settings.brokers],
      serializers: stringSerializers,
      // The broker deduplicates the producer's own retries, and a send succeeds only once every
      // in-sync replica has it: a relay that marks a row published after this never loses it.
      idempotent: true,
      acks: -1,
    });
  }

  async publish(events: readonly PublishedEvent[]): Promise<void> {
    if (events.length === 0) return;
    this.#topicsReady ??= ensureTopics(this.#settings).catch((err: unknown) => {
      this.#topicsReady = undefined; // ask again on the next publish
      throw err;
    });
    await this.#topicsReady;
    await this.#producer.send({
      messages: events.map(({ topic, key, event, headers }) => ({
        topic,
        key,
        value: JSON.stringify(event),
        headers: { ...headers, 'content-type': 'application/cloudevents+json', ce_id: event.id, ce_type: event.type },
      })),
    });
  }

  /** One metadata round trip to the brokers on the producer's connection (readiness). */
  async ping(): Promise<void> {
    await this.#producer.metadata({ topics: [], forceUpdate: true });
  }

  async close(): Promise<void> {
    await this.#producer.close();
  }
}

export interface KafkaConsumerRunner {
  /** Lag per topic and partition (messages not yet committed by the group). */
  lag(): Promise<ReadonlyMap<string, readonly bigint[]>>;
  /** Whether the consumer is running and holds a connection to the brokers (readiness). */
  connected(): boolean;
  stop(): Promise<void>;
}

export interface RunKafkaConsumerArgs {
  readonly settings: KafkaSettings;
  readonly db: Db;
  readonly clock: Clock;
  readonly consumer: EventConsumer;
  /** Attempts per event before it is dead-lettered (default 5). */
  readonly maxAttempts?: number;
  /** First retry delay; doubles per attempt (default 200 ms). */
  readonly backoffMs?: number;
  readonly onError?: (err: unknown, context: { readonly eventId: string | null; readonly attempt: number }) => void;
  /** Called after an event was dead-lettered (for logs and metrics). */
  readonly onDeadLetter?: (info: DeadLetterInfo) => void;
}

export interface DeadLetterInfo {
  readonly group: string;
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly eventId: string | null;
  readonly reason: string;
}

const COMMIT_EVERY = 200;
/** First wait before a failed consumer-group member joins again; doubles up to the maximum. */
const REJOIN_BACKOFF_MS = 500;
const REJOIN_BACKOFF_MAX_MS = 15_000;
const COMMIT_INTERVAL_MS = 500;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function parseEvent(value: string | undefined): CloudEvent | string {
  if (value === undefined) return 'the message has no value';
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return 'the value is not JSON';
  }
  const e = parsed as Partial<CloudEvent>;
  if (typeof parsed !== 'object' || parsed === null || e.specversion !== '1.0' || typeof e.id !== 'string' || typeof e.type !== 'string') return 'the value is not a CloudEvents 1.0 envelope';
  if (!(EVENT_TYPES as readonly string[]).includes(e.type)) return `unknown event type ${e.type.slice(0, 100)}`;
  return parsed as CloudEvent;
}

/**
 * Runs one consumer group member: reads the consumer's topics from its committed offsets
 * (earliest for a new group), applies each event once, commits after it.
 */
export async function runKafkaConsumer(args: RunKafkaConsumerArgs): Promise<KafkaConsumerRunner> {
  const { settings, db, clock, consumer } = args;
  const maxAttempts = args.maxAttempts ?? 5;
  const backoffMs = args.backoffMs ?? 200;
  const topics = [...topicsFor(consumer.types)];
  const dlq = deadLetterTopic(consumer.group);
  await ensureTopics(settings, [dlq]);

  const join = async () => {
    const member = new Consumer({
      clientId: `${settings.clientId}-${consumer.group}`,
      groupId: consumerGroupId(consumer.group),
      bootstrapBrokers: [...settings.brokers],
      deserializers: stringDeserializers,
    });
    try {
      return { member, stream: await member.consume({ topics, mode: 'committed', fallbackMode: 'earliest', autocommit: false, sessionTimeout: 10_000, heartbeatInterval: 1_000 }) };
    } catch (err) {
      await member.close().catch(() => undefined);
      throw err;
    }
  };
  const deadLetters = new Producer({ clientId: `${settings.clientId}-${consumer.group}-dlq`, bootstrapBrokers: [...settings.brokers], serializers: stringSerializers, idempotent: true, acks: -1 });
  // The first join must succeed (the worker does not start without its brokers); later ones are retried.
  let { member: kafka, stream } = await join();
  let joined = true;
  let stopping = false;

  async function deadLetter(message: Message<string, string, string, string>, eventId: string | null, reason: string): Promise<void> {
    const headers: Record<string, string> = {
      'obol-failure-reason': reason.slice(0, 1000),
      'obol-consumer-group': consumer.group,
      'obol-original-topic': message.topic,
      'obol-original-partition': String(message.partition),
      'obol-original-offset': String(message.offset),
      'obol-failed-at': new Date(clock.now()).toISOString(),
    };
    await deadLetters.send({ messages: [{ topic: dlq, key: message.key, value: message.value, headers }] });
    args.onDeadLetter?.({ group: consumer.group, topic: message.topic, partition: message.partition, offset: message.offset, eventId, reason });
  }

  async function handle(message: Message<string, string, string, string>): Promise<void> {
    const event = parseEvent(message.value);
    if (typeof event === 'string') return deadLetter(message, null, event);
    if (!consumer.types.includes(event.type)) return; // another consumer's event on a shared topic
    for (let attempt = 1; ; attempt++) {
      try {
        await deliverTraced({ db, consumer, event, now: clock.now(), topic: message.topic, headers: message.headers });
        return;
      } catch (err) {
        args.onError?.(err, { eventId: event.id, attempt });
        if (attempt >= maxAttempts || stopping) {
          if (stopping && attempt < maxAttempts) throw err; // left uncommitted: redelivered after the restart
          return deadLetter(message, event.id, err instanceof Error ? `${err.name}: ${err.message}` : String(err));
        }
        await sleep(backoffMs * 2 ** (attempt - 1));
      }
    }
  }

  // Offsets are committed after the events were applied, in batches (every COMMIT_EVERY events
  // or COMMIT_INTERVAL_MS): a commit per event is a broker round trip each. A crash replays at
  // most one batch, which the inbox turns into no-ops.
  const uncommitted = new Map<string, Message<string, string, string, string>>();
  let sinceCommit = 0;
  let lastCommit = Date.now();
  async function flush(): Promise<void> {
    const batch = [...uncommitted.values()];
    uncommitted.clear();
    sinceCommit = 0;
    lastCommit = Date.now();
    for (const message of batch) await message.commit();
  }
  // The member is supervised: when its stream fails (the brokers were gone longer than the client's
  // own retries) or ends, it leaves and joins again after a back-off, for as long as the process
  // runs. What it applied but had not committed is redelivered to the new member, and the inbox
  // makes that a no-op.
  const loop = (async () => {
    let backoff = REJOIN_BACKOFF_MS;
    while (!stopping) {
      try {
        for await (const message of stream) {
          if (stopping) break;
          await handle(message);
          uncommitted.set(`${message.topic}:${message.partition}`, message);
          if (++sinceCommit >= COMMIT_EVERY || Date.now() - lastCommit >= COMMIT_INTERVAL_MS) await flush();
          backoff = REJOIN_BACKOFF_MS;
        }
        if (stopping) return;
        throw new Error('the Kafka message stream ended');
      } catch (err) {
        if (stopping) return;
        joined = false;
        args.onError?.(err, { eventId: null, attempt: 0 });
        uncommitted.clear();
        await stream.close().catch(() => undefined);
        await kafka.close().catch(() => undefined);
        while (!stopping && !joined) {
          // In slices, so a stop does not wait out a long back-off.
          for (const until = Date.now() + backoff; !stopping && Date.now() < until; ) await sleep(Math.min(250, until - Date.now()));
          backoff = Math.min(backoff * 2, REJOIN_BACKOFF_MAX_MS);
          if (stopping) return;
          try {
            ({ member: kafka, stream } = await join());
            joined = true;
          } catch (joinErr) {
            args.onError?.(joinErr, { eventId: null, attempt: 0 });
          }
        }
      }
    }
  })();
  // An idle stream still commits what it applied.
  const idleCommit = setInterval(() => {
    if (uncommitted.size > 0 && !stopping && joined) flush().catch((err: unknown) => args.onError?.(err, { eventId: null, attempt: 0 }));
  }, COMMIT_INTERVAL_MS);
  idleCommit.unref();
  loop.catch((err: unknown) => args.onError?.(err, { eventId: null, attempt: 0 }));

  return {
    lag: async () => kafka.getLag({ topics }),
    // False while the member is rejoining after a failure: readiness says so.
    connected: () => !stopping && joined && kafka.isConnected(),
    async stop() {
      stopping = true;
      clearInterval(idleCommit);
      // The stream may already be closed (the member was rejoining).
      await stream.close().catch(() => undefined);
      await loop.catch(() => undefined);
      if (joined) await flush().catch((err: unknown) => args.onError?.(err, { eventId: null, attempt: 0 }));
      await kafka.close().catch(() => undefined);
      await deadLetters.close();
    },
  };
}
