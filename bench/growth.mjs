// @ts-check
/**
 * Growth: checkout throughput with 10 thousand and then 1 million payments already stored, on the
 * same database (seeded by the fast path in lib/seed.mjs while Obol is stopped, then Obol started
 * afresh so nothing is warm from the seeding), with the raw baseline beside it to tell Obol's
 * share of any change from the database's.
 */
import { captureCheckout } from './lib/capture.mjs';
import { checkout } from './lib/checkout-client.mjs';
import { httpClient, runLoad } from './lib/load.mjs';
import { createBenchDatabase, mintTokens, startObol } from './lib/obol.mjs';
import { rawExecutor, replayPlan } from './lib/raw.mjs';
import { seederFrom, seedPayments } from './lib/seed.mjs';
import { CUSTOMERS } from './checkout.mjs';

/**
 * @typedef {import('./lib/load.mjs').LoadResult} LoadResult
 * @typedef {{ stored: number, seedSeconds: number, obol: LoadResult, raw: LoadResult, obolRounds: number[], rawRounds: number[], peakRssKb: number }} GrowthRow
 * @typedef {{ dialect: string, concurrency: number, rows: GrowthRow[], change: number, rawChange: number }} GrowthReport
 */

/**
 * @param {{ dialect: 'sqlite' | 'mysql', sizes: readonly number[], concurrency: number, rounds: number, warmupMs: number, durationMs: number, log: (line: string) => void }} args
 * @returns {Promise<GrowthReport>}
 */
export async function benchGrowth({ dialect, sizes, concurrency, rounds, warmupMs, durationMs, log }) {
  const database = await createBenchDatabase(dialect, 'growth');
  try {
    const script = await captureCheckout(database, { customer: 'cus_capture' });
    const seeder = await seederFrom(database, script);
    const plan = replayPlan(script, CUSTOMERS);
    const tokens = await mintTokens(
      database,
      CUSTOMERS.slice(0, concurrency).map((sub) => ({ sub, roles: ['learner'] })),
    );
    /** @type {GrowthRow[]} */
    const rows = [];
    let stored = 0;
    for (const size of sizes) {
      const t0 = performance.now();
      let shown = 0;
      await seedPayments(database, seeder, {
        from: stored,
        count: size - stored,
        onProgress: (done) => {
          if (done - shown >= 100_000) log(`  ${dialect}: seeded ${(stored + (shown = done)).toLocaleString('en')} payments…`);
        },
      });
      const seedSeconds = (performance.now() - t0) / 1000;
      stored = size;
      log(`  ${dialect}: ${size.toLocaleString('en')} payments stored (seeding took ${seedSeconds.toFixed(0)} s)`);
      const obol = await startObol({ database, roles: 'api' });
      const http = httpClient(/** @type {number} */ (obol.port), concurrency);
      const raw = rawExecutor(database, plan);
      try {
        // Two sizes cannot be interleaved (the store only grows), so each is measured in rounds of
        // Obol then raw, and the median round speaks: one burst of someone else's work on a shared
        // machine then moves one round, not the figure.
        /** @type {LoadResult[]} */
        const obolRounds = [];
        /** @type {LoadResult[]} */
        const rawRounds = [];
        for (let round = 0; round < rounds; round++) {
          obolRounds.push(await runLoad({ concurrency, warmupMs, durationMs, op: (client, _seq, phase) => checkout(http, /** @type {string} */ (tokens[client]), phase) }));
          rawRounds.push(await runLoad({ concurrency, warmupMs, durationMs, op: (client) => raw.checkout(client) }));
        }
        const o = median(obolRounds);
        const r = median(rawRounds);
        rows.push({ stored: size, seedSeconds, obol: o, raw: r, obolRounds: obolRounds.map((x) => x.throughput), rawRounds: rawRounds.map((x) => x.throughput), peakRssKb: obol.peakRssKb() });
        log(
          `  ${dialect} ${size.toLocaleString('en')} stored, c=${concurrency}: obol ${o.throughput.toFixed(1)}/s p99 ${o.p99.toFixed(1)} ms, errors ${o.errors}; raw ${r.throughput.toFixed(1)}/s ` +
            `(median of ${rounds} rounds: obol ${obolRounds.map((x) => x.throughput.toFixed(1)).join(', ')}; raw ${rawRounds.map((x) => x.throughput.toFixed(1)).join(', ')})`,
        );
      } finally {
        http.close();
        await raw.close();
        await obol.stop();
      }
    }
    const first = /** @type {GrowthRow} */ (rows[0]);
    const last = /** @type {GrowthRow} */ (rows[rows.length - 1]);
    return {
      dialect,
      concurrency,
      rows,
      change: last.obol.throughput / first.obol.throughput - 1,
      rawChange: last.raw.throughput / first.raw.throughput - 1,
    };
  } finally {
    await database.drop();
  }
}

/**
 * The round with the median throughput (the upper one of an even count).
 * @param {readonly LoadResult[]} results
 */
function median(results) {
  const sorted = [...results].sort((a, b) => a.throughput - b.throughput);
  return /** @type {LoadResult} */ (sorted[Math.floor(sorted.length / 2)]);
}
