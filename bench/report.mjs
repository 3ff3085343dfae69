// @ts-check
/** The Markdown tables `npm run bench` prints (and docs/benchmarks.md keeps), and the goals. */

const f1 = (n) => (Number.isFinite(n) ? n.toFixed(1) : '–');
const f2 = (n) => (Number.isFinite(n) ? n.toFixed(2) : '–');
const pct = (n) => (Number.isFinite(n) ? `${Math.round(n * 100)} %` : '–');
const mb = (kb) => `${Math.round(kb / 1024)} MB`;
const signed = (n) => (Number.isFinite(n) ? `${n >= 0 ? '+' : '−'}${Math.abs(Math.round(n * 100))} %` : '–');
const dbName = (d) => (d === 'mysql' ? 'MariaDB' : 'SQLite');

/** @param {string[]} header @param {(string | number)[][]} rows */
function table(header, rows) {
  return [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

/**
 * The goals, judged on this run's figures. They are goals, not assertions: the run
 * succeeds either way.
 * @param {Record<string, any>} results
 */
export function goals(results) {
  /** @type {{ goal: string, measured: string, met: boolean | null }[]} */
  const out = [];
  if (results.checkout) {
    const ratios = results.checkout.flatMap((c) => c.rows.map((r) => ({ db: c.dialect, clients: r.concurrency, ratio: r.ratio })));
    const worst = ratios.reduce((a, b) => (b.ratio < a.ratio ? b : a));
    out.push({
      goal: 'checkout ≥ 0.5 × raw (every database and concurrency)',
      measured: ratios.map((r) => `${dbName(r.db)} ${r.clients}: ${f2(r.ratio)}`).join(', ') + ` (lowest ${f2(worst.ratio)})`,
      met: worst.ratio >= 0.5,
    });
    const mysql = results.checkout.find((c) => c.dialect === 'mysql')?.rows.find((r) => r.concurrency === 32);
    out.push({
      goal: 'confirm p99 ≤ 25 ms at 32 clients on MariaDB',
      measured: mysql ? `${f1(mysql.obol.phases.confirm?.p99)} ms` : 'not measured',
      met: mysql ? mysql.obol.phases.confirm?.p99 <= 25 : null,
    });
  }
  if (results.entitlements) {
    const ratios = results.entitlements.flatMap((e) => e.rows.map((r) => ({ db: e.dialect, clients: r.concurrency, ratio: r.ratio })));
    const worst = ratios.reduce((a, b) => (b.ratio < a.ratio ? b : a));
    out.push({
      goal: 'entitlement check ≥ 0.7 × bare gRPC (every database and concurrency)',
      measured: ratios.map((r) => `${dbName(r.db)} ${r.clients}: ${f2(r.ratio)}`).join(', ') + ` (lowest ${f2(worst.ratio)})`,
      met: worst.ratio >= 0.7,
    });
  }
  if (results.growth) {
    const changes = results.growth.map((g) => ({ db: g.dialect, change: g.change, rawChange: g.rawChange, sizes: g.rows.map((r) => r.stored) }));
    out.push({
      goal: 'checkout throughput with 1 M stored within 10 % of 10 k',
      measured: changes.map((c) => `${dbName(c.db)} ${signed(c.change)} (${c.sizes.map((s) => s.toLocaleString('en')).join(' → ')}; raw ${signed(c.rawChange)})`).join(', '),
      met: changes.every((c) => c.sizes.at(-1) >= 1_000_000) ? changes.every((c) => Math.abs(c.change) <= 0.1) : null,
    });
  }
  return out;
}

/** @param {Record<string, any>} results */
export function markdownReport(results) {
  const parts = [];
  const g = results.generator;
  parts.push(
    `Load generator ceiling: ${Math.round(g.requestsPerSecond)} requests/s against a constant HTTP server at 32 clients, using ${pct(g.generatorCpu)} of one core.`,
  );
  if (results.checkout) {
    parts.push(
      '### Checkout (GraphQL create + confirm, sandbox gateway) vs raw driver\n\n' +
        table(
          ['database', 'clients', 'Obol checkouts/s', 'p50 ms', 'p99 ms', 'confirm p99 ms', 'errors', 'raw checkouts/s', 'raw p50 ms', 'raw p99 ms', '**Obol ÷ raw**', 'Obol CPU', 'generator CPU', 'raw client CPU'],
          results.checkout.flatMap((c) =>
            c.rows.map((r) => [
              dbName(c.dialect),
              r.concurrency,
              f1(r.obol.throughput),
              f1(r.obol.p50),
              f1(r.obol.p99),
              f1(r.obol.phases.confirm?.p99),
              r.obol.errors,
              f1(r.raw.throughput),
              f1(r.raw.p50),
              f1(r.raw.p99),
              `**${f2(r.ratio)}**`,
              pct(r.obol.obolCpu),
              pct(r.obol.generatorCpu),
              pct(r.raw.generatorCpu),
            ]),
          ),
        ) +
        '\n\n' +
        results.checkout.map((c) => `${dbName(c.dialect)}: one checkout = ${c.capture.writes} writes and ${c.capture.reads} reads; the baseline replays ${c.capture.replayedUnits}. Obol peak memory (VmHWM) ${mb(c.peakRssKb)}.`).join('\n'),
    );
  }
  if (results.entitlements) {
    parts.push(
      '### Entitlement check over gRPC vs a bare grpc-js server\n\n' +
        table(
          ['database', 'clients', 'Obol checks/s', 'p50 ms', 'p99 ms', 'errors', 'bare checks/s', 'bare p50 ms', 'bare p99 ms', '**Obol ÷ bare**', 'Obol CPU', 'bare server CPU', 'generator CPU (Obol / bare)'],
          results.entitlements.flatMap((e) =>
            e.rows.map((r) => [
              dbName(e.dialect),
              r.concurrency,
              Math.round(r.obol.throughput),
              f2(r.obol.p50),
              f2(r.obol.p99),
              r.obol.errors,
              Math.round(r.bare.throughput),
              f2(r.bare.p50),
              f2(r.bare.p99),
              `**${f2(r.ratio)}**`,
              pct(r.obol.obolCpu),
              pct(r.bare.serverCpu),
              `${pct(r.obol.generatorCpu)} / ${pct(r.bare.generatorCpu)}`,
            ]),
          ),
        ) +
        '\n\n' +
        results.entitlements.map((e) => `${dbName(e.dialect)}: Obol (grpc role) peak memory (VmHWM) ${mb(e.peakRssKb)}.`).join('\n'),
    );
  }
  if (results.growth) {
    parts.push(
      '### Growth: checkout with many payments stored\n\n' +
        table(
          ['database', 'payments stored', 'seeding s', 'clients', 'Obol checkouts/s (median; rounds)', 'p99 ms', 'raw checkouts/s (median; rounds)', 'Obol ÷ raw', 'Obol peak memory'],
          results.growth.flatMap((gr) =>
            gr.rows.map((r) => [
              dbName(gr.dialect),
              r.stored.toLocaleString('en'),
              Math.round(r.seedSeconds),
              gr.concurrency,
              `${f1(r.obol.throughput)} (${(r.obolRounds ?? []).map(f1).join(', ')})`,
              f1(r.obol.p99),
              `${f1(r.raw.throughput)} (${(r.rawRounds ?? []).map(f1).join(', ')})`,
              f2(r.obol.throughput / r.raw.throughput),
              mb(r.peakRssKb),
            ]),
          ),
        ) +
        '\n\n' +
        results.growth.map((gr) => `${dbName(gr.dialect)}: Obol ${signed(gr.change)}, raw ${signed(gr.rawChange)} from the first size to the last.`).join('\n'),
    );
  }
  if (results.goals?.length) {
    parts.push(
      '### Goals\n\n' +
        table(
          ['goal', 'measured', 'status'],
          results.goals.map((x) => [x.goal, x.measured, x.met === null ? 'not measured in this run' : x.met ? 'met' : '**not met**']),
        ),
    );
  }
  return parts.join('\n\n');
}
