/**
 * The webhook inbox: intake stores a verified event and acknowledges at once; the worker claims
 * due events, processes them and marks the outcome. Deduplication is the primary key
 * (gateway, event_id): a redelivery hits the unique constraint and is acknowledged without being
 * stored or processed again. Ordering is not relied on: every event is stored on its own, and
 * processors read the gateway's current state rather than trusting arrival order.
 */
import { isUniqueViolation, type Db } from '../db/index.js';
import type { WebhookInboxTable } from '../db/schema-webhooks.js';
import { redactCardNumbers } from '../security/card-guard.js';
import type { WebhookGateway } from './verify.js';

export const WEBHOOK_STATUSES = ['received', 'processed', 'failed'] as const;
export type WebhookStatus = (typeof WEBHOOK_STATUSES)[number];

export interface RecordWebhookArgs {
  readonly gateway: WebhookGateway;
  readonly eventId: string;
  readonly type: string;
  /** The verified body, stored verbatim. */
  readonly payload: string;
  readonly occurredAt?: number | null;
  readonly now: number;
}

export async function recordWebhook(db: Db, args: RecordWebhookArgs): Promise<{ duplicate: boolean }> {
  try {
    await db.kysely
      .insertInto('webhook_inbox')
      .values({
        gateway: args.gateway,
        event_id: args.eventId,
        event_type: args.type,
        occurred_at: args.occurredAt ?? null,
        received_at: args.now,
        payload: args.payload,
        status: 'received',
        attempts: 0,
        next_attempt_at: args.now,
        last_error: null,
        processed_at: null,
      })
      .execute();
    return { duplicate: false };
  } catch (err) {
    // Gateways redeliver until acknowledged, and concurrently at times: the first copy wins.
    if (isUniqueViolation(err)) return { duplicate: true };
    throw err;
  }
}

export interface ClaimedWebhook {
  readonly gateway: WebhookGateway;
  readonly eventId: string;
  readonly type: string;
  readonly occurredAt: number | null;
  readonly receivedAt: number;
  readonly payload: string;
  /** Counting this one. */
  readonly attempt: number;
}

export interface ClaimWebhooksArgs {
  readonly limit: number;
  readonly now: number;
  /**
   * How long a claim holds before another worker may take the event over (the claimant crashed).
   * Longer than processing one event can take.
   */
  readonly leaseMs?: number;
}

export const DEFAULT_WEBHOOK_LEASE_MS = 5 * 60_000;

function asGateway(value: string): WebhookGateway {
  if (value === 'stripe' || value === 'braintree' || value === 'razorpay') return value;
  throw new Error(`webhook_inbox holds an unknown gateway: ${value}`);
}

/**
 * Claims up to `limit` due events. A claim bumps `attempts` and pushes `next_attempt_at` out by the
 * lease, conditional on both being unchanged since read: of two workers racing for one row exactly
 * one update matches, without relying on row locks (SQLite has none, and SKIP LOCKED varies).
 */
export async function claimWebhooks(db: Db, args: ClaimWebhooksArgs): Promise<readonly ClaimedWebhook[]> {
  const leaseMs = args.leaseMs ?? DEFAULT_WEBHOOK_LEASE_MS;
  if (args.limit <= 0) return [];
  const due = await db.kysely
    .selectFrom('webhook_inbox')
    .selectAll()
    .where('status', '=', 'received')
    .where('next_attempt_at', '<=', args.now)
    .orderBy('next_attempt_at')
    .orderBy('received_at')
    .limit(args.limit)
    .execute();
  const claimed: ClaimedWebhook[] = [];
  for (const row of due) {
    const result = await db.kysely
      .updateTable('webhook_inbox')
      .set({ attempts: row.attempts + 1, next_attempt_at: args.now + leaseMs })
      .where('gateway', '=', row.gateway)
      .where('event_id', '=', row.event_id)
      .where('status', '=', 'received')
      .where('attempts', '=', row.attempts)
      .where('next_attempt_at', '=', row.next_attempt_at)
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) !== 1) continue;
    claimed.push(toClaimed(row, row.attempts + 1));
  }
  return claimed;
}

function toClaimed(row: WebhookInboxTable, attempt: number): ClaimedWebhook {
  return {
    gateway: asGateway(row.gateway),
    eventId: row.event_id,
    type: row.event_type,
    occurredAt: row.occurred_at === null ? null : Number(row.occurred_at),
    receivedAt: Number(row.received_at),
    payload: row.payload,
    attempt,
  };
}

export interface WebhookRef {
  readonly gateway: WebhookGateway;
  readonly eventId: string;
}

export async function markProcessed(db: Db, args: WebhookRef & { readonly now: number }): Promise<void> {
  await db.kysely
    .updateTable('webhook_inbox')
    .set({ status: 'processed', processed_at: args.now, last_error: null })
    .where('gateway', '=', args.gateway)
    .where('event_id', '=', args.eventId)
    .where('status', '=', 'received')
    .execute();
}

export interface MarkFailedArgs extends WebhookRef {
  readonly error: string;
  readonly now: number;
  /** After this many attempts the event is parked as `failed` for a human. */
  readonly maxAttempts?: number;
}

export const DEFAULT_WEBHOOK_MAX_ATTEMPTS = 12;
const BACKOFF_BASE_MS = 30_000;
const BACKOFF_MAX_MS = 6 * 60 * 60_000;

/** Delay before retry number `attempts + 1`: 30 s doubling per attempt, capped at 6 h. */
export function webhookRetryDelayMs(attempts: number): number {
  return Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, Math.min(attempts - 1, 20)));
}

/** Records a failed attempt: the event is retried later with backoff, or parked as `failed`. */
export async function markFailed(db: Db, args: MarkFailedArgs): Promise<{ status: WebhookStatus }> {
  const row = await db.kysely
    .selectFrom('webhook_inbox')
    .select(['attempts', 'status'])
    .where('gateway', '=', args.gateway)
    .where('event_id', '=', args.eventId)
    .executeTakeFirst();
  if (!row || row.status !== 'received') return { status: row?.status === 'processed' ? 'processed' : 'failed' };
  const maxAttempts = args.maxAttempts ?? DEFAULT_WEBHOOK_MAX_ATTEMPTS;
  const status: WebhookStatus = row.attempts >= maxAttempts ? 'failed' : 'received';
  // Error text ends up in a column people read: bounded and scrubbed like a log line.
  const lastError = redactCardNumbers(args.error).slice(0, 1000);
  await db.kysely
    .updateTable('webhook_inbox')
    .set({ status, last_error: lastError, next_attempt_at: args.now + webhookRetryDelayMs(row.attempts) })
    .where('gateway', '=', args.gateway)
    .where('event_id', '=', args.eventId)
    .where('status', '=', 'received')
    .execute();
  return { status };
}
