/**
 * Moves committed outbox rows to the bus, oldest first. Rows are marked published only after the
 * bus accepted them, so a crash in between republishes (at least once, never lost). A row that
 * keeps failing is retried with its error recorded; one aggregate's later events wait behind it
 * so per-aggregate order holds.
 *
 * Several relay copies (one per worker process) share the outbox by shard. Every row carries
 * `shard = shardOf(aggregate_id)`, so one aggregate's events are always in one shard; a relay
 * publishes only shards it holds a lease on, so two copies never publish the same row or
 * interleave one aggregate's events. Each round a relay renews its membership, counts the live
 * copies, keeps at most its fair share (ceil(shards / copies)), hands back the rest, and takes
 * free or expired shards up to that share. A copy that dies stops renewing; its shards expire
 * after `leaseMs` and the others take them over, starting from the oldest unpublished row.
 *
 *   relay A ──holds──▶ shards 0..7  ──▶ rows of aggregates hashing there, in seq order
 *   relay B ──holds──▶ shards 8..15 ──▶ …
 *
 * "In normal operation" no row is published twice; after a copy dies mid-batch, a row it had
 * handed to the bus but not yet marked may be published again (consumers deduplicate by id).
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../../kernel/index.js';
import type { Db } from '../db/index.js';
import { ROOT_CONTEXT, type Context } from '@opentelemetry/api';
import { contextFromHeaders, inSpan, SpanKind, traceHeaders } from '../observability/tracing.js';
import type { EventBus } from './bus.js';
import { RELAY_SHARDS, type CloudEvent, type EventTopic } from './outbox.js';

export interface RelayResult {
  readonly published: number;
  readonly failed: number;
  /** The shards this relay held for the round. */
  readonly shards: readonly number[];
}

/** This process's relay identity, unless the caller names one (tests run several in one process). */
const PROCESS_RELAY_ID = `relay-${randomUUID()}`;

export const DEFAULT_RELAY_LEASE_MS = 15_000;

/** Renews membership and leases, rebalances to a fair share, and returns the shards held now. */
export async function holdRelayShards(args: { readonly db: Db; readonly holder: string; readonly now: number; readonly leaseMs: number }): Promise<readonly number[]> {
  const { db, holder, now, leaseMs } = args;
  const until = now + leaseMs;
  const k = db.kysely;
  const member = await k.updateTable('relay_members').set({ expires_at: until }).where('holder', '=', holder).executeTakeFirst();
  if (Number(member.numUpdatedRows) === 0) {
    const exists = await k.selectFrom('relay_members').select('holder').where('holder', '=', holder).executeTakeFirst();
    if (!exists) await k.insertInto('relay_members').values({ holder, expires_at: until }).execute();
  }
  const live = await k.selectFrom('relay_members').select((eb) => eb.fn.countAll<number>().as('n')).where('expires_at', '>=', now).executeTakeFirst();
  const share = Math.ceil(RELAY_SHARDS / Math.max(1, Number(live?.n ?? 1)));

  const held = (await k.selectFrom('relay_leases').select('shard').where('holder', '=', holder).where('expires_at', '>=', now).orderBy('shard').execute()).map((r) => Number(r.shard));
  const keep = held.slice(0, share);
  const release = held.slice(share);
  if (release.length > 0) await k.updateTable('relay_leases').set({ holder: null, expires_at: 0 }).where('holder', '=', holder).where('shard', 'in', release).execute();
  if (keep.length > 0) await k.updateTable('relay_leases').set({ expires_at: until }).where('holder', '=', holder).where('shard', 'in', keep).execute();
  if (keep.length < share) {
    const free = await k.selectFrom('relay_leases').select('shard').where('expires_at', '<', now).orderBy('shard').limit(share - keep.length).execute();
    for (const { shard } of free) {
      // Guarded by the expiry: of two copies racing for a shard, one update finds it taken.
      await k.updateTable('relay_leases').set({ holder, expires_at: until }).where('shard', '=', Number(shard)).where('expires_at', '<', now).execute();
    }
  }
  return (await k.selectFrom('relay_leases').select('shard').where('holder', '=', holder).where('expires_at', '>=', now).orderBy('shard').execute()).map((r) => Number(r.shard));
}

