/**
 * Several relay copies on one outbox: they split the shards fairly, never publish a row twice in
 * normal operation, keep each aggregate's events in order, and a copy that dies hands its shards
 * over once its leases expire, with nothing lost.
 */
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { ManualClock } from '../../src/kernel/index.js';
import { enqueueEvent, holdRelayShards, RELAY_SHARDS, relayOutboxOnce, releaseRelayShards, type EventBus, type PublishedEvent } from '../../src/platform/events/index.js';
import { createTestDatabase, describeEachDatabase, type TestDatabase } from '../support/databases.js';

/** Everything any relay published, in the order the broker received it. */
let brokerLog: PublishedEvent[] = [];

class RecordingBus implements EventBus {
  readonly seen: PublishedEvent[] = [];
  failing = false;
  async publish(events: readonly PublishedEvent[]): Promise<void> {
    if (this.failing) throw new Error('broker unavailable');
    this.seen.push(...events);
    brokerLog.push(...events);
  }
  async close(): Promise<void> {}
}

describeEachDatabase('outbox relay copies', (dialect) => {
  let t: TestDatabase;
  let clock: ManualClock;
  beforeAll(async () => {
    t = await createTestDatabase(dialect);
  });
  afterAll(async () => t?.drop());
  beforeEach(async () => {
    clock = new ManualClock(Date.UTC(2026, 10, 25));
    brokerLog = [];
    await t.db.kysely.deleteFrom('outbox').execute();
    await t.db.kysely.deleteFrom('relay_members').execute();
    await t.db.kysely.updateTable('relay_leases').set({ holder: null, expires_at: 0 }).execute();
  });

  /** `perAggregate` events for each of `aggregates` payments, interleaved as real traffic would be. */
  async function enqueue(aggregates: number, perAggregate: number): Promise<void> {
    for (let n = 0; n < perAggregate; n++) {
      for (let a = 0; a < aggregates; a++) {
        await enqueueEvent(t.db.kysely, { type: 'payment.succeeded', aggregateType: 'payment', aggregateId: `pay_relay_${a}`, now: clock.now(), data: { n } });
      }
    }
  }

  const drain = async (relays: readonly { readonly holder: string; readonly bus: RecordingBus }[], rounds = 20) => {
    for (let i = 0; i < rounds; i++) {
      for (const r of relays) await relayOutboxOnce({ db: t.db, bus: r.bus, clock, holder: r.holder, batchSize: 25 });
    }
  };

  it('splits the shards between two copies, each row published exactly once, in order per aggregate', async () => {
    await enqueue(40, 5);
    const a = { holder: 'relay-a', bus: new RecordingBus() };
    const b = { holder: 'relay-b', bus: new RecordingBus() };
    await drain([a, b]);

    const sharesA = await holdRelayShards({ db: t.db, holder: 'relay-a', now: clock.now(), leaseMs: 15_000 });
    const sharesB = await holdRelayShards({ db: t.db, holder: 'relay-b', now: clock.now(), leaseMs: 15_000 });
    expect(sharesA).toHaveLength(RELAY_SHARDS / 2);
    expect(sharesB).toHaveLength(RELAY_SHARDS / 2);
    expect(sharesA.filter((s) => sharesB.includes(s))).toEqual([]);

    const all = [...a.bus.seen, ...b.bus.seen];
    const ids = all.map((e) => e.event.id);
    expect(ids).toHaveLength(200);
    expect(new Set(ids).size).toBe(200);
    expect(a.bus.seen.length).toBeGreaterThan(0);
    expect(b.bus.seen.length).toBeGreaterThan(0);
    // The broker saw each aggregate's events in the order they were written, whichever copy
    // published them (a shard may move once, from the first copy to the second, as they rebalance).
    const byKey = new Map<string, number[]>();
    for (const e of brokerLog) byKey.set(e.key, [...(byKey.get(e.key) ?? []), (e.event.data as { n: number }).n]);
    expect(byKey.size).toBe(40);
    for (const [key, ns] of byKey) expect(ns, key).toEqual([0, 1, 2, 3, 4]);
    const left = await t.db.kysely.selectFrom('outbox').select('seq').where('published_at', 'is', null).execute();
    expect(left).toEqual([]);
  });

  it('hands a dead copy’s shards to the survivor once its leases expire, losing nothing', async () => {
    const a = { holder: 'relay-a', bus: new RecordingBus() };
    const b = { holder: 'relay-b', bus: new RecordingBus() };
    await drain([a, b], 2);
    // A dies: its broker connection fails and it never renews again.
    await enqueue(30, 2);
    a.bus.failing = true;
    await relayOutboxOnce({ db: t.db, bus: a.bus, clock, holder: 'relay-a' });
    for (let i = 0; i < 3; i++) await relayOutboxOnce({ db: t.db, bus: b.bus, clock, holder: 'relay-b' });
    const stranded = await t.db.kysely.selectFrom('outbox').select('seq').where('published_at', 'is', null).execute();
    expect(stranded.length).toBeGreaterThan(0); // A's shards wait for their lease

    clock.advance(16_000);
    for (let i = 0; i < 5; i++) await relayOutboxOnce({ db: t.db, bus: b.bus, clock, holder: 'relay-b' });
    expect(await holdRelayShards({ db: t.db, holder: 'relay-b', now: clock.now(), leaseMs: 15_000 })).toHaveLength(RELAY_SHARDS);
    expect(await t.db.kysely.selectFrom('outbox').select('seq').where('published_at', 'is', null).execute()).toEqual([]);
    expect(new Set(b.bus.seen.map((e) => e.event.id)).size + 0).toBe(60);
  });

  it('gives its shards back on a graceful stop, so another copy takes them at once', async () => {
    await relayOutboxOnce({ db: t.db, bus: new RecordingBus(), clock, holder: 'relay-a' });
    expect(await holdRelayShards({ db: t.db, holder: 'relay-b', now: clock.now(), leaseMs: 15_000 })).toEqual([]);
    await releaseRelayShards({ db: t.db, holder: 'relay-a' });
    expect(await holdRelayShards({ db: t.db, holder: 'relay-b', now: clock.now(), leaseMs: 15_000 })).toHaveLength(RELAY_SHARDS);
  });
});
