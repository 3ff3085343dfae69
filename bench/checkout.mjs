// @ts-check
/**
 * Checkout through GraphQL against Obol in a child process, and the raw baseline of the same
 * durable writes on the same database, at each concurrency in turn (Obol, then raw), so that
 * background load on a shared machine touches both sides of each ratio alike.
 */
import { captureCheckout } from './lib/capture.mjs';
import { checkout } from './lib/checkout-client.mjs';
import { httpClient, runLoad } from './lib/load.mjs';
import { createBenchDatabase, mintTokens, startObol } from './lib/obol.mjs';
import { rawExecutor, replayPlan } from './lib/raw.mjs';

/**
 * @typedef {import('./lib/load.mjs').LoadResult} LoadResult
 * @typedef {{ concurrency: number, obol: LoadResult & { obolCpu: number }, raw: LoadResult, ratio: number }} CheckoutRow
 * @typedef {{ dialect: string, capture: { units: number, transactions: number, writes: number, reads: number, replayedUnits: string },
 *   rows: CheckoutRow[], peakRssKb: number }} CheckoutReport
 */

export const CUSTOMERS = Array.from({ length: 64 }, (_, i) => `cus_bench_${String(i).padStart(2, '0')}`);

/**
 * @param {{ dialect: 'sqlite' | 'mysql', concurrencies: readonly number[], warmupMs: number, durationMs: number, log: (line: string) => void }} args
 * @returns {Promise<CheckoutReport>}
 */
export async function benchCheckout({ dialect, concurrencies, warmupMs, durationMs, log }) {
  const database = await createBenchDatabase(dialect, 'checkout');
  try {
    // The capture also migrates and seeds the database the child then opens.
    const script = await captureCheckout(database, { customer: 'cus_capture' });
    const plan = replayPlan(script, CUSTOMERS);
    const replayedUnits = plan.units.map((u) => `${u.transactional ? 'tx' : 'auto'}(${u.statements.length})`).join(' ');
    log(`  ${dialect}: one checkout = ${script.writes} writes and ${script.reads} reads in ${script.units.length} units; baseline replays ${replayedUnits}`);
    const obol = await startObol({ database, roles: 'api' });
    const raw = rawExecutor(database, plan);
    const max = Math.max(...concurrencies);
    const tokens = await mintTokens(
      database,
      CUSTOMERS.slice(0, max).map((sub) => ({ sub, roles: ['learner'] })),
    );
    const http = httpClient(/** @type {number} */ (obol.port), max);
    /** @type {CheckoutRow[]} */
    const rows = [];
    try {
      for (const concurrency of concurrencies) {
        const cpu0 = obol.cpuSeconds();
        const o = await runLoad({ concurrency, warmupMs, durationMs, op: (client, _seq, phase) => checkout(http, /** @type {string} */ (tokens[client]), phase) });
        // Obol's CPU over warm-up and measurement together: the share of a core it kept busy.
        const obolCpu = (obol.cpuSeconds() - cpu0) / ((warmupMs + durationMs) / 1000);
        const r = await runLoad({ concurrency, warmupMs, durationMs, op: (client) => raw.checkout(client) });
        const row = { concurrency, obol: { ...o, obolCpu }, raw: r, ratio: o.throughput / r.throughput };
        rows.push(row);
        log(
          `  ${dialect} c=${concurrency}: obol ${o.throughput.toFixed(1)}/s p50 ${o.p50.toFixed(1)} p99 ${o.p99.toFixed(1)} ms (confirm p99 ${o.phases.confirm?.p99.toFixed(1)}), ` +
            `errors ${o.errors}; raw ${r.throughput.toFixed(1)}/s; obol ÷ raw ${row.ratio.toFixed(2)}${o.firstError ? `; first error: ${o.firstError}` : ''}`,
        );
      }
    } finally {
      http.close();
      await raw.close();
    }
    const peakRssKb = obol.peakRssKb();
    await obol.stop();
    return {
      dialect,
      capture: { units: script.units.length, transactions: script.units.filter((u) => u.transactional).length, writes: script.writes, reads: script.reads, replayedUnits },
      rows,
      peakRssKb,
    };
  } finally {
    await database.drop();
  }
}
