// @ts-check
/**
 * The system under test, as production runs it: `node bin/obol.js serve` in a child process of
 * its own, on a database made for the run (a temporary SQLite file, or an `obol_bench_*` database
 * on the MariaDB at BENCH_MYSQL_URL), dropped afterwards.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createConnection } from 'mysql2/promise';

export const ROOT = new URL('../..', import.meta.url).pathname;
export const MYSQL_ADMIN_URL = process.env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';

/** Imports a compiled module of Obol (dist/, from `npm run build`). */
export function dist(path) {
  return import(join(ROOT, 'dist', path));
}

/**
 * @typedef {'sqlite' | 'mysql'} Dialect
 * @typedef {{ readonly dialect: Dialect, readonly url: string, readonly name: string, readonly dir: string, drop(): Promise<void> }} BenchDatabase
 */

/**
 * A fresh, empty database; Obol migrates and seeds it on start. `dir` also holds the development
 * signing and encryption keys, so tokens minted here verify in the child.
 * @param {Dialect} dialect
 * @param {string} label
 * @returns {Promise<BenchDatabase>}
 */
export async function createBenchDatabase(dialect, label) {
  const dir = mkdtempSync(join(tmpdir(), `obol-bench-${label}-`));
  if (dialect === 'sqlite') {
    const file = join(dir, 'obol.db');
    return { dialect, url: `sqlite:${file}`, name: file, dir, drop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const name = `obol_bench_${label}_${Date.now().toString(36)}_${randomBytes(2).toString('hex')}`;
  const conn = await createConnection({ uri: MYSQL_ADMIN_URL });
  await conn.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  await conn.end();
  const url = new URL(MYSQL_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    dialect,
    url: url.toString(),
    name,
    dir,
    async drop() {
      const c = await createConnection({ uri: MYSQL_ADMIN_URL });
      await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await c.end();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** True when the MariaDB the MySQL runs need answers. */
export async function mysqlReachable() {
  try {
    const conn = await createConnection({ uri: MYSQL_ADMIN_URL, connectTimeout: 2000 });
    await conn.query('SELECT 1');
    await conn.end();
    return true;
  } catch {
    return false;
  }
}

/**
 * The environment Obol runs with in every benchmark. One load generator is one client address,
 * so the per-IP and per-customer checkout limits are raised to their maxima (as the test harness does);
 * everything else is the default a deployment gets.
 * @param {BenchDatabase} database
 */
export function obolEnv(database) {
  return {
    NODE_ENV: 'test',
    DATABASE_URL: database.url,
    SEED_DEMO_CATALOG: 'true',
    AUTH_MODE: 'development',
    AUTH_DEV_KEY_FILE: join(database.dir, 'signing-key.json'),
    DEV_ENCRYPTION_KEY_FILE: join(database.dir, 'encryption-keys.json'),
    RATE_LIMIT_CHECKOUT_PER_CUSTOMER: '100000',
    RATE_LIMIT_CHECKOUT_PER_IP: '1000000',
    CARD_TESTING_MAX_FAILURES: '1000',
    // The default level: a deployment logs at info, and the ready lines are read from it.
    LOG_LEVEL: 'info',
    GRAPHIQL: 'false',
  };
}

/**
 * @typedef {{ readonly pid: number, readonly port: number | undefined, readonly grpcPort: number | undefined,
 *   cpuSeconds(): number, peakRssKb(): number, stop(): Promise<void> }} ObolProcess
 */

/**
 * Starts `obol serve --roles <roles>` on free ports and resolves once it logs "obol is ready".
 * The ports come from its own "listening" log lines, so port 0 (the OS picks) avoids collisions
 * with test runs on the same machine.
 * @param {{ database: BenchDatabase, roles: string, env?: Record<string, string> }} args
 * @returns {Promise<ObolProcess>}
 */
export function startObol({ database, roles, env = {} }) {
  // e.g. BENCH_OBOL_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile Obol under load.
  const nodeArgs = (process.env.BENCH_OBOL_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  const child = spawn(process.execPath, [...nodeArgs, join(ROOT, 'bin/obol.js'), 'serve', '--roles', roles], {
    cwd: ROOT,
    env: { ...process.env, ...obolEnv(database), PORT: '0', GRPC_PORT: '0', OPS_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  /** @type {string[]} */
  const tail = [];
  let port;
  let grpcPort;
  let ready = false;
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error('obol did not become ready within 120 s')), 120_000);
    const fail = (err) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${err.message}\n--- last lines of obol's output ---\n${tail.join('\n')}`));
    };
    const early = (code, signal) => fail(new Error(`obol exited before it was ready (code ${code}, signal ${signal})`));
    child.once('exit', early);
    const onLine = (line) => {
      tail.push(line);
      if (tail.length > 40) tail.shift();
      if (ready) return;
      let entry;
      try {
        entry = JSON.parse(line);
      } catch {
        return;
      }
      if (entry.msg === 'obol is listening') port = entry.port;
      if (entry.msg === 'obol grpc is listening') grpcPort = entry.port;
      if (entry.msg === 'obol is ready') {
        ready = true;
        clearTimeout(timer);
        child.off('exit', early);
        resolve({
          pid: /** @type {number} */ (child.pid),
          port,
          grpcPort,
          cpuSeconds: () => processCpuSeconds(/** @type {number} */ (child.pid)),
          peakRssKb: () => peakRssKb(/** @type {number} */ (child.pid)),
          async stop() {
            child.kill('SIGTERM');
            const force = setTimeout(() => child.kill('SIGKILL'), 15_000);
            await exited;
            clearTimeout(force);
          },
        });
      }
    };
    createInterface({ input: /** @type {import('node:stream').Readable} */ (child.stdout) }).on('line', onLine);
    createInterface({ input: /** @type {import('node:stream').Readable} */ (child.stderr) }).on('line', (line) => {
      tail.push(line);
      if (tail.length > 40) tail.shift();
    });
  });
}

/** VmHWM: the most resident memory the process ever had, in kB (Linux). */
export function peakRssKb(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmHWM:\s+(\d+) kB/m.exec(status);
  return match ? Number(match[1]) : NaN;
}

const CLOCK_TICKS = 100; // USER_HZ on every Linux we run on

/** User + system CPU seconds the process has used so far (Linux /proc/<pid>/stat). */
export function processCpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name may hold spaces; fields after its closing parenthesis are fixed.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/**
 * Development tokens for the benchmark's callers, signed with the run's key as `obol token` would.
 * @param {BenchDatabase} database
 * @param {readonly { sub: string, roles: readonly string[] }[]} subjects
 * @returns {Promise<string[]>}
 */
export async function mintTokens(database, subjects) {
  const { loadConfig } = await dist('platform/config.js');
  const { signDevelopmentToken } = await dist('platform/auth/index.js');
  const config = loadConfig({ ...obolEnv(database) });
  const out = [];
  for (const s of subjects) out.push(await signDevelopmentToken({ config, subject: s.sub, roles: s.roles, ttlSeconds: 6 * 3600 }));
  return out;
}

/**
 * Starts one of the benchmark's constant servers (`bench/*-server.mjs`), which print their port
 * as a JSON line once listening.
 * @param {string} script relative to the repository root
 * @returns {Promise<{ port: number, cpuSeconds(): number, stop(): Promise<void> }>}
 */
export function startChild(script) {
  const child = spawn(process.execPath, [join(ROOT, script)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return new Promise((resolve, reject) => {
    const early = (code) => reject(new Error(`${script} exited (code ${code})`));
    child.once('exit', early);
    createInterface({ input: /** @type {import('node:stream').Readable} */ (child.stdout) }).once('line', (line) => {
      child.off('exit', early);
      const pid = /** @type {number} */ (child.pid);
      resolve({
        port: JSON.parse(line).port,
        cpuSeconds: () => processCpuSeconds(pid),
        async stop() {
          child.kill('SIGTERM');
          await exited;
        },
      });
    });
  });
}
