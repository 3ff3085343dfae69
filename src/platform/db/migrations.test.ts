/**
 * Expand/contract, enforced (docs/migrations.md).
 *
 * Each migration runs on its own, in order, through Kysely's Migrator as `obol migrate` runs it,
 * on a fresh SQLite and a fresh MariaDB database in which every table holds rows: before each
 * step every table gets a full row (every column at its full declared width) and a sparse row
 * (NULL wherever the column allows it). A step that is not marked `phase = 'contract'` must leave
 * whole what the version already running uses, judged three ways:
 *
 * - the schema, read before and after (SQLite's pragmas, MariaDB's information_schema): no table
 *   or column gone (dropped or renamed); no column made NOT NULL, stripped of the default that let
 *   an insert leave it out, or given a type that cannot hold every value the old one held; no
 *   primary key, index, unique constraint, foreign key or trigger removed; no column added NOT
 *   NULL without a default to an existing table; no unique index or foreign key added to an
 *   existing table over columns its rows already fill (a tightening: the running code's writes
 *   could be refused);
 * - the data: every row that was there is still there, with the same value in every column it had;
 * - the running code's writes: the same two kinds of row, built from the columns the table had
 *   before the step, still insert after it (they did just before it).
 *
 * A SQLite table rebuild (copy, drop, rename) is judged by what it leaves, like any other step.
 * Synthetic migrations below show that each kind of destructive change is caught, with a message
 * naming the migration and the change, and that the same migration marked as a contract step passes.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Migrator, sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import { createConnection } from 'mysql2/promise';
import { describe, expect, it } from 'vitest';
import { createTestDatabase, describeEachDatabase, MYSQL_TEST_URL, type TestDialect } from '../../../test/support/databases.js';
import { openDatabase, type Db } from './database.js';
import type { Dialect } from './dialect.js';
import { bundledMigrations, MIGRATION_PHASES, migrateToLatest, migrationPhase, pendingMigrations, type MigrationPhase } from './migrate.js';

// ---------------------------------------------------------------------------------------------
// The schema as the running code sees it

interface ColumnShape {
  readonly name: string;
  /** Lower case, integer display widths dropped, `integer` read as `int`: `varchar(40)`, `bigint`. */
  readonly type: string;
  readonly nullable: boolean;
  /** A default other than NULL. */
  readonly hasDefault: boolean;
  /** Filled by the database when an insert leaves it out (AUTO_INCREMENT, SQLite's rowid). */
  readonly generated: boolean;
}

interface IndexShape {
  readonly name: string;
  readonly columns: readonly string[];
  readonly unique: boolean;
}

interface ForeignKeyShape {
  readonly columns: readonly string[];
  readonly refTable: string;
  readonly refColumns: readonly string[];
}

interface TableShape {
  readonly name: string;
  readonly columns: readonly ColumnShape[];
  readonly primaryKey: readonly string[];
  /** Indexes and unique constraints, the primary key's own index apart. */
  readonly indexes: readonly IndexShape[];
  readonly foreignKeys: readonly ForeignKeyShape[];
}

interface SchemaShape {
  readonly tables: ReadonlyMap<string, TableShape>;
  /** Trigger name → its table. */
  readonly triggers: ReadonlyMap<string, string>;
}

/** The database's own bookkeeping and Kysely's migration tables are not the application's shape. */
const IGNORED_TABLE = /^(sqlite_|kysely_migration)/;

/** An insert may leave the column out. */
const omittable = (c: ColumnShape): boolean => c.nullable || c.hasDefault || c.generated;

function normalizeType(raw: string): string {
  return raw
    .trim()
    .toLowerCase()
    .replace(/\s+/g, ' ')
    .replace(/^(tinyint|smallint|mediumint|int|integer|bigint)\(\d+\)/, '$1')
    .replace(/^integer\b/, 'int');
}

/** MariaDB reports `DEFAULT NULL` as the string NULL; SQLite gives the default's SQL text. */
const realDefault = (value: string | null): boolean => value !== null && value.toUpperCase() !== 'NULL';

async function readSchema(db: Db): Promise<SchemaShape> {
  const k = db.kysely as unknown as Kysely<unknown>;
  return db.dialect === 'sqlite' ? readSqliteSchema(k) : readMysqlSchema(k);
}

