// @ts-check
/**
 * What one checkout writes, taken from a real one rather than from reading the code: Obol runs
 * in this process on the benchmark's database, with the drivers' query functions wrapped, and a
 * learner's checkout is made through GraphQL. Every statement reaches the driver through
 * better-sqlite3's Statement#run/#all/#iterate or mysql2's Connection#query (Kysely calls nothing
 * else, BEGIN and COMMIT included), so the log holds each statement, its parameters and the
 * connection it ran on, in order.
 */
import { createRequire } from 'node:module';
import { dist, obolEnv } from './obol.mjs';
import { checkout } from './checkout-client.mjs';

const require = createRequire(import.meta.url);

/**
 * @typedef {{ readonly conn: number, readonly sql: string, readonly params: readonly unknown[] }} Captured
 * @typedef {{ readonly statements: readonly { sql: string, params: readonly unknown[] }[], readonly transactional: boolean }} Unit
 *   One transaction, or one autocommitted statement.
 * @typedef {{ readonly dialect: 'sqlite' | 'mysql', readonly units: readonly Unit[], readonly reads: number, readonly writes: number,
 *   readonly ids: readonly string[], readonly customer: string, readonly capturedAt: number, readonly log: readonly Captured[] }} CheckoutScript
 */

/** @type {Captured[] | undefined} */
let sink;

let patched = false;
function patchDrivers() {
  if (patched) return;
  patched = true;
  const Sqlite = require('better-sqlite3');
  const probe = new Sqlite(':memory:');
  const Statement = Object.getPrototypeOf(probe.prepare('SELECT 1'));
  probe.close();
  for (const method of ['run', 'all', 'get', 'iterate']) {
    const original = Statement[method];
    Statement[method] = function (...args) {
      sink?.push({ conn: 0, sql: this.source, params: Array.isArray(args[0]) ? [...args[0]] : args });
      return original.apply(this, args);
    };
  }
  // Pool connections extend Connection, which inherits query() from mysql2's base connection.
  const base = Object.getPrototypeOf(require('mysql2').Connection.prototype);
  const query = base.query;
  base.query = function (sql, values, cb) {
    const text = typeof sql === 'string' ? sql : sql?.sql;
    sink?.push({ conn: this.threadId ?? -1, sql: text, params: Array.isArray(values) ? [...values] : [] });
    return query.call(this, sql, values, cb);
  };
}

const BEGIN = /^\s*(begin|start transaction)\b/i;
const END = /^\s*(commit|rollback)\b/i;
const SESSION_SETTING = /^\s*set\s+transaction\b/i;
export const isWrite = (sql) => /^\s*(insert|update|delete|replace)\b/i.test(sql);

/**
 * Runs `warmups` checkouts for the customer, then captures the next one.
 * @param {import('./obol.mjs').BenchDatabase} database
 * @param {{ customer: string, warmups?: number }} args
 * @returns {Promise<CheckoutScript>}
 */
export async function captureCheckout(database, { customer, warmups = 2 }) {
  patchDrivers();
  const { loadConfig } = await dist('platform/config.js');
  const { createApp } = await dist('platform/app.js');
  const { createHttpServer } = await dist('platform/http/server.js');
  const { createLogger } = await dist('platform/logging.js');
  const { signDevelopmentToken } = await dist('platform/auth/index.js');
  const config = loadConfig({ ...obolEnv(database), OBOL_ROLES: 'api' });
  const app = await createApp({ config, logger: createLogger({ level: 'warn', name: 'obol-bench-capture' }) });
  const server = await createHttpServer(app);
  await server.ready();
  const token = await signDevelopmentToken({ config, subject: customer, roles: ['learner'] });
  const transport = {
    /** @param {string} url @param {string | undefined} payload @param {Record<string, string>} [headers] */
    async request(url, payload, headers = {}) {
      const res = await server.inject({ method: 'POST', url, payload, headers: { 'content-type': 'application/json', ...headers } });
      return { status: res.statusCode, body: res.body };
    },
  };
  /** @type {Captured[]} */
  const log = [];
  let paymentId;
  let capturedAt = 0;
  try {
    for (let i = 0; i < warmups; i++) await checkout(transport, token);
    sink = log;
    capturedAt = Date.now();
    paymentId = await checkout(transport, token);
  } finally {
    sink = undefined;
    await server.close();
    await app.close();
  }
  return { ...toUnits(database.dialect, log), ids: generatedIds(log, paymentId), customer, capturedAt, log };
}

/**
 * Groups the log into transactions per connection (BEGIN … COMMIT) and lone autocommitted
 * statements, in the order they started.
 * @param {'sqlite' | 'mysql'} dialect
 * @param {readonly Captured[]} log
 */
function toUnits(dialect, log) {
  /** @type {{ statements: { sql: string, params: readonly unknown[] }[], transactional: boolean }[]} */
  const units = [];
  /** @type {Map<number, { statements: { sql: string, params: readonly unknown[] }[], transactional: boolean }>} */
  const open = new Map();
  let reads = 0;
  let writes = 0;
  for (const entry of log) {
    if (SESSION_SETTING.test(entry.sql)) continue;
    if (BEGIN.test(entry.sql)) {
      const unit = { statements: [], transactional: true };
      open.set(entry.conn, unit);
      units.push(unit);
      continue;
    }
    if (END.test(entry.sql)) {
      open.delete(entry.conn);
      continue;
    }
    if (isWrite(entry.sql)) writes++;
    else reads++;
    const unit = open.get(entry.conn);
    if (unit) unit.statements.push({ sql: entry.sql, params: entry.params });
    else units.push({ statements: [{ sql: entry.sql, params: entry.params }], transactional: false });
  }
  return { dialect, units, reads, writes };
}

/**
 * The ids this checkout minted (session, order, payment, attempt, journal transaction, event,
 * idempotency keys…): every prefixed ULID (`cs_01…`) or UUID-bearing string among the written
 * parameters. A replay swaps each for a fresh one, everywhere it occurs (JSON payloads included),
 * so the rows keep their relations and never collide.
 * @param {readonly Captured[]} log
 * @param {string} paymentId
 */
function generatedIds(log, paymentId) {
  const ids = new Set([paymentId]);
  const pattern = /\b[a-z]+_[0-9A-HJKMNP-TV-Z]{26}\b|\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/g;
  for (const entry of log) {
    if (!isWrite(entry.sql)) continue;
    for (const p of entry.params) if (typeof p === 'string') for (const m of p.matchAll(pattern)) ids.add(m[0]);
  }
  return [...ids];
}
