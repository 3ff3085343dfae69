/**
 * The Razorpay connector's durable journal: which payment an Obol capture, refund or resume key
 * acted on. Razorpay cannot find a payment by our key, and the entry is written before the call,
 * so after a crash `retrieve` still knows where to look (and a refund's X-Refund-Idempotency
 * resend stays a replay). The first entry for a key wins: a concurrent duplicate's put is a no-op,
 * and its `claim` then compares with what is stored.
 */
import { dbInt, isUniqueViolation, type Db } from '../../../platform/db/index.js';
import type { Clock } from '../../../kernel/index.js';
import type { RazorpayJournal, RazorpayJournalEntry } from './connector.js';

const OPERATIONS = ['capture', 'refund', 'resume'] as const;

function isOperation(value: string): value is RazorpayJournalEntry['operation'] {
  return (OPERATIONS as readonly string[]).includes(value);
}

export function sqlRazorpayJournal(args: { readonly db: Db; readonly clock: Clock }): RazorpayJournal {
  const { db, clock } = args;
  return {
    async get(idempotencyKey) {
      const row = await db.kysely.selectFrom('razorpay_journal').selectAll().where('idempotency_key', '=', idempotencyKey).executeTakeFirst();
      if (!row) return undefined;
      if (!isOperation(row.operation)) throw new Error(`razorpay_journal row ${idempotencyKey} has unknown operation ${row.operation}`);
      return { operation: row.operation, paymentId: row.payment_id, amount: dbInt(row.amount) };
    },
    async put(idempotencyKey, entry) {
      try {
        await db.kysely
          .insertInto('razorpay_journal')
          .values({ idempotency_key: idempotencyKey, operation: entry.operation, payment_id: entry.paymentId, amount: entry.amount, created_at: clock.now() })
          .execute();
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
      }
    },
  };
}
