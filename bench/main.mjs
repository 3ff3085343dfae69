// @ts-check
/**
 * `npm run bench`: checkout (Obol ÷ raw driver), entitlement checks over gRPC (Obol ÷ bare
 * grpc-js), growth (1 M stored vs 10 k), peak memory, and the load generator's own limits. Prints
 * the tables (Markdown, as docs/benchmarks.md keeps them) and writes everything measured to
 * bench/results/<time>.json and bench/results/latest.json.
 *
 *   npm run bench                          everything, on SQLite and MariaDB
 *   npm run bench -- --quick               short runs, fewer concurrencies, 1 k → 10 k growth
 *   npm run bench -- --only checkout --db mysql
 *   BENCH_DURATION_S=20 npm run bench      longer measurement per point (default 10 s, quick 2 s)
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createConnection } from 'mysql2/promise';
import { benchCheckout } from './checkout.mjs';
import { benchEntitlements } from './entitlements.mjs';
import { benchGrowth } from './growth.mjs';
import { httpClient, runLoad } from './lib/load.mjs';
import { MYSQL_ADMIN_URL, mysqlReachable, ROOT, startChild } from './lib/obol.mjs';
import { goals, markdownReport } from './report.mjs';

const PARTS = ['checkout', 'entitlements', 'growth'];
const USAGE = `usage: npm run bench -- [--quick] [--only checkout|entitlements|growth[,…]] [--db sqlite|mysql|both]
                         [--duration <s>] [--warmup <s>] [--growth-sizes 10000,1000000] [--growth-rounds 3]
environment: BENCH_DURATION_S, BENCH_WARMUP_S, BENCH_MYSQL_URL (default mysql://root@127.0.0.1:3306/test)`;

function options() {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string', multiple: true },
      db: { type: 'string', default: 'both' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      'growth-sizes': { type: 'string' },
      'growth-rounds': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const only = (values.only ?? PARTS).flatMap((o) => o.split(','));
  const unknown = only.filter((o) => !PARTS.includes(o));
  if (unknown.length > 0 || !['sqlite', 'mysql', 'both'].includes(values.db ?? '')) {
    process.stderr.write(`bench: unknown ${unknown.length > 0 ? `part ${unknown.join(', ')}` : `database ${values.db}`}\n${USAGE}\n`);
    process.exit(2);
  }
  const quick = values.quick ?? false;
  const seconds = (flag, env, fallback) => Number(flag ?? process.env[env] ?? fallback) * 1000;
  return {
    quick,
    parts: new Set(only),
    dialects: /** @type {('sqlite' | 'mysql')[]} */ (values.db === 'both' ? ['sqlite', 'mysql'] : [values.db]),
    durationMs: seconds(values.duration, 'BENCH_DURATION_S', quick ? 2 : 10),
    warmupMs: seconds(values.warmup, 'BENCH_WARMUP_S', quick ? 0.5 : 2),
    checkoutConcurrencies: quick ? [1, 8] : [1, 8, 32, 64],
    entitlementConcurrencies: quick ? [1, 8] : [1, 8, 32, 64],
    growthSizes: (values['growth-sizes'] ?? (quick ? '1000,10000' : '10000,1000000')).split(',').map(Number),
    growthConcurrency: 8,
    growthRounds: Number(values['growth-rounds'] ?? (quick ? 1 : 3)),
  };
}

