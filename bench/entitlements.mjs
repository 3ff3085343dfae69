// @ts-check
/**
 * The entitlement check over gRPC: Obol (`serve --roles grpc`) answering CheckEntitlement from
 * its read model, beside a bare grpc-js server answering a constant, both called by the same
 * client. The customer really holds the entitlement: a checkout through the api role, projected by
 * the worker, comes first.
 */
import { checkout } from './lib/checkout-client.mjs';
import { entitlementClient } from './lib/grpc.mjs';
import { httpClient, runLoad, sleep } from './lib/load.mjs';
import { createBenchDatabase, mintTokens, startChild, startObol } from './lib/obol.mjs';

export const RESOURCE = 'course:machine-learning';
const CUSTOMER = 'cus_bench_entitled';

/**
 * @typedef {import('./lib/load.mjs').LoadResult} LoadResult
 * @typedef {{ concurrency: number, obol: LoadResult & { obolCpu: number }, bare: LoadResult & { serverCpu: number }, ratio: number }} EntitlementRow
 * @typedef {{ dialect: string, rows: EntitlementRow[], peakRssKb: number }} EntitlementReport
 */

/**
 * @param {{ dialect: 'sqlite' | 'mysql', concurrencies: readonly number[], warmupMs: number, durationMs: number, log: (line: string) => void }} args
 * @returns {Promise<EntitlementReport>}
 */
export async function benchEntitlements({ dialect, concurrencies, warmupMs, durationMs, log }) {
  const database = await createBenchDatabase(dialect, 'entitlements');
  try {
    const [learner, service] = await mintTokens(database, [
      { sub: CUSTOMER, roles: ['learner'] },
      { sub: 'svc_bench', roles: ['service'] },
    ]);
    await grantAccess(database, /** @type {string} */ (learner));
    const obol = await startObol({ database, roles: 'grpc' });
    const bare = await startChild('bench/bare-grpc-server.mjs');
    const toObol = entitlementClient(/** @type {number} */ (obol.grpcPort), /** @type {string} */ (service));
    const toBare = entitlementClient(bare.port, /** @type {string} */ (service));
    const first = await toObol.check(CUSTOMER, RESOURCE);
    if (!first.decision.allowed) throw new Error('the benchmark customer should hold the entitlement it paid for');
    /** @type {EntitlementRow[]} */
    const rows = [];
    try {
      for (const concurrency of concurrencies) {
        const cpu0 = obol.cpuSeconds();
        const o = await runLoad({ concurrency, warmupMs, durationMs, op: () => toObol.check(CUSTOMER, RESOURCE) });
        const obolCpu = (obol.cpuSeconds() - cpu0) / ((warmupMs + durationMs) / 1000);
        const bare0 = bare.cpuSeconds();
        const b = await runLoad({ concurrency, warmupMs, durationMs, op: () => toBare.check(CUSTOMER, RESOURCE) });
        const serverCpu = (bare.cpuSeconds() - bare0) / ((warmupMs + durationMs) / 1000);
        const row = { concurrency, obol: { ...o, obolCpu }, bare: { ...b, serverCpu }, ratio: o.throughput / b.throughput };
        rows.push(row);
        log(
          `  ${dialect} c=${concurrency}: obol ${o.throughput.toFixed(0)}/s p50 ${o.p50.toFixed(2)} p99 ${o.p99.toFixed(2)} ms, errors ${o.errors}; ` +
            `bare ${b.throughput.toFixed(0)}/s p50 ${b.p50.toFixed(2)} p99 ${b.p99.toFixed(2)} ms; obol ÷ bare ${row.ratio.toFixed(2)}${o.firstError ? `; first error: ${o.firstError}` : ''}`,
        );
      }
    } finally {
      toObol.close();
      toBare.close();
      await bare.stop();
    }
    const peak = obol.peakRssKb();
    await obol.stop();
    return { dialect, rows, peakRssKb: peak };
  } finally {
    await database.drop();
  }
}

/** A paid checkout through the api role, then the worker's projection of its entitlement. */
async function grantAccess(database, learnerToken) {
  const obol = await startObol({ database, roles: 'api,worker', env: { WORKER_POLL_INTERVAL_MS: '50' } });
  const http = httpClient(/** @type {number} */ (obol.port), 1);
  try {
    await checkout(http, learnerToken);
    const query = JSON.stringify({ query: `{ checkAccess(resource: "${RESOURCE}") { allowed } }` });
    for (let i = 0; i < 200; i++) {
      const res = await http.request('/graphql', query, { authorization: `Bearer ${learnerToken}` });
      if (JSON.parse(res.body).data?.checkAccess?.allowed === true) return;
      await sleep(100);
    }
    throw new Error('the worker did not project the entitlement within 20 s');
  } finally {
    http.close();
    await obol.stop();
  }
}

