// @ts-check
/**
 * The growth benchmark's fast path to a database holding many payments: the rows one real
 * checkout left behind (found from the captured INSERTs, read back in their final state), copied
 * with multi-row INSERTs straight into the tables, each copy with fresh ids throughout (JSON
 * payloads included), one of SEED_CUSTOMERS customers and a time in the past. Aggregates stay
 * consistent: the ledger accounts the copies post to receive the copies' sum, so the trial
 * balance still balances. Left out on purpose: idempotency keys (Obol deletes them once they
 * expire, so a store with a long history holds only the recent ones) and the rate-limit and SCA
 * counters (per minute or per customer, not per payment).
 */
import { createRequire } from 'node:module';
import { createConnection } from 'mysql2/promise';
import { ulidLike } from './raw.mjs';

const require = createRequire(import.meta.url);
const SEED_CUSTOMERS = 100_000;
const SKIP_TABLES = new Set(['idempotency_keys', 'abuse_rate_counters', 'sca_low_value_counters', 'ledger_accounts']);
const INSERT = /^\s*insert into [`"](\w+)[`"] \(([^)]*)\) values/i;

/**
 * @typedef {{ table: string, columns: string[], templates: unknown[][] }} TableTemplate
 *   Each row of `templates` is one row's values; a string value is pre-split on the ids it holds
 *   (odd positions are ids), so a copy is a join, not a search.
 * @typedef {{ tables: TableTemplate[], ledger: { code: string, currency: string, amount: number }[], copy: number }} Seeder
 */

/**
 * Reads back, in its final state, every row the captured checkout inserted.
 * @param {import('./obol.mjs').BenchDatabase} database
 * @param {import('./capture.mjs').CheckoutScript} script
 */
export async function seederFrom(database, script) {
  const ids = new Set(script.ids);
  const q = database.dialect === 'mysql' ? '`' : '"';
  /** @type {Map<string, { columns: string[], where: { column: string, value: string }[] }>} */
  const inserted = new Map();
  for (const unit of script.units) {
    for (const s of unit.statements) {
      const m = INSERT.exec(s.sql);
      if (!m || /on conflict|on duplicate key/i.test(s.sql)) continue;
      const table = /** @type {string} */ (m[1]);
      if (SKIP_TABLES.has(table)) continue;
      const columns = /** @type {string} */ (m[2]).split(',').map((c) => c.trim().replace(/[`"]/g, ''));
      // The first column holding a minted id identifies the row(s): ids never change afterwards.
      const rowsPerStatement = s.params.length / columns.length;
      for (let r = 0; r < rowsPerStatement; r++) {
        const values = s.params.slice(r * columns.length, (r + 1) * columns.length);
        const at = values.findIndex((v) => typeof v === 'string' && ids.has(v));
        if (at < 0) throw new Error(`no minted id in the captured insert into ${table}`);
        const entry = inserted.get(table) ?? { columns, where: [] };
        entry.where.push({ column: /** @type {string} */ (columns[at]), value: /** @type {string} */ (values[at]) });
        inserted.set(table, entry);
      }
    }
  }
  const read = await reader(database);
  const pattern = new RegExp(`(${[...ids, script.customer].sort((a, b) => b.length - a.length).join('|')})`, 'g');
  /** @type {TableTemplate[]} */
  const tables = [];
  /** @type {Map<string, { code: string, currency: string, amount: number }>} */
  const ledger = new Map();
  try {
    for (const [table, { columns, where }] of inserted) {
      /** @type {unknown[][]} */
      const templates = [];
      const seen = new Set();
      for (const w of where) {
        for (const row of await read(`select * from ${q}${table}${q} where ${q}${w.column}${q} = ?`, [w.value])) {
          const key = JSON.stringify(row);
          if (seen.has(key)) continue;
          seen.add(key);
          if (table === 'journal_entries') {
            const k = `${row.account_code}/${row.currency}`;
            const acc = ledger.get(k) ?? { code: row.account_code, currency: row.currency, amount: 0 };
            acc.amount += Number(row.amount);
            ledger.set(k, acc);
          }
          // A stored history has been relayed long ago.
          if (table === 'outbox') row.published_at = row.occurred_at;
          templates.push(columns.map((c) => (typeof row[c] === 'string' ? row[c].split(pattern) : row[c])));
        }
      }
      tables.push({ table, columns, templates });
    }
  } finally {
    await read.close();
  }
  return { tables, ledger: [...ledger.values()], customer: script.customer, capturedAt: script.capturedAt };
}

/** @param {import('./obol.mjs').BenchDatabase} database */
async function reader(database) {
  if (database.dialect === 'sqlite') {
    const Sqlite = require('better-sqlite3');
    const db = new Sqlite(database.name, { readonly: true });
    return Object.assign(async (sql, params) => db.prepare(sql).all(params), { close: async () => db.close() });
  }
  const conn = await createConnection({ uri: database.url, supportBigNumbers: true, bigNumberStrings: false, decimalNumbers: true });
  return Object.assign(async (sql, params) => /** @type {any[]} */ ((await conn.query(sql, params))[0]), { close: () => conn.end() });
}

/**
 * Inserts `count` more copies of the checkout's rows, numbered from `from` (so later calls add
 * to earlier ones without colliding), spread over the past: copy i is `(from + count - i)`
 * seconds before now.
 * @param {import('./obol.mjs').BenchDatabase} database
 * @param {Awaited<ReturnType<typeof seederFrom>>} seeder
 * @param {{ from: number, count: number, onProgress?: (done: number) => void }} args
 */
export async function seedPayments(database, seeder, { from, count, onProgress }) {
  const batch = 2000;
  // MariaDB parses and writes on its own cores: two connections fed in turn keep it busy while
  // this process builds the next batch. better-sqlite3 is synchronous, so one is all it can use.
  const writers = await Promise.all(Array.from({ length: database.dialect === 'mysql' ? 2 : 1 }, () => bulkWriter(database)));
  /** @type {(Promise<void> | undefined)[]} */
  const inFlight = writers.map(() => undefined);
  const dayMs = 86_400_000;
  const now = Date.now();
  try {
    for (let start = 0; start < count; start += batch) {
      const n = Math.min(batch, count - start);
      /** @type {Map<string, unknown[][]>} */
      const rows = new Map(seeder.tables.map((t) => [t.table, []]));
      for (let i = start; i < start + n; i++) {
        const at = now - (from + count - i) * 1000;
        const shift = at - seeder.capturedAt;
        const customer = `cus_seed_${(from + i) % SEED_CUSTOMERS}`;
        /** @type {Map<string, string>} */
        const fresh = new Map();
        const swap = (id) => {
          if (id === seeder.customer) return customer;
          let out = fresh.get(id);
          if (out === undefined) {
            const prefix = /^([a-z]+_)[0-9A-Z]{26}$/.exec(id);
            out = prefix ? prefix[1] + ulidLike(at) : `seed-${from + i}-${fresh.size}`;
            fresh.set(id, out);
          }
          return out;
        };
        for (const t of seeder.tables) {
          const out = /** @type {unknown[][]} */ (rows.get(t.table));
          for (const template of t.templates) {
            out.push(
              template.map((v) => {
                if (Array.isArray(v)) {
                  let s = '';
                  for (let k = 0; k < v.length; k++) s += k % 2 === 1 ? swap(v[k]) : v[k];
                  return s;
                }
                if (typeof v === 'number' && Number.isInteger(v) && Math.abs(v - seeder.capturedAt) < 2 * dayMs) return v + shift;
                return v;
              }),
            );
          }
        }
      }
      const slot = (start / batch) % writers.length;
      await inFlight[slot];
      const groups = seeder.tables.map((t) => ({ table: t.table, columns: t.columns, rows: /** @type {unknown[][]} */ (rows.get(t.table)) }));
      inFlight[slot] = /** @type {NonNullable<(typeof writers)[number]>} */ (writers[slot]).insert(groups).then(() => onProgress?.(start + n));
    }
    await Promise.all(inFlight);
    await /** @type {NonNullable<(typeof writers)[number]>} */ (writers[0]).addToLedger(seeder.ledger.map((l) => ({ ...l, amount: l.amount * count, entries: count })));
  } finally {
    await Promise.allSettled(inFlight);
    await Promise.all(writers.map((w) => w.close()));
  }
}

/** @param {import('./obol.mjs').BenchDatabase} database */
async function bulkWriter(database) {
  if (database.dialect === 'sqlite') {
    const Sqlite = require('better-sqlite3');
    const db = new Sqlite(database.name);
    db.pragma('journal_mode = WAL');
    db.pragma('busy_timeout = 5000');
    /** @type {Map<string, any>} */
    const statements = new Map();
    const prepared = (table, columns, n) => {
      const key = `${table}/${n}`;
      let stmt = statements.get(key);
      if (!stmt) {
        const row = `(${columns.map(() => '?').join(', ')})`;
        stmt = db.prepare(`insert into "${table}" (${columns.map((c) => `"${c}"`).join(', ')}) values ${Array(n).fill(row).join(', ')}`);
        statements.set(key, stmt);
      }
      return stmt;
    };
    return {
      /** @param {{ table: string, columns: string[], rows: unknown[][] }[]} groups */
      async insert(groups) {
        db.transaction(() => {
          for (const { table, columns, rows } of groups) {
            // SQLite allows 32766 bound parameters per statement.
            const per = Math.max(1, Math.floor(32_000 / columns.length));
            for (let i = 0; i < rows.length; i += per) {
              const chunk = rows.slice(i, i + per);
              prepared(table, columns, chunk.length).run(chunk.flat());
            }
          }
        })();
      },
      /** @param {{ code: string, currency: string, amount: number, entries: number }[]} deltas */
      async addToLedger(deltas) {
        const stmt = db.prepare('update "ledger_accounts" set "balance" = "balance" + ?, "entry_count" = "entry_count" + ? where "code" = ? and "currency" = ?');
        db.transaction(() => deltas.forEach((d) => stmt.run(d.amount, d.entries, d.code, d.currency)))();
      },
      close: async () => db.close(),
    };
  }
  const conn = await createConnection({ uri: database.url, supportBigNumbers: true, bigNumberStrings: false, charset: 'utf8mb4', timezone: 'Z' });
  return {
    /** @param {{ table: string, columns: string[], rows: unknown[][] }[]} groups */
    async insert(groups) {
      await conn.query('begin');
      for (const { table, columns, rows } of groups) {
        // mysql2 expands `values ?` with an array of rows into one multi-row INSERT.
        for (let i = 0; i < rows.length; i += 1000) {
          await conn.query(`insert into \`${table}\` (${columns.map((c) => `\`${c}\``).join(', ')}) values ?`, [rows.slice(i, i + 1000)]);
        }
      }
      await conn.query('commit');
    },
    /** @param {{ code: string, currency: string, amount: number, entries: number }[]} deltas */
    async addToLedger(deltas) {
      for (const d of deltas) {
        await conn.query('update `ledger_accounts` set `balance` = `balance` + ?, `entry_count` = `entry_count` + ? where `code` = ? and `currency` = ?', [d.amount, d.entries, d.code, d.currency]);
      }
    },
    close: () => conn.end(),
  };
}
