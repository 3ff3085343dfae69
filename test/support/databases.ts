/**
 * Every integration suite runs against every supported database. SQLite is embedded and always
 * there; MySQL means the MariaDB at MYSQL_TEST_URL (default root@127.0.0.1:3306). Each suite gets
 * a fresh database of its own, so suites can run in parallel and leave nothing behind.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection } from 'mysql2/promise';
import { describe } from 'vitest';
import { migrateToLatest, openDatabase, type Db } from '../../src/platform/db/index.js';

export const MYSQL_TEST_URL = process.env.MYSQL_TEST_URL ?? 'mysql://root@127.0.0.1:3306/test';

export interface TestDatabase {
  readonly db: Db;
  readonly url: string;
  drop(): Promise<void>;
}

export type TestDialect = 'sqlite' | 'mysql';

let mysqlReachable: Promise<boolean> | undefined;

export function isMysqlReachable(): Promise<boolean> {
  mysqlReachable ??= (async () => {
    try {
      const conn = await createConnection({ uri: MYSQL_TEST_URL, connectTimeout: 2000 });
      await conn.query('SELECT 1');
      await conn.end();
      return true;
    } catch {
      return false;
    }
  })();
  return mysqlReachable;
}

export async function createTestDatabase(dialect: TestDialect): Promise<TestDatabase> {
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'obol-test-'));
    const url = `sqlite:${join(dir, 'obol.db')}`;
    const db = openDatabase({ kind: 'sqlite', file: join(dir, 'obol.db') });
    await migrateToLatest(db);
    return {
      db,
      url,
      async drop() {
        await db.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const admin = new URL(MYSQL_TEST_URL);
  const name = `obol_t_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const conn = await createConnection({ uri: MYSQL_TEST_URL });
  await conn.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  await conn.end();
  const url = new URL(admin.toString());
  url.pathname = `/${name}`;
  const db = openDatabase({ kind: 'mysql', url: url.toString() });
  await migrateToLatest(db);
  return {
    db,
    url: url.toString(),
    async drop() {
      await db.close();
      const c = await createConnection({ uri: MYSQL_TEST_URL });
      await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await c.end();
    },
  };
}

/**
 * Declares `suite` once per database. Without MariaDB, CI fails (global setup refuses to start)
 * and a developer's run prints a loud notice and marks the MySQL suites skipped.
 */
export function describeEachDatabase(title: string, suite: (dialect: TestDialect) => void): void {
  describe(`${title} [sqlite]`, () => suite('sqlite'));
  const mysqlAvailable = process.env.OBOL_TEST_MYSQL === '1';
  if (mysqlAvailable) {
    describe(`${title} [mysql]`, () => suite('mysql'));
  } else {
    describe.skip(`${title} [mysql] — SKIPPED: MariaDB not reachable at ${MYSQL_TEST_URL}`, () => suite('mysql'));
  }
}
