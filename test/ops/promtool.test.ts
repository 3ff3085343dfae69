/**
 * The Prometheus files under deploy/prometheus, checked by Prometheus's own promtool (Debian's
 * `prometheus` package): the alert rules are valid, their unit tests (alerts.test.yml) pass, and
 * the scrape configuration is valid. Plus what promtool does not check: every alert has a summary,
 * a description and a runbook section that exists, is shown both firing and not firing in the
 * unit tests, and reads only metrics Obol defines.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { alertRules, DEPLOY, describeWithPrometheus, metricNamesIn, promtool, readYamlDocuments, ROOT } from './support.js';

const ALERTS = join(DEPLOY, 'prometheus', 'alerts.yml');
const ALERT_TESTS = join(DEPLOY, 'prometheus', 'alerts.test.yml');
const CONFIG = join(DEPLOY, 'prometheus', 'prometheus.yml');
const RUNBOOKS = join(ROOT, 'docs', 'runbooks.md');

describeWithPrometheus('promtool on deploy/prometheus', (tools) => {
  it('`promtool check rules` accepts the alert rules', () => {
    const result = promtool(tools, ['check', 'rules', ALERTS]);
    expect(result.output).toContain('SUCCESS');
    expect(result.status, result.output).toBe(0);
  });

  it('`promtool test rules` passes the alerts\' unit tests', () => {
    const result = promtool(tools, ['test', 'rules', ALERT_TESTS]);
    expect(result.status, result.output).toBe(0);
    expect(result.output).toContain('SUCCESS');
  });

  it('`promtool check config` accepts the scrape configuration and the rule files it names', () => {
    const result = promtool(tools, ['check', 'config', CONFIG]);
    expect(result.status, result.output).toBe(0);
    expect(result.output).toMatch(/valid prometheus config file syntax/);
    expect(result.output).toMatch(new RegExp(`SUCCESS: ${alertRules().length} rules found`));
  });

  it('promtool is not a pushover: a broken rule and a failing expectation are refused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'obol-promtool-'));
    try {
      writeFileSync(join(dir, 'broken.yml'), 'groups:\n  - name: x\n    rules:\n      - alert: Broken\n        expr: sum(rate(obol_x_total[5m])\n');
      expect(promtool(tools, ['check', 'rules', join(dir, 'broken.yml')]).status).not.toBe(0);
      // The real rules against a copy of the tests that expects the target-down alert an hour early.
      copyFileSync(ALERTS, join(dir, 'alerts.yml'));
      const tests = readFileSync(ALERT_TESTS, 'utf8');
      const wrong = tests.replace(/- eval_time: 3m\n(\s+)alertname: ObolTargetDown\n\s+exp_alerts: \[\]/, (_m, indent: string) => `- eval_time: 5m\n${indent}alertname: ObolTargetDown\n${indent}exp_alerts: []`);
      expect(wrong).not.toBe(tests);
      writeFileSync(join(dir, 'alerts.test.yml'), wrong);
      const result = promtool(tools, ['test', 'rules', join(dir, 'alerts.test.yml')]);
      expect(result.status).not.toBe(0);
      expect(result.output).toContain('ObolTargetDown');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

interface AlertTestCase {
  readonly eval_time: string;
  readonly alertname: string;
  readonly exp_alerts?: readonly unknown[];
}

describe('alert rules: what promtool does not check', () => {
  const rules = alertRules();
  const runbooks = readFileSync(RUNBOOKS, 'utf8');
  // GitHub's anchors: lower case, spaces to hyphens, punctuation dropped.
  const anchors = new Set(
    [...runbooks.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) =>
      m[1]!
        .trim()
        .toLowerCase()
        .replace(/[^a-z0-9 _-]/g, '')
        .replace(/ /g, '-'),
    ),
  );

  it('cover every condition the issue asks for', () => {
    const exprs = rules.map((r) => r.expr).join('\n');
    for (const metric of [
      'obol_graphql_errors_total', // checkout error ratio
      'obol_checkout_outcomes_total',
      'obol_gateway_authorization_rate', // authorization-rate drop per connector
      'obol_outbox_oldest_age_seconds', // outbox age
      'obol_consumer_lag', // consumer lag
      'obol_invoice_payments_total', // renewal failures
      'obol_payments_unknown_oldest_age_seconds', // unknown-outcome payments
    ]) {
      expect(exprs, metric).toContain(metric);
    }
    expect(exprs).toMatch(/billing_reason="subscription_cycle",outcome="failed"/);
    expect(exprs).toMatch(/up\{job=~"obol-\.\*"\} == 0/);
  });

  it.each(rules.map((r) => [r.alert, r] as const))('%s has a severity, a summary, a description and a runbook section that exists', (_name, rule) => {
    expect(['critical', 'warning']).toContain(rule.labels?.severity);
    expect(rule.annotations?.summary?.length ?? 0).toBeGreaterThan(10);
    expect(rule.annotations?.description?.length ?? 0).toBeGreaterThan(30);
    const url = rule.annotations?.runbook_url ?? '';
    const match = /^docs\/runbooks\.md#([a-z0-9-]+)$/.exec(url);
    expect(match, `runbook_url ${url}`).not.toBeNull();
    expect(anchors.has(match![1]!), `docs/runbooks.md has no section #${match![1]}`).toBe(true);
    // The section names the alert, so a reader arriving from a page knows they are in the right place.
    expect(runbooks).toContain(rule.alert);
  });

  it('every alert is unit-tested both firing and not firing', () => {
    const [doc] = readYamlDocuments(ALERT_TESTS) as [{ rule_files: string[]; tests: { name: string; alert_rule_test?: AlertTestCase[] }[] }];
    expect(doc.rule_files).toEqual(['alerts.yml']);
    const cases = doc.tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const rule of rules) {
      const own = cases.filter((c) => c.alertname === rule.alert);
      expect(own.some((c) => (c.exp_alerts ?? []).length > 0), `${rule.alert} is never shown firing`).toBe(true);
      expect(own.some((c) => (c.exp_alerts ?? []).length === 0), `${rule.alert} is never shown not firing`).toBe(true);
    }
    // The healthy baseline asserts silence for every alert at once.
    const healthy = doc.tests.find((t) => t.name.startsWith('healthy baseline'));
    expect(new Set((healthy?.alert_rule_test ?? []).map((c) => c.alertname))).toEqual(new Set(rules.map((r) => r.alert)));
  });

  it('reads only obol_ metrics from the documented list (or prom-client process metrics)', () => {
    const documented = readFileSync(join(ROOT, 'docs', 'operations.md'), 'utf8');
    for (const rule of rules) {
      for (const name of metricNamesIn(rule.expr)) expect(documented, `${rule.alert} reads ${name}, which docs/operations.md does not list`).toContain(name);
    }
  });

  it('the scrape configuration has one job per role and loads these rules', () => {
    const [config] = readYamlDocuments(CONFIG) as [{ rule_files: string[]; scrape_configs: { job_name: string }[] }];
    expect(config.rule_files).toEqual(['alerts.yml']);
    expect(config.scrape_configs.map((s) => s.job_name).sort()).toEqual(['obol-api', 'obol-grpc', 'obol-worker']);
  });
});