async function readSqliteSchema(k: Kysely<unknown>): Promise<SchemaShape> {
  const tables = new Map<string, TableShape>();
  const names = await sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`.execute(k);
  for (const { name } of names.rows) {
    if (IGNORED_TABLE.test(name)) continue;
    const info = await sql<{ name: string; type: string; notnull: number; dflt_value: string | null; pk: number }>`
      SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(${name}) ORDER BY cid`.execute(k);
    const primaryKey = info.rows
      .filter((c) => c.pk > 0)
      .sort((a, b) => a.pk - b.pk)
      .map((c) => c.name);
    // INTEGER PRIMARY KEY is the rowid: SQLite fills it when an insert leaves it out.
    const rowid = primaryKey.length === 1 && info.rows.some((c) => c.pk > 0 && c.type.toLowerCase() === 'integer');
    const columns = info.rows.map((c) => ({
      name: c.name,
      type: normalizeType(c.type),
      // SQLite lets a non-integer primary key hold NULL (a legacy quirk); MySQL never does.
      nullable: c.notnull === 0 && c.pk === 0,
      hasDefault: realDefault(c.dflt_value),
      generated: rowid && c.pk > 0,
    }));
    const indexes: IndexShape[] = [];
    const list = await sql<{ name: string; unique: number; origin: string }>`SELECT name, "unique", origin FROM pragma_index_list(${name})`.execute(k);
    for (const ix of list.rows) {
      if (ix.origin === 'pk') continue;
      const cols = await sql<{ name: string | null }>`SELECT name FROM pragma_index_info(${ix.name}) ORDER BY seqno`.execute(k);
      indexes.push({ name: ix.name, unique: ix.unique === 1, columns: cols.rows.map((c) => c.name ?? '<expression>') });
    }
    const fkRows = await sql<{ id: number; table: string; from: string; to: string | null }>`
      SELECT id, "table", "from", "to" FROM pragma_foreign_key_list(${name}) ORDER BY id, seq`.execute(k);
    const fks = new Map<number, { columns: string[]; refTable: string; refColumns: string[] }>();
    for (const r of fkRows.rows) {
      const fk = fks.get(r.id) ?? { columns: [], refTable: r.table, refColumns: [] };
      fk.columns.push(r.from);
      fk.refColumns.push(r.to ?? '<primary key>');
      fks.set(r.id, fk);
    }
    tables.set(name, { name, columns, primaryKey, indexes, foreignKeys: [...fks.values()] });
  }
  const triggers = await sql<{ name: string; tbl_name: string }>`SELECT name, tbl_name FROM sqlite_master WHERE type = 'trigger'`.execute(k);
  return { tables, triggers: new Map(triggers.rows.map((t) => [t.name, t.tbl_name])) };
}

async function readMysqlSchema(k: Kysely<unknown>): Promise<SchemaShape> {
  const names = await sql<{ name: string }>`
    SELECT TABLE_NAME AS name FROM information_schema.TABLES
    WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME`.execute(k);
  const columns = await sql<{ table_name: string; name: string; type: string; is_nullable: string; column_default: string | null; extra: string }>`
    SELECT TABLE_NAME AS table_name, COLUMN_NAME AS name, COLUMN_TYPE AS type, IS_NULLABLE AS is_nullable,
           COLUMN_DEFAULT AS column_default, EXTRA AS extra
    FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, ORDINAL_POSITION`.execute(k);
  const stats = await sql<{ table_name: string; index_name: string; non_unique: number | string; column_name: string | null; sub_part: number | null }>`
    SELECT TABLE_NAME AS table_name, INDEX_NAME AS index_name, NON_UNIQUE AS non_unique, COLUMN_NAME AS column_name, SUB_PART AS sub_part
    FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX`.execute(k);
  const fkRows = await sql<{ table_name: string; constraint_name: string; column_name: string; ref_table: string; ref_column: string }>`
    SELECT TABLE_NAME AS table_name, CONSTRAINT_NAME AS constraint_name, COLUMN_NAME AS column_name,
           REFERENCED_TABLE_NAME AS ref_table, REFERENCED_COLUMN_NAME AS ref_column
    FROM information_schema.KEY_COLUMN_USAGE
    WHERE TABLE_SCHEMA = DATABASE() AND REFERENCED_TABLE_NAME IS NOT NULL
    ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION`.execute(k);
  const triggers = await sql<{ name: string; table_name: string }>`
    SELECT TRIGGER_NAME AS name, EVENT_OBJECT_TABLE AS table_name FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()`.execute(k);

  const tables = new Map<string, TableShape>();
  for (const { name } of names.rows) {
    if (IGNORED_TABLE.test(name)) continue;
    const indexes = new Map<string, { name: string; unique: boolean; columns: string[] }>();
    const primaryKey: string[] = [];
    for (const s of stats.rows.filter((r) => r.table_name === name)) {
      const column = `${s.column_name ?? '<expression>'}${s.sub_part === null ? '' : `(${s.sub_part})`}`;
      if (s.index_name === 'PRIMARY') {
        primaryKey.push(column);
        continue;
      }
      const ix = indexes.get(s.index_name) ?? { name: s.index_name, unique: Number(s.non_unique) === 0, columns: [] };
      ix.columns.push(column);
      indexes.set(s.index_name, ix);
    }
    const fks = new Map<string, { columns: string[]; refTable: string; refColumns: string[] }>();
    for (const r of fkRows.rows.filter((f) => f.table_name === name)) {
      const fk = fks.get(r.constraint_name) ?? { columns: [], refTable: r.ref_table, refColumns: [] };
      fk.columns.push(r.column_name);
      fk.refColumns.push(r.ref_column);
      fks.set(r.constraint_name, fk);
    }
    tables.set(name, {
      name,
      columns: columns.rows
        .filter((c) => c.table_name === name)
        .map((c) => ({
          name: c.name,
          type: normalizeType(c.type),
          nullable: c.is_nullable === 'YES',
          hasDefault: realDefault(c.column_default),
          generated: /auto_increment/i.test(c.extra),
        })),
      primaryKey,
      indexes: [...indexes.values()],
      foreignKeys: [...fks.values()],
    });
  }
  return { tables, triggers: new Map(triggers.rows.map((t) => [t.name, t.table_name])) };
}

// ---------------------------------------------------------------------------------------------
// Types: which change can lose a value

type TypeInfo =
  | { readonly kind: 'int'; readonly min: number; readonly max: number }
  | { readonly kind: 'string'; readonly bytes: number; readonly fixed: boolean; readonly chars: number }
  | { readonly kind: 'decimal'; readonly whole: number; readonly scale: number }
  | { readonly kind: 'other' };

const INT_BYTES: Readonly<Record<string, number>> = { tinyint: 1, smallint: 2, mediumint: 3, int: 4, bigint: 8 };
const TEXT_BYTES: Readonly<Record<string, number>> = { tinytext: 255, text: 65_535, mediumtext: 16_777_215, longtext: 4_294_967_295 };

/** Capacities as MySQL counts them (utf8mb4: a character is up to 4 bytes); SQLite declares the same types. */
function typeInfo(type: string): TypeInfo {
  const int = /^(tinyint|smallint|mediumint|int|bigint)( unsigned)?( zerofill)?$/.exec(type);
  if (int) {
    const bits = 8 * INT_BYTES[int[1]!]!;
    return int[2] ? { kind: 'int', min: 0, max: 2 ** bits - 1 } : { kind: 'int', min: -(2 ** (bits - 1)), max: 2 ** (bits - 1) - 1 };
  }
  const chars = /^(var)?char\((\d+)\)$/.exec(type);
  if (chars) return { kind: 'string', bytes: 4 * Number(chars[2]), fixed: chars[1] === undefined, chars: Number(chars[2]) };
  const text = TEXT_BYTES[type];
  if (text !== undefined) return { kind: 'string', bytes: text, fixed: false, chars: Math.floor(text / 4) };
  const decimal = /^(?:decimal|numeric)\((\d+)(?:,\s*(\d+))?\)$/.exec(type);
  if (decimal) {
    const scale = Number(decimal[2] ?? 0);
    return { kind: 'decimal', whole: Number(decimal[1]) - scale, scale };
  }
  return { kind: 'other' };
}

/** Why `after` cannot hold every value `before` holds, as the running code reads it; null when it can. */
function typeLoss(before: string, after: string): string | null {
  if (before === after) return null;
  const b = typeInfo(before);
  const a = typeInfo(after);
  if (b.kind === 'int' && a.kind === 'int') return a.min <= b.min && a.max >= b.max ? null : 'a narrower integer: values may be refused or cut';
  if (b.kind === 'string' && a.kind === 'string') {
    if (a.bytes < b.bytes) return 'narrower: longer values may be refused or cut';
    // MySQL's CHAR drops trailing spaces when read; VARCHAR keeps them.
    if (a.fixed && !b.fixed) return 'VARCHAR to CHAR: trailing spaces are lost';
    return null;
  }
  if (b.kind === 'decimal' && a.kind === 'decimal') return a.whole >= b.whole && a.scale >= b.scale ? null : 'fewer digits: values may be refused or rounded';
  return 'a different kind of value for the running code';
}

// ---------------------------------------------------------------------------------------------
// What a step changed

const cols = (columns: readonly string[]): string => columns.join(', ');
const indexKey = (ix: IndexShape): string => `${ix.unique ? 'unique' : 'index'}(${cols(ix.columns)})`;
const fkKey = (fk: ForeignKeyShape): string => `(${cols(fk.columns)}) -> ${fk.refTable}(${cols(fk.refColumns)})`;

/** Every change in `after` that the code running against `before` could trip over. */
function schemaChanges(before: SchemaShape, after: SchemaShape): string[] {
  const out: string[] = [];
  for (const [name, was] of before.tables) {
    const now = after.tables.get(name);
    if (now === undefined) {
      out.push(`table ${name} was dropped or renamed`);
      continue;
    }
    const wasColumns = new Map(was.columns.map((c) => [c.name, c]));
    const nowColumns = new Map(now.columns.map((c) => [c.name, c]));
    for (const c of was.columns) {
      const n = nowColumns.get(c.name);
      if (n === undefined) {
        out.push(`column ${name}.${c.name} was dropped or renamed`);
        continue;
      }
      if (c.nullable && !n.nullable) out.push(`column ${name}.${c.name} was made NOT NULL`);
      else if (omittable(c) && !omittable(n)) out.push(`column ${name}.${c.name} lost the default that let an insert leave it out`);
      const loss = typeLoss(c.type, n.type);
      if (loss !== null) out.push(`column ${name}.${c.name} changed type ${c.type} → ${n.type}: ${loss}`);
    }
    for (const n of now.columns) {
      if (!wasColumns.has(n.name) && !omittable(n)) {
        out.push(`column ${name}.${n.name} was added NOT NULL without a default to an existing table: the running code's inserts leave it out`);
      }
    }
    // A constraint over columns added by this step, nullable and without a default, binds no row
    // the running code writes (they all hold NULL there); over any other column it is a tightening.
    const bindsOnlyNewRows = (columns: readonly string[]): boolean =>
      columns.every((c) => {
        const n = nowColumns.get(c);
        return !wasColumns.has(c) && n !== undefined && n.nullable && !n.hasDefault;
      });
    if (cols(was.primaryKey) !== cols(now.primaryKey)) out.push(`the primary key of ${name} changed from (${cols(was.primaryKey)}) to (${cols(now.primaryKey)})`);
    const nowIndexes = new Set(now.indexes.map(indexKey));
    const wasIndexes = new Set(was.indexes.map(indexKey));
    for (const ix of was.indexes) {
      if (!nowIndexes.has(indexKey(ix))) out.push(`${ix.unique ? 'unique index' : 'index'} ${ix.name} on ${name}(${cols(ix.columns)}) was dropped`);
    }
    for (const ix of now.indexes) {
      if (ix.unique && !wasIndexes.has(indexKey(ix)) && !bindsOnlyNewRows(ix.columns)) {
        out.push(`unique index ${ix.name} on ${name}(${cols(ix.columns)}) was added to an existing table over columns its rows already fill: a tightening (rows the running code writes may be refused)`);
      }
    }
    const nowFks = new Set(now.foreignKeys.map(fkKey));
    const wasFks = new Set(was.foreignKeys.map(fkKey));
    for (const fk of was.foreignKeys) if (!nowFks.has(fkKey(fk))) out.push(`foreign key ${name}${fkKey(fk)} was dropped`);
    for (const fk of now.foreignKeys) {
      if (!wasFks.has(fkKey(fk)) && !bindsOnlyNewRows(fk.columns)) {
        out.push(`foreign key ${name}${fkKey(fk)} was added to an existing table over columns its rows already fill: a tightening (rows the running code writes may be refused)`);
      }
    }
  }
  for (const [trigger, table] of before.triggers) {
    if (!after.triggers.has(trigger) && after.tables.has(table)) out.push(`trigger ${trigger} on ${table} was dropped`);
  }
  return out;
}

