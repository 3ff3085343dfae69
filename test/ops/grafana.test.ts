/**
 * deploy/grafana/obol-dashboard.json as Grafana imports it: valid JSON, panels laid out on the
 * 24-column grid without overlaps, every query panel with PromQL targets on the dashboard's data
 * source variable, and the views the issue asks for. That every query evaluates, on data scraped
 * from a running Obol, is checked by prometheus-scrape.test.ts.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEPLOY, metricNamesIn } from './support.js';

interface Target {
  readonly refId: string;
  readonly expr: string;
  readonly datasource: { readonly type: string; readonly uid: string };
}
interface Panel {
  readonly id: number;
  readonly type: string;
  readonly title: string;
  readonly gridPos: { readonly x: number; readonly y: number; readonly w: number; readonly h: number };
  readonly datasource?: { readonly type: string; readonly uid: string };
  readonly targets?: readonly Target[];
}
interface Dashboard {
  readonly uid: string;
  readonly title: string;
  readonly schemaVersion: number;
  readonly panels: readonly Panel[];
  readonly templating: { readonly list: readonly { readonly name: string; readonly type: string }[] };
}

const text = readFileSync(join(DEPLOY, 'grafana', 'obol-dashboard.json'), 'utf8');

describe('deploy/grafana/obol-dashboard.json', () => {
  const dashboard = JSON.parse(text) as Dashboard;
  const queryPanels = dashboard.panels.filter((p) => p.type !== 'row');

  it('is a dashboard with a stable uid, a data source variable and role/instance filters', () => {
    expect(dashboard.uid).toBe('obol-overview');
    expect(dashboard.title).toBe('Obol');
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dashboard.templating.list.map((v) => `${v.name}:${v.type}`)).toEqual(['datasource:datasource', 'job:query', 'instance:query']);
  });

  it('lays panels out on the grid, with unique ids and no overlaps', () => {
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const cells = new Set<string>();
    for (const p of dashboard.panels) {
      const { x, y, w, h } = p.gridPos;
      expect(x + w, p.title).toBeLessThanOrEqual(24);
      expect(w * h, p.title).toBeGreaterThan(0);
      for (let i = x; i < x + w; i++) {
        for (let j = y; j < y + h; j++) {
          const cell = `${i},${j}`;
          expect(cells.has(cell), `"${p.title}" overlaps another panel at ${cell}`).toBe(false);
          cells.add(cell);
        }
      }
    }
  });

  it('gives every query panel PromQL targets on the data source variable', () => {
    expect(queryPanels.length).toBeGreaterThan(30);
    for (const p of queryPanels) {
      expect(['timeseries', 'stat'], p.title).toContain(p.type);
      expect(p.datasource?.uid, p.title).toBe('${datasource}');
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      const refIds = p.targets!.map((t) => t.refId);
      expect(new Set(refIds).size, p.title).toBe(refIds.length);
      for (const t of p.targets!) {
        expect(t.datasource.uid).toBe('${datasource}');
        expect(metricNamesIn(t.expr).length + (t.expr.includes('up{') ? 1 : 0), `${p.title}: ${t.expr}`).toBeGreaterThan(0);
        // Balanced brackets: the cheapest PromQL sanity check (the scrape test runs them for real).
        for (const [open, close] of [['(', ')'], ['{', '}'], ['[', ']']] as const) {
          expect(t.expr.split(open).length, `${p.title}: ${open}${close} in ${t.expr}`).toBe(t.expr.split(close).length);
        }
      }
    }
  });

  it('shows what the issue asks for: funnel, errors, authorization rate, gateway latency, outbox, lag, jobs, renewals, DB pool, process', () => {
    const exprs = queryPanels.flatMap((p) => p.targets!.map((t) => t.expr)).join('\n');
    for (const metric of [
      'obol_checkout_sessions_created_total',
      'obol_checkout_confirmations_total',
      'obol_checkout_outcomes_total',
      'obol_graphql_errors_total',
      'obol_gateway_authorization_rate',
      'obol_gateway_call_duration_seconds_bucket',
      'obol_outbox_backlog',
      'obol_outbox_oldest_age_seconds',
      'obol_consumer_lag',
      'obol_jobs_due',
      'obol_jobs_lateness_seconds_bucket',
      'obol_invoice_payments_total',
      'obol_db_pool_connections',
      'obol_process_cpu_seconds_total',
      'obol_nodejs_eventloop_lag_p99_seconds',
    ]) {
      expect(exprs, metric).toContain(metric);
    }
    expect(exprs).toMatch(/histogram_quantile\(0\.5, sum by \(connector, operation, le\) \(rate\(obol_gateway_call_duration_seconds_bucket/);
    expect(exprs).toMatch(/histogram_quantile\(0\.99, sum by \(connector, operation, le\) \(rate\(obol_gateway_call_duration_seconds_bucket/);
  });
});
