/**
 * Events over a real Kafka broker (KRaft, started by scripts/services): the relay publishes the
 * outbox with an idempotent producer and nothing is lost across a relay restart; one aggregate's
 * events stay in order; consumers apply each event once (duplicates are harmless), retry with
 * backoff, dead-letter what keeps failing with the reason, and report their lag.
 */
import { Consumer, stringDeserializers } from '@platformatic/kafka';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { ManualClock } from '../../src/kernel/index.js';
import { deadLetterTopic, enqueueEvent, KafkaEventBus, relayOutboxOnce, releaseRelayShards, runKafkaConsumer, type CloudEvent, type EventConsumer, type EventType, type KafkaSettings } from '../../src/platform/events/index.js';
import { createTestDatabase, describeEachDatabase, type TestDatabase } from '../support/databases.js';
import { describeWithKafka, uniqueServiceName } from '../support/services.js';

/** Polls until `probe` answers. Monotonic time: the wall clock of a VM may be stepped mid-test. */
const waitFor = async <T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000): Promise<T> => {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

// Group joins and first reads of a topic take seconds on a small broker.
vi.setConfig({ testTimeout: 90_000, hookTimeout: 90_000 });

describeWithKafka('events on Kafka', (brokers) => {
  describeEachDatabase('relay and consumers', (dialect) => {
    let t: TestDatabase;
    const clock = new ManualClock(Date.now());
    const settings: KafkaSettings = { brokers, clientId: uniqueServiceName('obol-test') };
    beforeAll(async () => {
      t = await createTestDatabase(dialect);
    });
    afterAll(async () => t?.drop());

    /** Events for this test only: their aggregate ids carry a run-unique prefix. */
    async function enqueue(run: string, aggregates: number, perAggregate: number, type: EventType = 'payment.succeeded'): Promise<string[]> {
      const ids: string[] = [];
      for (let n = 0; n < perAggregate; n++) {
        for (let a = 0; a < aggregates; a++) {
          const e = await enqueueEvent(t.db.kysely, { type, aggregateType: 'payment', aggregateId: `pay_${run}_${a}`, now: clock.now(), data: { run, n } });
          ids.push(e.id);
        }
      }
      return ids;
    }

    async function collect(run: string, expected: number): Promise<{ key: string; event: CloudEvent }[]> {
      const reader = new Consumer({ clientId: `${settings.clientId}-reader`, groupId: uniqueServiceName('obol-test-reader'), bootstrapBrokers: [...brokers], deserializers: stringDeserializers });
      const stream = await reader.consume({ topics: ['obol.payments.v1'], mode: 'earliest', autocommit: false, sessionTimeout: 10_000, heartbeatInterval: 1_000 });
      const seen: { key: string; event: CloudEvent }[] = [];
      stream.on('data', (m: { key: string; value: string }) => {
        const event = JSON.parse(m.value) as CloudEvent<{ run?: string }>;
        if (event.data.run === run) seen.push({ key: m.key, event });
      });
      try {
        await waitFor(`${expected} events of ${run}`, () => (seen.length >= expected ? true : undefined));
        // A moment more, so an extra (duplicate) delivery would be seen too.
        await new Promise((r) => setTimeout(r, 500));
      } finally {
        await stream.close();
        await reader.close();
      }
      return seen;
    }

    it('publishes every row exactly once across a relay restart, keyed by aggregate, in order per key', async () => {
      const run = uniqueServiceName('r').replace(/-/g, '_');
      const ids = await enqueue(run, 6, 4);
      const first = new KafkaEventBus(settings);
      await relayOutboxOnce({ db: t.db, bus: first, clock, batchSize: 10, holder: `relay-${run}-1` });
      // The relay process dies without a word; its successor (a new identity) takes the shards
      // over once their leases expire.
      await first.close();
      clock.advance(16_000);
      const second = new KafkaEventBus(settings);
      for (let i = 0; i < 5; i++) await relayOutboxOnce({ db: t.db, bus: second, clock, batchSize: 10, holder: `relay-${run}-2` });
      await second.close();
      await releaseRelayShards({ db: t.db, holder: `relay-${run}-2` });
      expect(await t.db.kysely.selectFrom('outbox').select('id').where('published_at', 'is', null).execute()).toEqual([]);

      const seen = await collect(run, ids.length);
      expect(seen.map((s) => s.event.id).sort()).toEqual([...ids].sort());
      const byKey = new Map<string, number[]>();
      for (const s of seen) byKey.set(s.key, [...(byKey.get(s.key) ?? []), (s.event.data as { n: number }).n]);
      expect(byKey.size).toBe(6);
      for (const [key, ns] of byKey) expect(ns, key).toEqual([0, 1, 2, 3]);
    });

    it('applies each event once in a consumer group, however often it is delivered', async () => {
      const run = uniqueServiceName('d').replace(/-/g, '_');
      const applied: string[] = [];
      const consumer: EventConsumer = {
        group: uniqueServiceName('test-dedup'),
        // A type no other suite sends, so the new group need not apply the topic's whole history.
        types: ['dispute.won'],
        handle: async (_tx, event) => {
          if ((event.data as { run?: string }).run === run) applied.push(event.id);
        },
      };
      const [id] = await enqueue(run, 1, 1, 'dispute.won');
      const row = await t.db.kysely.selectFrom('outbox').select('payload').where('id', '=', id!).executeTakeFirstOrThrow();
      const event = JSON.parse(row.payload) as CloudEvent;
      const bus = new KafkaEventBus(settings);
      // The relay crashed after publishing but before marking the row: it is published again.
      await bus.publish([{ topic: 'obol.payments.v1', key: event.subject, event }]);
      await bus.publish([{ topic: 'obol.payments.v1', key: event.subject, event }]);
      await bus.close();
      const runner = await runKafkaConsumer({ settings, db: t.db, clock, consumer });
      try {
        await waitFor('the event to be applied', async () => {
          const rows = await t.db.kysely.selectFrom('consumer_inbox').select('event_id').where('consumer_group', '=', consumer.group).where('event_id', '=', event.id).execute();
          return rows.length === 1 ? rows : undefined;
        });
        await waitFor('the group to catch up', async () => {
          const lag = await runner.lag();
          const total = [...lag.values()].flat().reduce((a, b) => a + b, 0n);
          return total === 0n ? true : undefined;
        });
      } finally {
        await runner.stop();
      }
      expect(applied).toEqual([event.id]);
    });

    it('retries a failing event with backoff, then dead-letters it with the reason and moves on', async () => {
      const run = uniqueServiceName('f').replace(/-/g, '_');
      const attempts = new Map<string, number>();
      const consumer: EventConsumer = {
        group: uniqueServiceName('test-retry'),
        types: ['refund.failed'],
        handle: async (_tx, event) => {
          const data = event.data as { run?: string; n?: number };
          if (data.run !== run) return;
          const n = (attempts.get(event.id) ?? 0) + 1;
          attempts.set(event.id, n);
          // Aggregate 0 fails twice then succeeds; aggregate 1 always fails.
          if (event.subject.endsWith('_1') || n <= 2) throw new Error(`projection unavailable (attempt ${n})`);
        },
      };
      const ids = await enqueue(run, 2, 1, 'refund.failed');
      const bus = new KafkaEventBus(settings);
      for (let i = 0; i < 3; i++) await relayOutboxOnce({ db: t.db, bus, clock, holder: `relay-${run}` });
      await bus.close();
      await releaseRelayShards({ db: t.db, holder: `relay-${run}` });
      const deadLettered: string[] = [];
      const runner = await runKafkaConsumer({ settings, db: t.db, clock, consumer, maxAttempts: 3, backoffMs: 20, onDeadLetter: (info) => deadLettered.push(info.eventId ?? '?') });
      try {
        await waitFor('one applied and one dead-lettered', async () => {
          const rows = await t.db.kysely.selectFrom('consumer_inbox').select('event_id').where('consumer_group', '=', consumer.group).where('event_id', 'in', ids).execute();
          return rows.length === 1 && deadLettered.length === 1 ? rows : undefined;
        });
      } finally {
        await runner.stop();
      }
      const [ok, bad] = ids;
      expect(attempts.get(ok!)).toBe(3);
      expect(attempts.get(bad!)).toBe(3);
      expect(deadLettered).toEqual([bad]);

      // The dead-letter topic holds the original event and why it failed.
      const reader = new Consumer({ clientId: `${settings.clientId}-dlq`, groupId: uniqueServiceName('obol-test-dlq'), bootstrapBrokers: [...brokers], deserializers: stringDeserializers });
      const stream = await reader.consume({ topics: [deadLetterTopic(consumer.group)], mode: 'earliest', autocommit: false, sessionTimeout: 10_000, heartbeatInterval: 1_000 });
      const parked: { value: string; headers: Map<string, string> }[] = [];
      stream.on('data', (m: { value: string; headers: Map<string, string> }) => parked.push(m));
      try {
        await waitFor('the dead letter', () => (parked.length > 0 ? true : undefined));
      } finally {
        await stream.close();
        await reader.close();
      }
      expect((JSON.parse(parked[0]!.value) as CloudEvent).id).toBe(bad);
      expect(parked[0]!.headers.get('obol-failure-reason')).toMatch(/projection unavailable \(attempt 3\)/);
      expect(parked[0]!.headers.get('obol-original-topic')).toBe('obol.payments.v1');
    });
  });
});
