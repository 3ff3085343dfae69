import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findCardNumber } from '../../src/platform/security/card-guard.js';
import { isMysqlReachable, MYSQL_TEST_URL } from './databases.js';

/** Personal data the suites send; it must never appear in a log. */
export const TEST_PERSONAL_DATA = ['ada.lovelace@example.com', 'Ada Lovelace', '12 Analytical Engine Row'] as const;

/**
 * Decides once per run whether the MySQL suites run (in CI a missing MariaDB is a failure, not a
 * skip), and collects every log line the run writes: at the end they are scanned for card
 * numbers, secrets and personal data, and any finding fails the run.
 */
export default async function setup(): Promise<() => void> {
  const logDir = mkdtempSync(join(tmpdir(), 'obol-test-logs-'));
  process.env.OBOL_TEST_LOG_DIR = logDir;

  const reachable = await isMysqlReachable();
  if (reachable) {
    process.env.OBOL_TEST_MYSQL = '1';
  } else if (process.env.CI === 'true' || process.env.CI === '1') {
    throw new Error(`CI requires MariaDB/MySQL at ${MYSQL_TEST_URL}, and it is not reachable. Start it or set MYSQL_TEST_URL.`);
  } else {
    process.env.OBOL_TEST_MYSQL = '0';
    const bar = '!'.repeat(78);
    console.warn(`\n${bar}\n!! MySQL integration suites SKIPPED: MariaDB not reachable at ${MYSQL_TEST_URL}\n!! Only SQLite was tested. CI will fail without it.\n${bar}\n`);
  }

  return () => {
    const findings = scanLogs(logDir);
    rmSync(logDir, { recursive: true, force: true });
    if (findings.length > 0) {
      // A teardown error alone does not fail a vitest run, so the exit code is set as well.
      process.exitCode = 1;
      console.error(`\nSensitive data found in ${findings.length} log line(s) written by the tests:\n${findings.slice(0, 20).join('\n')}\n`);
      throw new Error('sensitive data in test logs');
    }
  };
}

/** Each finding names the file, line and kind of leak, never the leaked value itself. */
export function scanLogs(dir: string): string[] {
  const findings: string[] = [];
  for (const file of readdirSync(dir)) {
    const content = readFileSync(join(dir, file), 'utf8');
    content.split('\n').forEach((line, i) => {
      if (line.length === 0) return;
      const where = `${file}:${i + 1}`;
      if (findCardNumber(line)) findings.push(`${where}: a card number`);
      if (/eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}/.test(line)) findings.push(`${where}: a bearer token`);
      if (/"d"\s*:\s*"[A-Za-z0-9_-]{20,}"/.test(line)) findings.push(`${where}: private key material`);
      if (/\bv1\.[A-Za-z0-9_-]{1,32}\.[A-Za-z0-9_-]{16}\./.test(line)) findings.push(`${where}: an encrypted envelope`);
      for (const pii of TEST_PERSONAL_DATA) if (line.includes(pii)) findings.push(`${where}: personal data`);
    });
  }
  return findings;
}
