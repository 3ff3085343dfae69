import { isMysqlReachable, MYSQL_TEST_URL } from './databases.js';

/**
 * Decides once per run whether the MySQL suites run. In CI (CI=true) a missing MariaDB is a
 * failure, not a skip: the whole run stops here with the reason.
 */
export default async function setup(): Promise<void> {
  const reachable = await isMysqlReachable();
  if (reachable) {
    process.env.OBOL_TEST_MYSQL = '1';
    return;
  }
  if (process.env.CI === 'true' || process.env.CI === '1') {
    throw new Error(`CI requires MariaDB/MySQL at ${MYSQL_TEST_URL}, and it is not reachable. Start it or set MYSQL_TEST_URL.`);
  }
  process.env.OBOL_TEST_MYSQL = '0';
  const bar = '!'.repeat(78);
  console.warn(`\n${bar}\n!! MySQL integration suites SKIPPED: MariaDB not reachable at ${MYSQL_TEST_URL}\n!! Only SQLite was tested. CI will fail without it.\n${bar}\n`);
}