/** What the figures were taken on. */
async function machine() {
  const lscpu = (() => {
    try {
      return execFileSync('lscpu', { encoding: 'utf8' });
    } catch {
      return '';
    }
  })();
  let mariadb;
  try {
    const conn = await createConnection({ uri: MYSQL_ADMIN_URL, connectTimeout: 2000 });
    mariadb = /** @type {any} */ ((await conn.query('select version() as v'))[0])[0].v;
    await conn.end();
  } catch {
    mariadb = 'unreachable';
  }
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  return {
    nproc: Number(execFileSync('nproc', { encoding: 'utf8' }).trim()),
    cpuModel: /^Model name:\s*(.+)$/m.exec(lscpu)?.[1] ?? cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    mariadb,
    obolVersion: pkg.version,
    commit: (() => {
      try {
        return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
      } catch {
        return 'unknown';
      }
    })(),
    loadAverageAtStart: loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

/**
 * How fast this load generator drives a server that does nothing: the same HTTP client, against
 * a constant node:http server in its own process, at 32 clients.
 * @param {{ warmupMs: number, durationMs: number }} args
 */
async function generatorCeiling({ warmupMs, durationMs }) {
  const server = await startChild('bench/trivial-http-server.mjs');
  const http = httpClient(server.port, 32);
  try {
    const body = JSON.stringify({ query: '{ ok }' });
    const result = await runLoad({
      concurrency: 32,
      warmupMs,
      durationMs,
      op: async () => {
        const res = await http.request('/graphql', body, { authorization: 'Bearer x' });
        if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
      },
    });
    return { requestsPerSecond: result.throughput, generatorCpu: result.generatorCpu, p50: result.p50, p99: result.p99 };
  } finally {
    http.close();
    await server.stop();
  }
}

async function main() {
  const opts = options();
  const log = (line) => process.stdout.write(`${line}\n`);
  const host = await machine();
  log(`obol bench: ${host.nproc} cores (${host.cpuModel}), ${host.memoryGiB} GiB, node ${host.node}, MariaDB ${host.mariadb}; load average ${host.loadAverageAtStart.join(' ')}`);
  const load1 = host.loadAverageAtStart[0] ?? 0;
  if (load1 > host.nproc * 0.5) log(`  note: the machine is busy (load ${load1} on ${host.nproc} cores); figures will be lower and noisier`);
  if (opts.dialects.includes('mysql') && !(await mysqlReachable())) {
    log(`  MariaDB at ${MYSQL_ADMIN_URL} does not answer: the MySQL runs are skipped`);
    opts.dialects = opts.dialects.filter((d) => d !== 'mysql');
  }
  const started = new Date();
  /** @type {Record<string, any>} */
  const results = { started: started.toISOString(), machine: host, options: { ...opts, parts: [...opts.parts] } };
  log('load generator ceiling (constant HTTP server, 32 clients)…');
  results.generator = await generatorCeiling(opts);
  log(`  ${results.generator.requestsPerSecond.toFixed(0)} requests/s using ${(results.generator.generatorCpu * 100).toFixed(0)} % of a core`);
  if (opts.parts.has('checkout')) {
    log('checkout (GraphQL create + confirm, sandbox gateway) vs raw driver…');
    results.checkout = [];
    for (const dialect of opts.dialects) {
      results.checkout.push(await benchCheckout({ dialect, concurrencies: opts.checkoutConcurrencies, warmupMs: opts.warmupMs, durationMs: opts.durationMs, log }));
    }
  }
  if (opts.parts.has('entitlements')) {
    log('entitlement check over gRPC vs a bare grpc-js server…');
    results.entitlements = [];
    for (const dialect of opts.dialects) {
      results.entitlements.push(await benchEntitlements({ dialect, concurrencies: opts.entitlementConcurrencies, warmupMs: opts.warmupMs, durationMs: opts.durationMs, log }));
    }
  }
  if (opts.parts.has('growth')) {
    log(`growth (${opts.growthSizes.map((s) => s.toLocaleString('en')).join(' → ')} payments stored)…`);
    results.growth = [];
    for (const dialect of opts.dialects) {
      results.growth.push(
        await benchGrowth({ dialect, sizes: opts.growthSizes, concurrency: opts.growthConcurrency, rounds: opts.growthRounds, warmupMs: opts.warmupMs, durationMs: opts.durationMs, log }),
      );
    }
  }
  results.machine.loadAverageAtEnd = loadavg().map((l) => Math.round(l * 100) / 100);
  results.finished = new Date().toISOString();
  results.goals = goals(results);
  const dir = join(ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const json = `${JSON.stringify(results, null, 2)}\n`;
  const file = join(dir, `${started.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, json);
  writeFileSync(join(dir, 'latest.json'), json);
  log('');
  log(markdownReport(results));
  log(`results: ${file}`);
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
