import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { CompiledQuery, Kysely, MysqlDialect, SqliteDialect, SqliteDriver, type DatabaseConnection, type Driver, type SqliteDialectConfig, type LogEvent, type SelectQueryBuilder, type SqliteDatabase as KyselySqliteDatabase, type SqliteStatement, type Transaction } from 'kysely';
import { createPool, type PoolOptions } from 'mysql2';
import { inSpan, isRecording, recordFinishedSpan, SpanKind } from '../observability/tracing.js';
import type { Dialect } from './dialect.js';
import type { Database } from './schema.js';

export type Tx = Transaction<Database>;
export type Executor = Kysely<Database> | Tx;

/** The system of record: a Kysely instance plus what differs between the dialects we support. */
export interface Db {
  readonly kysely: Kysely<Database>;
  readonly dialect: Dialect;
  /** A human-readable location without credentials, for logs and /readyz. */
  readonly description: string;
  /**
   * Runs `fn` in one transaction. On MySQL a deadlock or lock-wait timeout rolls everything back,
   * so the whole function is retried (a few times): nothing outside the database happens inside.
   */
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  /** The connection pool's use, for metrics; absent where there is no pool (SQLite: one connection). */
  poolStats?(): PoolStats;
  close(): Promise<void>;
}

export interface PoolStats {
  /** Connections checked out. */
  readonly used: number;
  /** Open connections idle in the pool. */
  readonly free: number;
  /** Requests waiting for a connection. */
  readonly queued: number;
}

export type DatabaseLocation =
  | { readonly kind: 'sqlite'; readonly file: string }
  | { readonly kind: 'mysql'; readonly url: string };

/** `sqlite:./data/obol.db`, `sqlite::memory:` or `mysql://user:pass@host:3306/db`. */
export function parseDatabaseUrl(url: string): DatabaseLocation | undefined {
  if (url.startsWith('sqlite:')) {
    const file = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (file.length === 0) return undefined;
    return { kind: 'sqlite', file };
  }
  if (url.startsWith('mysql://') || url.startsWith('mariadb://')) {
    try {
      const parsed = new URL(url.replace(/^mariadb:/, 'mysql:'));
      if (parsed.pathname.length <= 1) return undefined;
      return { kind: 'mysql', url: parsed.toString() };
    } catch {
      return undefined;
    }
  }
  return undefined;
}

export function describeLocation(location: DatabaseLocation): string {
  if (location.kind === 'sqlite') return `sqlite:${location.file}`;
  const u = new URL(location.url);
  return `mysql://${u.hostname}:${u.port || '3306'}${u.pathname}`;
}

const RETRYABLE_MYSQL_ERRNOS = new Set([1213 /* deadlock */, 1205 /* lock wait timeout */]);

function errno(err: unknown): number | undefined {
  if (typeof err === 'object' && err !== null && 'errno' in err && typeof err.errno === 'number') return err.errno;
  return undefined;
}

function errCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code;
  return undefined;
}

/**
 * A BIGINT read back from the database as a number. mysql2 returns BIGINT as a number while it is
 * a safe integer (a string beyond), SQLite as a number: anything unsafe is corruption, not money.
 */
export function dbInt(value: number | string | bigint): number {
  const out = Number(value);
  if (!Number.isSafeInteger(out)) throw new Error(`not a safe integer from the database: ${String(value)}`);
  return out;
}

/** True when `err` is a violated primary-key or unique constraint, on either dialect. */
export function isUniqueViolation(err: unknown): boolean {
  const code = errCode(err);
  return errno(err) === 1062 || code === 'ER_DUP_ENTRY' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE';
}

export function openDatabase(location: DatabaseLocation): Db {
  if (location.kind === 'sqlite') return openSqlite(location.file);
  return openMysql(location.url);
}

function openSqlite(file: string): Db {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const sqlite = new SqliteDatabase(file);
  sqlite.pragma('journal_mode = WAL');
  // FULL: a committed payment survives power loss, not only a process crash.
  sqlite.pragma('synchronous = FULL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  const kysely = new Kysely<Database>({ dialect: new ImmediateSqliteDialect({ database: reusingStatements(sqlite) }), log: statementSpans('sqlite') });
  return {
    kysely,
    dialect: 'sqlite',
    description: `sqlite:${file}`,
    // Kysely serialises SQLite work on its single connection, so transactions never interleave.
    transaction: (fn) => transactionSpan('sqlite', () => kysely.transaction().execute(fn)),
    close: () => kysely.destroy(),
  };
}

/**
 * Transactions on SQLite begin IMMEDIATE: they take the write lock at the start, waiting for it
 * up to busy_timeout. A deferred transaction reads first and asks for the lock at its first write;
 * if another process committed in between (several roles on one file: `obol serve --roles api`
 * beside `--roles worker`), SQLite refuses the upgrade at once (SQLITE_BUSY_SNAPSHOT) instead of
 * waiting, and a payment step would fail for nothing. Obol's transactions all write.
 */
class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

class ImmediateSqliteDialect extends SqliteDialect {
  readonly #settings: SqliteDialectConfig;

  constructor(settings: SqliteDialectConfig) {
    super(settings);
    this.#settings = settings;
  }

  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.#settings);
  }
}

