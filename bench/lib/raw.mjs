// @ts-check
/**
 * The raw baseline: the durable writes of one captured checkout (see capture.mjs), replayed with
 * the database driver alone. Each transaction of the checkout is one transaction here, each
 * autocommitted write is autocommitted here, in the same order and with the same parameters, but
 * with freshly minted ids (so rows never collide and keep their relations), the client's own
 * customer, and timestamps moved to now. Plain reads are left out: reading is work Obol chooses to
 * do, not work the durable result needs. Locking reads (FOR UPDATE) stay, since they are part of
 * how the transaction serialises against others.
 */
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { createPool } from 'mysql2';
import { isWrite } from './capture.mjs';
import { dist } from './obol.mjs';

const require = createRequire(import.meta.url);
/** @type {{ mysqlPoolOptions(url: string): import('mysql2').PoolOptions }} */
const { mysqlPoolOptions } = await dist('platform/db/database.js');

/**
 * @typedef {{ readonly statements: readonly { sql: string, params: readonly unknown[] }[], readonly transactional: boolean }} PlanUnit
 * @typedef {{ readonly units: readonly PlanUnit[], readonly rewrite: (client: number) => (value: unknown) => unknown }} Plan
 */

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
let lastMs = 0;
let counter = 0;

/** A time-ordered id in the ULID alphabet, as Obol's own are, so index inserts land alike. */
export function ulidLike(now = Date.now()) {
  if (now !== lastMs) {
    lastMs = now;
    counter = Math.floor(Math.random() * 2 ** 30);
  } else counter++;
  let time = '';
  for (let t = now, i = 0; i < 10; i++, t = Math.floor(t / 32)) time = CROCKFORD[t % 32] + time;
  let rest = '';
  for (let c = counter, i = 0; i < 8; i++, c = Math.floor(c / 32)) rest = CROCKFORD[c % 32] + rest;
  for (let i = 0; i < 8; i++) rest += CROCKFORD[Math.floor(Math.random() * 32)];
  return time + rest;
}

/**
 * @param {import('./capture.mjs').CheckoutScript} script
 * @param {readonly string[]} customers the customer of each client
 * @returns {Plan}
 */
export function replayPlan(script, customers) {
  const { customer, capturedAt } = script;
  /** @type {PlanUnit[]} */
  const units = [];
  for (const unit of script.units) {
    const statements = unit.statements.filter((s) => isWrite(s.sql) || /\bfor\s+update\b/i.test(s.sql));
    // A unit the log saw as BEGIN … COMMIT stays a transaction even when one write remains.
    if (statements.length > 0) units.push({ statements, transactional: unit.transactional });
  }
  const escaped = [...script.ids, customer].sort((a, b) => b.length - a.length).map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  const pattern = new RegExp(escaped.join('|'), 'g');
  const dayMs = 86_400_000;
  return {
    units,
    rewrite(client) {
      /** @type {Map<string, string>} */
      const fresh = new Map();
      const shift = Date.now() - capturedAt;
      const swap = (id) => {
        if (id === customer) return /** @type {string} */ (customers[client]);
        let out = fresh.get(id);
        if (out === undefined) {
          const prefix = /^([a-z]+_)[0-9A-Z]{26}$/.exec(id);
          out = prefix ? prefix[1] + ulidLike() : randomUUID();
          fresh.set(id, out);
        }
        return out;
      };
      return (value) => {
        if (typeof value === 'string') return value.replace(pattern, swap);
        // Epoch milliseconds near the capture are the checkout's own times: move them to now.
        if (typeof value === 'number' && Number.isInteger(value) && Math.abs(value - capturedAt) < 2 * dayMs) return value + shift;
        return value;
      };
    },
  };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

/**
 * Serialises work on one connection, as Kysely does with SQLite's, so waits count in latency.
 * Each job starts on a new turn of the event loop: better-sqlite3 is synchronous, and a chain of
 * resolved promises alone would starve the timers that end the run.
 */
function serial() {
  let tail = Promise.resolve();
  /** @type {<T>(fn: () => T) => Promise<T>} */
  return (fn) => {
    const run = tail.then(turn).then(fn);
    tail = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  };
}

/**
 * Opens the baseline's own connection(s) with the settings Obol's database layer uses.
 * @param {import('./obol.mjs').BenchDatabase} database
 * @param {Plan} plan
 * @returns {{ checkout(client: number): Promise<void>, close(): Promise<void> }}
 */
export function rawExecutor(database, plan) {
  if (database.dialect === 'sqlite') {
    const Sqlite = require('better-sqlite3');
    const db = new Sqlite(database.name);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    const units = plan.units.map((u) => ({ transactional: u.transactional, statements: u.statements.map((s) => ({ stmt: db.prepare(s.sql), params: s.params })) }));
    // As Obol's SQLite transactions begin (src/platform/db/database.ts).
    const begin = db.prepare('begin immediate');
    const commit = db.prepare('commit');
    const queue = serial();
    return {
      async checkout(client) {
        const rewrite = plan.rewrite(client);
        // One unit at a time, yielding between them as Obol's awaits do, so clients interleave.
        for (const unit of units) {
          await queue(() => {
            if (unit.transactional) begin.run();
            try {
              for (const s of unit.statements) s.stmt.run(s.params.map(rewrite));
              if (unit.transactional) commit.run();
            } catch (err) {
              if (db.inTransaction) db.exec('rollback');
              throw err;
            }
          });
        }
      },
      close: async () => void db.close(),
    };
  }
  // Obol's own pool settings (src/platform/db/database.ts), so the drivers behave alike.
  const pool = createPool(mysqlPoolOptions(database.url)).promise();
  return {
    async checkout(client) {
      const rewrite = plan.rewrite(client);
      for (const unit of plan.units) {
        const params = unit.statements.map((s) => s.params.map(rewrite));
        for (let attempt = 1; ; attempt++) {
          const conn = await pool.getConnection();
          try {
            if (unit.transactional) {
              await conn.query('set transaction isolation level read committed');
              await conn.query('begin');
            }
            for (let i = 0; i < unit.statements.length; i++) await conn.query(/** @type {any} */ (unit.statements[i]).sql, params[i]);
            if (unit.transactional) await conn.query('commit');
            break;
          } catch (err) {
            if (unit.transactional) await conn.query('rollback').catch(() => undefined);
            // Deadlocks and lock waits are retried, as Obol's transaction() does.
            const errno = /** @type {{ errno?: number }} */ (err).errno;
            if ((errno !== 1213 && errno !== 1205) || attempt >= 5) throw err;
          } finally {
            conn.release();
          }
        }
      }
    },
    close: () => pool.end(),
  };
}