/** Gives the shards back at once (graceful shutdown), so other copies need not wait for expiry. */
export async function releaseRelayShards(args: { readonly db: Db; readonly holder?: string }): Promise<void> {
  const holder = args.holder ?? PROCESS_RELAY_ID;
  await args.db.kysely.updateTable('relay_leases').set({ holder: null, expires_at: 0 }).where('holder', '=', holder).execute();
  await args.db.kysely.deleteFrom('relay_members').where('holder', '=', holder).execute();
}

export async function relayOutboxOnce(args: {
  readonly db: Db;
  readonly bus: EventBus;
  readonly clock: Clock;
  readonly batchSize?: number;
  /** Default: one identity per process. */
  readonly holder?: string;
  readonly leaseMs?: number;
  /** Told about each event once the bus has it and its row is marked published (metrics). */
  readonly onPublished?: (event: { readonly topic: string; readonly type: string; readonly data: unknown }) => void;
}): Promise<RelayResult> {
  const { db, bus, clock } = args;
  const shards = await holdRelayShards({ db, holder: args.holder ?? PROCESS_RELAY_ID, now: clock.now(), leaseMs: args.leaseMs ?? DEFAULT_RELAY_LEASE_MS });
  if (shards.length === 0) return { published: 0, failed: 0, shards };
  const rows = await db.kysely
    .selectFrom('outbox')
    .select(['seq', 'id', 'topic', 'aggregate_id', 'payload', 'trace_context'])
    .where('published_at', 'is', null)
    .where('shard', 'in', shards)
    .orderBy('seq')
    .limit(args.batchSize ?? 100)
    .execute();
  let published = 0;
  let failed = 0;
  const blocked = new Set<string>();
  for (const row of rows) {
    if (blocked.has(row.aggregate_id)) continue;
    let event: CloudEvent;
    try {
      event = JSON.parse(row.payload) as CloudEvent;
      const parsed = event;
      // The publication continues the trace of the operation that wrote the row; the headers
      // carry this span's context on to the consumers.
      await inSpan(
        `publish ${row.topic}`,
        {
          kind: SpanKind.PRODUCER,
          parent: storedContext(row.trace_context),
          attributes: { 'messaging.system': bus.transport ?? 'unknown', 'messaging.operation.type': 'send', 'messaging.destination.name': row.topic, 'messaging.message.id': row.id, 'obol.event.type': parsed.type },
        },
        async () => {
          await bus.publish([{ topic: row.topic as EventTopic, key: row.aggregate_id, event: parsed, headers: traceHeaders() }]);
          await db.kysely.updateTable('outbox').set({ published_at: clock.now() }).where('seq', '=', row.seq).where('published_at', 'is', null).execute();
        },
      );
      published++;
    } catch (err) {
      failed++;
      blocked.add(row.aggregate_id);
      const message = err instanceof Error ? err.message : String(err);
      await db.kysely
        .updateTable('outbox')
        .set((eb) => ({ attempts: eb('attempts', '+', 1), last_error: message.slice(0, 1000) }))
        .where('seq', '=', row.seq)
        .execute();
      continue;
    }
    try {
      args.onPublished?.({ topic: row.topic, type: event.type, data: event.data });
    } catch {
      // An observer never holds up the relay.
    }
  }
  return { published, failed, shards };
}

/** A row's stored trace context; a row without one (or with a damaged one) starts a trace of its own. */
function storedContext(stored: string | null): Context {
  if (stored === null) return ROOT_CONTEXT;
  try {
    return contextFromHeaders(JSON.parse(stored) as unknown, ROOT_CONTEXT);
  } catch {
    return ROOT_CONTEXT;
  }
}

/** Age in ms of the oldest unpublished event (0 when none): the backlog signal operators watch. */
export async function oldestUnpublishedAgeMs(db: Db, clock: Clock): Promise<number> {
  const row = await db.kysely.selectFrom('outbox').select((eb) => eb.fn.min('occurred_at').as('oldest')).where('published_at', 'is', null).executeTakeFirst();
  const oldest = row?.oldest;
  return oldest === null || oldest === undefined ? 0 : Math.max(0, clock.now() - Number(oldest));
}