type Row = Readonly<Record<string, unknown>>;
type Rows = ReadonlyMap<string, readonly Row[]>;

async function readRows(db: Db, schema: SchemaShape): Promise<Rows> {
  const out = new Map<string, Row[]>();
  for (const name of schema.tables.keys()) {
    out.set(name, (await sql<Row>`SELECT * FROM ${sql.table(name)}`.execute(db.kysely)).rows);
  }
  return out;
}

/** Values compared as text: SQLite's affinity and the drivers may hand the same value back as a number or a string. */
function same(a: unknown, b: unknown): boolean {
  const text = (v: unknown): string => {
    if (v === null || v === undefined) return '\u0000NULL';
    if (v instanceof Uint8Array) return `bytes:${Buffer.from(v).toString('hex')}`;
    return String(v);
  };
  return text(a) === text(b);
}

/** Rows that were there before the step and are gone, or hold other values in the columns they had. */
function dataChanges(before: SchemaShape, after: SchemaShape, rowsBefore: Rows, rowsAfter: Rows): string[] {
  const out: string[] = [];
  for (const [name, was] of before.tables) {
    const now = after.tables.get(name);
    if (now === undefined) continue; // reported as a schema change
    const kept = was.columns.map((c) => c.name).filter((c) => now.columns.some((n) => n.name === c));
    const key = was.primaryKey.length > 0 && was.primaryKey.every((c) => kept.includes(c)) ? was.primaryKey : kept;
    const keyOf = (row: Row): string => JSON.stringify(key.map((c) => (row[c] === null || row[c] === undefined ? null : String(row[c]))));
    const remaining = new Map<string, Row[]>();
    for (const row of rowsAfter.get(name) ?? []) remaining.set(keyOf(row), [...(remaining.get(keyOf(row)) ?? []), row]);
    const old = rowsBefore.get(name) ?? [];
    let lost = 0;
    const changed = new Map<string, number>();
    for (const row of old) {
      const match = remaining.get(keyOf(row))?.shift();
      if (match === undefined) {
        lost += 1;
        continue;
      }
      for (const c of kept) if (!same(row[c], match[c])) changed.set(c, (changed.get(c) ?? 0) + 1);
    }
    if (lost > 0) out.push(`${lost} of the ${old.length} existing rows of ${name} were deleted (or their key changed)`);
    for (const [c, n] of changed) out.push(`values of ${name}.${c} were changed in ${n} existing row(s)`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Rows to probe with

/** Tables in an order where a table comes after the tables its foreign keys reference. */
function dependencyOrder(schema: SchemaShape): TableShape[] {
  const out: TableShape[] = [];
  const placed = new Set<string>();
  const pending = [...schema.tables.values()];
  while (pending.length > 0) {
    const i = pending.findIndex((t) => t.foreignKeys.every((fk) => fk.refTable === t.name || placed.has(fk.refTable) || !schema.tables.has(fk.refTable)));
    const [next] = pending.splice(i === -1 ? 0 : i, 1);
    out.push(next!);
    placed.add(next!.name);
  }
  return out;
}

type RowKind = 'full' | 'sparse';

/**
 * Writes rows with fresh values (a per-table counter makes every key and unique value new): a
 * full row gives every column a value at the column's full declared width; a sparse row gives
 * NULL to every column that allows it. Foreign keys point at a row of the referenced table.
 */
class RowWriter {
  private readonly counters = new Map<string, number>();
  constructor(private readonly db: Db) {}

  async insert(table: TableShape, kind: RowKind): Promise<void> {
    const n = (this.counters.get(table.name) ?? 0) + 1;
    this.counters.set(table.name, n);
    const values = new Map<string, unknown>();
    for (const fk of table.foreignKeys) {
      if (fk.refTable === table.name) continue;
      const referenced = await sql<Row>`SELECT ${sql.join(fk.refColumns.map((c) => sql.ref(c)))} FROM ${sql.table(fk.refTable)} LIMIT 1`.execute(this.db.kysely);
      const row = referenced.rows[0];
      if (row !== undefined) fk.columns.forEach((c, i) => values.set(c, row[fk.refColumns[i]!]));
    }
    const row = table.columns.map((c) => (kind === 'sparse' && c.nullable ? null : values.has(c.name) ? values.get(c.name) : probeValue(c, n)));
    await sql`INSERT INTO ${sql.table(table.name)} (${sql.join(table.columns.map((c) => sql.ref(c.name)))}) VALUES (${sql.join(row)})`.execute(this.db.kysely);
  }
}

/** The n-th value for a column: distinct for each n, as wide or as large as the type allows. */
function probeValue(column: ColumnShape, n: number): unknown {
  const info = typeInfo(column.type);
  const tag = n.toString(36).padStart(2, '0');
  switch (info.kind) {
    case 'int':
      // The largest values the type holds (within a JavaScript number), so a narrowing has to refuse or cut them.
      return Math.min(info.max, Number.MAX_SAFE_INTEGER) - n;
    case 'string': {
      const width = Math.max(1, Math.min(info.chars, 1000));
      const filler = column.name.replace(/[^a-z]/gi, '') || 'x';
      return (tag + filler.repeat(Math.ceil(width / filler.length))).slice(0, width);
    }
    case 'decimal':
      return `${'9'.repeat(Math.max(1, info.whole))}${info.scale > 0 ? `.${'9'.repeat(info.scale)}` : ''}`;
    case 'other':
      if (/^(double|float|real)/.test(column.type)) return n + 0.5;
      if (/^(datetime|timestamp)/.test(column.type)) return '2031-01-02 03:04:05';
      if (/^date$/.test(column.type)) return '2031-01-02';
      if (/blob|binary/.test(column.type)) return Buffer.from(tag);
      if (/^bool/.test(column.type)) return 1;
      return tag;
  }
}

// ---------------------------------------------------------------------------------------------
// The checker

interface MigrationUnderCheck {
  readonly name: string;
  readonly phase: MigrationPhase;
  up(db: Kysely<unknown>, dialect: Dialect): Promise<void>;
}

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ');

/**
 * Applies `migrations` one by one to `db` (empty) and returns every expand-compatibility breach,
 * each as `<migration>: <change>`. A migration that fails is reported, and the run stops there.
 */
async function checkMigrations(db: Db, migrations: readonly MigrationUnderCheck[]): Promise<string[]> {
  const provider: MigrationProvider = {
    getMigrations: async () => Object.fromEntries(migrations.map((m): [string, Migration] => [m.name, { up: (k) => m.up(k, db.dialect) }])),
  };
  const migrator = new Migrator({ db: db.kysely, provider });
  const writer = new RowWriter(db);
  const findings: string[] = [];
  for (const m of migrations) {
    const before = await readSchema(db);
    for (const table of dependencyOrder(before)) {
      for (const kind of ['full', 'sparse'] as const) {
        try {
          await writer.insert(table, kind);
        } catch (err) {
          throw new Error(`the checker could not write a ${kind} row into ${table.name} before ${m.name}: ${messageOf(err)}`);
        }
      }
    }
    const rowsBefore = await readRows(db, before);

    const result = await migrator.migrateTo(m.name);
    if (result.error !== undefined) {
      findings.push(`${m.name}: the migration failed on a database holding full and sparse rows: ${messageOf(result.error)}`);
      break;
    }
    if (m.phase === 'contract') continue;

    const after = await readSchema(db);
    const changes = [...schemaChanges(before, after), ...dataChanges(before, after, rowsBefore, await readRows(db, after))];
    // The same rows, by the table's shape before the step, inserted just before it; now again.
    for (const table of dependencyOrder(before)) {
      if (!after.tables.has(table.name)) continue;
      for (const kind of ['full', 'sparse'] as const) {
        try {
          await writer.insert(table, kind);
        } catch (err) {
          changes.push(`the running code's insert into ${table.name} (the columns it had, ${kind === 'full' ? 'each at full width' : 'NULL wherever allowed'}) now fails: ${messageOf(err)}`);
        }
      }
    }
    findings.push(...changes.map((c) => `${m.name}: ${c}`));
  }
  return findings;
}

// ---------------------------------------------------------------------------------------------
// Databases

interface EmptyDatabase {
  readonly db: Db;
  drop(): Promise<void>;
}

/** A database with nothing in it (createTestDatabase migrates; this must not). */
async function emptyDatabase(dialect: TestDialect): Promise<EmptyDatabase> {
  if (dialect === 'sqlite') {
    const db = openDatabase({ kind: 'sqlite', file: ':memory:' });
    return { db, drop: () => db.close() };
  }
  const name = `obol_m_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const admin = await createConnection({ uri: MYSQL_TEST_URL });
  try {
    await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  } finally {
    await admin.end();
  }
  const url = new URL(MYSQL_TEST_URL);
  url.pathname = `/${name}`;
  const db = openDatabase({ kind: 'mysql', url: url.toString() });
  return {
    db,
    async drop() {
      await db.close();
      const c = await createConnection({ uri: MYSQL_TEST_URL });
      try {
        await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
      } finally {
        await c.end();
      }
    },
  };
}

async function check(dialect: TestDialect, migrations: readonly MigrationUnderCheck[]): Promise<string[]> {
  const t = await emptyDatabase(dialect);
  try {
    return await checkMigrations(t.db, migrations);
  } finally {
    await t.drop();
  }
}

// ---------------------------------------------------------------------------------------------
// The project's migrations

const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

describe('migration modules', () => {
  it('every file under migrations/ is bundled in migrate.ts, in name order, and nothing else is', () => {
    const files = readdirSync(MIGRATIONS_DIR)
      .filter((f) => /^\d{4}_[a-z0-9_]+\.ts$/.test(f))
      .map((f) => f.replace(/\.ts$/, ''))
      .sort();
    expect(readdirSync(MIGRATIONS_DIR).filter((f) => !/^\d{4}_[a-z0-9_]+\.ts$/.test(f))).toEqual([]);
    expect(bundledMigrations().map((m) => m.name)).toEqual(files);
  });

  it('a contract step says so in code (`export const phase`) and in its doc comment ("Contract step:"), and only a contract step does', () => {
    const mismatches = bundledMigrations().flatMap((m) => {
      const source = readFileSync(join(MIGRATIONS_DIR, `${m.name}.ts`), 'utf8');
      const saysContract = /\/\*\*\s*(?:\*\s*)?Contract step:/.test(source);
      return saysContract === (m.phase === 'contract') ? [] : [`${m.name}: phase ${m.phase}, but its doc comment ${saysContract ? 'begins' : 'does not begin'} with "Contract step:"`];
    });
    expect(mismatches).toEqual([]);
  });

  it('a module without `phase` is an expand step; a phase outside MIGRATION_PHASES is refused', () => {
    const up = async (): Promise<void> => {};
    expect(MIGRATION_PHASES).toEqual(['expand', 'contract']);
    expect(migrationPhase({ up })).toBe('expand');
    expect(migrationPhase({ up, phase: 'contract' })).toBe('contract');
    expect(() => migrationPhase({ up, phase: 'contracts' as MigrationPhase })).toThrow(/expand, contract/);
  });
});

describe('type changes', () => {
  it.each([
    ['varchar(40)', 'varchar(64)', null],
    ['varchar(40)', 'text', null],
    ['char(3)', 'varchar(3)', null],
    ['text', 'mediumtext', null],
    ['int', 'bigint', null],
    ['int unsigned', 'bigint', null],
    ['decimal(10,2)', 'decimal(12,4)', null],
  ])('%s → %s keeps every value', (before, after, expected) => {
    expect(typeLoss(normalizeType(before), normalizeType(after))).toBe(expected);
  });

  it.each([
    ['varchar(100)', 'varchar(50)', /narrower/],
    ['varchar(20000)', 'text', /narrower/],
    ['mediumtext', 'text', /narrower/],
    ['varchar(3)', 'char(3)', /trailing spaces/],
    ['bigint', 'int', /narrower integer/],
    ['bigint(20)', 'integer', /narrower integer/],
    ['int', 'int unsigned', /narrower integer/],
    ['decimal(12,4)', 'decimal(12,2)', /fewer digits/],
    ['bigint', 'varchar(40)', /different kind/],
  ])('%s → %s can lose values', (before, after, expected) => {
    expect(typeLoss(normalizeType(before), normalizeType(after))).toMatch(expected);
  });
});

const HOW_TO_FIX =
  'See docs/migrations.md: split the change into an expand step now and a contract step in a later release, or, if no running version uses the old shape any more, mark the migration `export const phase = \'contract\' as const`.';

describeEachDatabase('migrations are expand steps unless marked as contract steps', (dialect) => {
  it('each bundled migration, run on its own over tables holding rows, removes and tightens nothing the running version uses', async () => {
    const findings = await check(dialect, bundledMigrations());
    expect(findings, `\n${findings.join('\n')}\n${HOW_TO_FIX}\n`).toEqual([]);
  }, 180_000);

  it('a step after them that drops products.resource (superseded by products.grants in 0011) is flagged, and passes marked as a contract step', async () => {
    const drop: Up = async (db) => db.schema.alterTable('products').dropColumn('resource').execute();
    const expand = await check(dialect, [...bundledMigrations(), { name: '9999_drop_products_resource', phase: 'expand', up: drop }]);
    expect(expand).toContain('9999_drop_products_resource: column products.resource was dropped or renamed');
    expect(expand.every((f) => f.startsWith('9999_drop_products_resource: ')), expand.join('\n')).toBe(true);
    expect(await check(dialect, [...bundledMigrations(), { name: '9999_drop_products_resource', phase: 'contract', up: drop }])).toEqual([]);
  }, 180_000);
});

// ---------------------------------------------------------------------------------------------
// The checker, on synthetic migrations

type Up = (db: Kysely<unknown>, dialect: Dialect) => Promise<void>;

const WIDGETS: MigrationUnderCheck = {
  name: '0001_widgets',
  phase: 'expand',
  async up(db) {
    await db.schema
      .createTable('widgets')
      .addColumn('id', 'varchar(40)', (c) => c.primaryKey())
      .addColumn('name', 'varchar(100)', (c) => c.notNull())
      .addColumn('note', 'varchar(200)')
      .addColumn('amount', 'bigint', (c) => c.notNull())
      .addColumn('sku', 'varchar(40)')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('widgets_sku_idx').on('widgets').column('sku').execute();
  },
};

const WIDGET_COLUMNS: Readonly<Record<string, string>> = {
  id: '"id" varchar(40) primary key',
  name: '"name" varchar(100) not null',
  note: '"note" varchar(200)',
  amount: '"amount" bigint not null',
  sku: '"sku" varchar(40)',
  created_at: '"created_at" bigint not null',
};

/**
 * SQLite alters a column only by rebuilding its table (copy, drop, rename), as migration 0013
 * does: `change` replaces column definitions, `extra` appends columns with the values to copy in.
 */
async function rebuildWidgets(db: Kysely<unknown>, change: Readonly<Record<string, string>>, extra: readonly { readonly definition: string; readonly value: string }[] = []): Promise<void> {
  const definitions = [...Object.entries(WIDGET_COLUMNS).map(([name, def]) => change[name] ?? def), ...extra.map((e) => e.definition)];
  await sql.raw(`CREATE TABLE "widgets_new" (${definitions.join(', ')})`).execute(db);
  await sql.raw(`INSERT INTO "widgets_new" SELECT *${extra.map((e) => `, ${e.value}`).join('')} FROM "widgets"`).execute(db);
  await sql`DROP TABLE widgets`.execute(db);
  await sql`ALTER TABLE widgets_new RENAME TO widgets`.execute(db);
  await sql`CREATE INDEX widgets_sku_idx ON widgets (sku)`.execute(db);
}

interface Case {
  readonly slug: string;
  readonly does: string;
  readonly up: Up;
  /** What the finding says (on MariaDB a narrowing may instead fail on the rows it cannot hold). */
  readonly expect?: RegExp;
}

const DESTRUCTIVE: readonly Case[] = [
  {
    slug: 'drop_widgets_note',
    does: 'drops a column',
    up: async (db) => db.schema.alterTable('widgets').dropColumn('note').execute(),
    expect: /column widgets\.note was dropped or renamed/,
  },
  {
    slug: 'add_widgets_category',
    does: 'adds a NOT NULL column without a default to an existing table',
    up: async (db, dialect) => {
      if (dialect === 'sqlite') await rebuildWidgets(db, {}, [{ definition: '"category" varchar(20) not null', value: "'general'" }]);
      else await sql`ALTER TABLE widgets ADD COLUMN category varchar(20) NOT NULL`.execute(db);
    },
    expect: /column widgets\.category was added NOT NULL without a default to an existing table/,
  },
  {
    slug: 'require_widgets_note',
    does: 'makes a nullable column NOT NULL (after filling its NULLs)',
    up: async (db, dialect) => {
      await sql`UPDATE widgets SET note = '' WHERE note IS NULL`.execute(db);
      if (dialect === 'sqlite') await rebuildWidgets(db, { note: '"note" varchar(200) not null' });
      else await sql`ALTER TABLE widgets MODIFY note varchar(200) NOT NULL`.execute(db);
    },
    expect: /column widgets\.note was made NOT NULL/,
  },
  {
    slug: 'rename_widgets_note',
    does: 'renames a column',
    up: async (db) => db.schema.alterTable('widgets').renameColumn('note', 'remark').execute(),
    expect: /column widgets\.note was dropped or renamed/,
  },
  {
    slug: 'rename_widgets',
    does: 'renames a table',
    up: async (db) => db.schema.alterTable('widgets').renameTo('gizmos').execute(),
    expect: /table widgets was dropped or renamed/,
  },
  {
    slug: 'drop_widgets',
    does: 'drops a table',
    up: async (db) => db.schema.dropTable('widgets').execute(),
    expect: /table widgets was dropped or renamed/,
  },
  {
    slug: 'narrow_widgets_name',
    does: 'narrows a column',
    up: async (db, dialect) => {
      if (dialect === 'sqlite') await rebuildWidgets(db, { name: '"name" varchar(50) not null' });
      else await sql`ALTER TABLE widgets MODIFY name varchar(50) NOT NULL`.execute(db);
    },
    expect: /widgets\.name changed type varchar\(100\) → varchar\(50\): narrower|failed.*Data (truncated|too long)/,
  },
  {
    slug: 'retype_widgets_amount',
    does: 'changes a type to one that cannot hold every value (bigint → int)',
    up: async (db, dialect) => {
      if (dialect === 'sqlite') await rebuildWidgets(db, { amount: '"amount" integer not null' });
      else await sql`ALTER TABLE widgets MODIFY amount int NOT NULL`.execute(db);
    },
    expect: /widgets\.amount changed type bigint → int: a narrower integer|failed.*Out of range/,
  },
  {
    slug: 'drop_widgets_sku_idx',
    does: 'drops an index',
    up: async (db, dialect) => (dialect === 'sqlite' ? db.schema.dropIndex('widgets_sku_idx') : db.schema.dropIndex('widgets_sku_idx').on('widgets')).execute(),
    expect: /index widgets_sku_idx on widgets\(sku\) was dropped/,
  },
  {
    slug: 'unique_widgets_name',
    does: 'adds a unique index over an existing column',
    up: async (db) => db.schema.createIndex('widgets_name_uq').on('widgets').column('name').unique().execute(),
    expect: /unique index widgets_name_uq on widgets\(name\) was added to an existing table/,
  },
  {
    slug: 'delete_widgets',
    does: 'deletes rows',
    up: async (db) => {
      await sql`DELETE FROM widgets WHERE note IS NULL`.execute(db);
    },
    expect: /1 of the 2 existing rows of widgets were deleted/,
  },
  {
    slug: 'reset_widgets_amount',
    does: 'rewrites values in an existing column',
    up: async (db) => {
      await sql`UPDATE widgets SET amount = 0`.execute(db);
    },
    expect: /values of widgets\.amount were changed in 2 existing row\(s\)/,
  },
];

const COMPATIBLE: readonly Case[] = [
  { slug: 'add_widgets_colour', does: 'adds a nullable column', up: async (db) => db.schema.alterTable('widgets').addColumn('colour', 'varchar(20)').execute() },
  {
    slug: 'add_widgets_status',
    does: 'adds a NOT NULL column with a default',
    up: async (db) => db.schema.alterTable('widgets').addColumn('status', 'varchar(10)', (c) => c.notNull().defaultTo('new')).execute(),
  },
  {
    slug: 'add_gadgets',
    does: 'adds a table with unique and foreign-key constraints',
    up: async (db) =>
      db.schema
        .createTable('gadgets')
        .addColumn('id', 'varchar(40)', (c) => c.primaryKey())
        .addColumn('widget_id', 'varchar(40)', (c) => c.notNull().references('widgets.id'))
        .addColumn('code', 'varchar(20)', (c) => c.notNull().unique())
        .execute(),
  },
  { slug: 'index_widgets_created', does: 'adds an index to an existing table', up: async (db) => db.schema.createIndex('widgets_created_idx').on('widgets').column('created_at').execute() },
  {
    slug: 'add_widgets_external_ref',
    does: 'adds a nullable column with a unique index over it to an existing table',
    up: async (db) => {
      await db.schema.alterTable('widgets').addColumn('external_ref', 'varchar(64)').execute();
      await db.schema.createIndex('widgets_external_ref_uq').on('widgets').column('external_ref').unique().execute();
    },
  },
  {
    slug: 'widen_widgets',
    does: 'widens columns (varchar(100) → varchar(200), varchar(200) → text, bigint kept)',
    up: async (db, dialect) => {
      if (dialect === 'sqlite') await rebuildWidgets(db, { name: '"name" varchar(200) not null', note: '"note" text' });
      else await sql`ALTER TABLE widgets MODIFY name varchar(200) NOT NULL, MODIFY note text`.execute(db);
    },
  },
  {
    slug: 'relax_widgets_amount',
    does: 'relaxes NOT NULL (on SQLite by rebuilding the table)',
    up: async (db, dialect) => {
      if (dialect === 'sqlite') await rebuildWidgets(db, { amount: '"amount" bigint' });
      else await sql`ALTER TABLE widgets MODIFY amount bigint NULL`.execute(db);
    },
  },
  {
    slug: 'backfill_widgets_colour',
    does: 'adds a column and fills it from an existing one',
    up: async (db) => {
      await db.schema.alterTable('widgets').addColumn('colour', 'varchar(40)').execute();
      await sql`UPDATE widgets SET colour = sku`.execute(db);
    },
  },
];

const synthetic = (c: Case, phase: MigrationPhase): MigrationUnderCheck => ({ name: `0002_${c.slug}`, phase, up: c.up });

describeEachDatabase('the expand/contract checker', (dialect) => {
  for (const c of DESTRUCTIVE) {
    it(`flags a step that ${c.does}, naming the migration and the change; marked as a contract step, it passes`, async () => {
      const findings = await check(dialect, [WIDGETS, synthetic(c, 'expand')]);
      expect(findings.length, 'no finding').toBeGreaterThan(0);
      expect(findings.every((f) => f.startsWith(`0002_${c.slug}: `)), findings.join('\n')).toBe(true);
      expect(findings.some((f) => c.expect!.test(f)), findings.join('\n')).toBe(true);

      const asContract = await check(dialect, [WIDGETS, synthetic(c, 'contract')]);
      // A narrowing the rows do not fit fails on MariaDB as a contract step too: that is the data, not the phase.
      if (asContract.length === 1 && /failed.*(Data (truncated|too long)|Out of range)/.test(asContract[0]!) && dialect === 'mysql') return;
      expect(asContract).toEqual([]);
    });
  }

  it('reports the running code\'s inserts that a step breaks', async () => {
    const findings = await check(dialect, [WIDGETS, synthetic(DESTRUCTIVE.find((c) => c.slug === 'add_widgets_category')!, 'expand')]);
    expect(findings.some((f) => /0002_add_widgets_category: the running code's insert into widgets .* now fails/.test(f)), findings.join('\n')).toBe(true);
  });

  for (const c of COMPATIBLE) {
    it(`passes a step that ${c.does}`, async () => {
      expect(await check(dialect, [WIDGETS, synthetic(c, 'expand')])).toEqual([]);
    });
  }
});

describeEachDatabase('a database migrated by a newer release', (dialect) => {
  it('is left alone by an older build that holds every migration it knows (a rolling deploy or a rollback), and refused when histories diverge', async () => {
    const t = await createTestDatabase(dialect);
    try {
      // A newer release applied one more (expand) step after this build's.
      await sql`INSERT INTO kysely_migration (name, timestamp) VALUES ('9999_from_a_newer_release', '2030-01-01T00:00:00.000Z')`.execute(t.db.kysely);
      expect(await migrateToLatest(t.db)).toEqual([]);
      expect(await pendingMigrations(t.db)).toEqual([]);
      // A history this build cannot continue: one of its own steps is missing beside the newer one.
      await sql`DELETE FROM kysely_migration WHERE name = '0015_subscriptions'`.execute(t.db.kysely);
      expect(await pendingMigrations(t.db)).toEqual(['0015_subscriptions']);
      await expect(migrateToLatest(t.db)).rejects.toThrow(/migrated by a newer release \(9999_from_a_newer_release\) but lacks 0015_subscriptions/);
    } finally {
      await t.drop();
    }
  });
});
