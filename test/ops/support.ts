/**
 * Shared by the operations tests: where the repository's deploy/ files are, and the Prometheus
 * tools (Debian's `prometheus` package: promtool and the server) found by
 * scripts/services/prometheus.mjs, which `.ci/run` runs with `ensure` before the tests.
 *
 * A suite declared with describeWithPrometheus runs when both tools are present. When they are
 * not: in CI it fails (the project requires them), elsewhere its tests are reported skipped after
 * a loud warning naming the command that installs them (as test/support/services.ts does for Kafka).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { findPrometheusTools } from '../../scripts/services/prometheus.mjs';

export const ROOT = new URL('../../', import.meta.url).pathname;
export const DEPLOY = join(ROOT, 'deploy');
export const ENSURE_COMMAND = 'node scripts/services/prometheus.mjs ensure';

export interface Tools {
  readonly promtool: string;
  readonly prometheus: string;
  readonly version: string;
}

function isCi(): boolean {
  return process.env.CI === 'true' || process.env.CI === '1';
}

export function describeWithPrometheus(name: string, suite: (tools: Tools) => void): void {
  const found = findPrometheusTools();
  if (found.promtool !== null && found.prometheus !== null) {
    describe(name, () => suite({ promtool: found.promtool!, prometheus: found.prometheus!, version: found.version ?? 'unknown' }));
    return;
  }
  const missing = [found.promtool === null ? 'promtool' : null, found.prometheus === null ? 'prometheus' : null].filter((m) => m !== null).join(' and ');
  const overridden = ['OBOL_PROMTOOL', 'OBOL_PROMETHEUS'].filter((name) => process.env[name]?.trim()).map((name) => `${name}=${process.env[name]}`);
  const reason = `${missing} (Debian package "prometheus") not found ${overridden.length > 0 ? `at ${overridden.join(', ')}` : 'on PATH'}`;
  if (isCi()) {
    describe(name, () => {
      it(`Prometheus's tools are required in CI: ${reason}`, () => {
        throw new Error(`${reason}. .ci/run installs them with \`${ENSURE_COMMAND}\`; did that step fail?`);
      });
    });
    return;
  }
  const bar = '!'.repeat(78);
  console.warn(`\n${bar}\n!! "${name}" SKIPPED: ${reason}.\n!! Install them with: ${ENSURE_COMMAND}  (or set OBOL_PROMTOOL and OBOL_PROMETHEUS)\n!! CI will fail without them.\n${bar}\n`);
  describe.skip(`${name} (SKIPPED: ${reason})`, () => suite({ promtool: 'promtool', prometheus: 'prometheus', version: 'missing' }));
}

/** Runs promtool; resolves its exit status and output (stdout and stderr together). */
export function promtool(tools: Tools, args: readonly string[], cwd = ROOT): { readonly status: number | null; readonly output: string } {
  const out = spawnSync(tools.promtool, [...args], { cwd, encoding: 'utf8', timeout: 60_000 });
  return { status: out.status, output: `${out.stdout ?? ''}${out.stderr ?? ''}${out.error ? String(out.error) : ''}` };
}

/** Every document of a YAML file (a manifest may hold several, separated by ---), parse errors thrown. */
export function readYamlDocuments(path: string): unknown[] {
  const docs = parseAllDocuments(readFileSync(path, 'utf8'));
  const list = Array.isArray(docs) ? docs : [docs];
  const out: unknown[] = [];
  for (const doc of list) {
    if (doc.errors.length > 0) throw new Error(`${path}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value: unknown = doc.toJS();
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}

export interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
}

export function alertRules(): AlertRule[] {
  const [doc] = readYamlDocuments(join(DEPLOY, 'prometheus', 'alerts.yml')) as [{ groups: { name: string; rules: AlertRule[] }[] }];
  return doc.groups.flatMap((g) => g.rules).filter((r) => typeof r.alert === 'string');
}

/**
 * Metric names an expression reads: identifiers starting with obol_ (Obol's own, by the
 * project's prefix). Histogram series (_bucket, _sum, _count) are reported by their base name.
 */
export function metricNamesIn(expr: string): string[] {
  const names = new Set<string>();
  for (const match of expr.matchAll(/\bobol_[a-z0-9_]+/g)) names.add(match[0].replace(/_(bucket|sum|count)$/, ''));
  return [...names].sort();
}