/** Distinct SQL texts whose prepared statements are kept (Obol has a few hundred query shapes). */
const SQLITE_STATEMENT_CACHE = 1_000;

/**
 * better-sqlite3 compiles a statement on every `prepare`, and Kysely prepares once per query: a
 * checkout's fifty statements were compiled fifty times. Prepared statements are kept per SQL
 * text instead (the least recently used leave first). Reuse is safe because Kysely runs one query
 * at a time on the connection and finishes it before the next; SQLite recompiles a kept statement
 * by itself after a schema change.
 */
function reusingStatements(sqlite: KyselySqliteDatabase): KyselySqliteDatabase {
  const kept = new Map<string, SqliteStatement>();
  return {
    close: () => sqlite.close(),
    prepare(sql) {
      const found = kept.get(sql);
      if (found !== undefined) {
        kept.delete(sql);
        kept.set(sql, found);
        return found;
      }
      const statement = sqlite.prepare(sql);
      kept.set(sql, statement);
      if (kept.size > SQLITE_STATEMENT_CACHE) kept.delete(kept.keys().next().value!);
      return statement;
    },
  };
}

/** The pool settings of a mysql:// URL; the benchmark's raw baseline opens its pool with the same. */
export function mysqlPoolOptions(url: string): PoolOptions {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: u.port ? Number(u.port) : 3306,
    user: decodeURIComponent(u.username || 'root'),
    password: decodeURIComponent(u.password),
    database: decodeURIComponent(u.pathname.slice(1)),
    connectionLimit: Number(u.searchParams.get('connectionLimit') ?? 20),
    // Amounts are BIGINT minor units: numbers while they are safe integers, strings beyond.
    supportBigNumbers: true,
    bigNumberStrings: false,
    decimalNumbers: true,
    charset: 'utf8mb4',
    timezone: 'Z',
  };
}

function openMysql(url: string): Db {
  const pool = createPool(mysqlPoolOptions(url));
  const kysely = new Kysely<Database>({ dialect: new MysqlDialect({ pool }), log: statementSpans('mysql') });
  return {
    kysely,
    dialect: 'mysql',
    description: describeLocation({ kind: 'mysql', url }),
    transaction: (fn) => transactionSpan('mysql', async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await kysely.transaction().setIsolationLevel('read committed').execute(fn);
        } catch (err) {
          const n = errno(err);
          if (n === undefined || !RETRYABLE_MYSQL_ERRNOS.has(n) || attempt >= 5) throw err;
          await new Promise((r) => setTimeout(r, 5 * attempt + Math.floor(Math.random() * 10)));
        }
      }
    }),
    poolStats: () => mysqlPoolStats(pool),
    close: () => kysely.destroy(),
  };
}

/**
 * Each statement as a client span of the operation that ran it, reported by Kysely when the
 * statement finished. The text is Kysely's parameterised SQL: values are never in it. Only inside
 * a recorded operation: polling loops and unexported traces make no statement spans.
 */
function statementSpans(system: Dialect): (event: LogEvent) => void {
  return (event) => {
    if (!isRecording()) return;
    const endTime = performance.timeOrigin + performance.now();
    const text = event.query.sql;
    const operation = /^\s*\(?\s*([A-Za-z]+)/.exec(text)?.[1]?.toUpperCase() ?? 'QUERY';
    recordFinishedSpan(`db ${operation}`, {
      kind: SpanKind.CLIENT,
      startTime: endTime - event.queryDurationMillis,
      endTime,
      attributes: { 'db.system.name': system === 'mysql' ? 'mysql' : 'sqlite', 'db.operation.name': operation, 'db.query.text': text.length > 2000 ? `${text.slice(0, 2000)}…` : text },
      ...(event.level === 'error' ? { error: event.error } : {}),
    });
  };
}

/** A transaction (with its retries) as one span around its statements, inside a recorded operation. */
function transactionSpan<T>(system: Dialect, run: () => Promise<T>): Promise<T> {
  if (!isRecording()) return run();
  return inSpan('db.transaction', { kind: SpanKind.INTERNAL, attributes: { 'db.system.name': system === 'mysql' ? 'mysql' : 'sqlite' } }, run);
}

/**
 * mysql2 keeps its pool's connections in three queues and has no public accessor for their
 * sizes; these fields have been stable across mysql2 releases, and a missing one reads as 0.
 */
function mysqlPoolStats(pool: object): PoolStats {
  const size = (field: string): number => {
    const queue = (pool as Record<string, unknown>)[field];
    const length = typeof queue === 'object' && queue !== null ? (queue as { length?: unknown }).length : undefined;
    return typeof length === 'number' ? length : 0;
  };
  const all = size('_allConnections');
  const free = size('_freeConnections');
  return { used: Math.max(0, all - free), free, queued: size('_connectionQueue') };
}

/**
 * Adds `FOR UPDATE` where the dialect has it. SQLite runs one writer at a time (and Kysely
 * serialises our connection), so a plain read inside a transaction is already exclusive there.
 */
export function forUpdate<DB, TB extends keyof DB, O>(db: Db, qb: SelectQueryBuilder<DB, TB, O>): SelectQueryBuilder<DB, TB, O> {
  return db.dialect === 'mysql' ? qb.forUpdate() : qb;
}
