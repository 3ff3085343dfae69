/**
 * Several processes on one SQLite file (`obol serve --roles api` beside `--roles worker`): a
 * transaction that has read must still be able to write after another process wrote meanwhile.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from './database.js';

const require = createRequire(import.meta.url);
const dir = mkdtempSync(join(tmpdir(), 'obol-sqlite-lock-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Another process writes one row, waiting for the write lock as Obol's own connections do. */
function writeFromAnotherProcess(file: string, value: number): Promise<void> {
  const script = `
    const Database = require(${JSON.stringify(require.resolve('better-sqlite3'))});
    const db = new Database(${JSON.stringify(file)});
    db.pragma('busy_timeout = 5000');
    db.prepare('insert into t (v) values (?)').run(${value});
    db.close();`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(stderr))));
  });
}

describe('SQLite transactions across processes', () => {
  it('writes after reading even when another process wrote in between (no SQLITE_BUSY_SNAPSHOT)', async () => {
    const file = join(dir, 'obol.db');
    const db = openDatabase({ kind: 'sqlite', file });
    try {
      await sql`create table t (v integer not null)`.execute(db.kysely);
      let other: Promise<void> | undefined;
      await db.transaction(async (tx) => {
        await sql`select count(*) from t`.execute(tx);
        // The other process tries to write while this transaction is open, and is given the
        // time to do it before this one writes.
        other = writeFromAnotherProcess(file, 2);
        await new Promise((r) => setTimeout(r, 400));
        await sql`insert into t (v) values (1)`.execute(tx);
      });
      await other;
      const rows = await sql<{ v: number }>`select v from t order by v`.execute(db.kysely);
      expect(rows.rows.map((r) => r.v)).toEqual([1, 2]);
    } finally {
      await db.close();
    }
  });
});
