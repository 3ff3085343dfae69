/**
 * `obol serve` with OTEL_TRACES_EXPORTER=otlp sends its spans to the configured OTLP/HTTP endpoint
 * (here a local receiver standing in for an OpenTelemetry collector): a checkout's server span,
 * use case, statements and gateway call arrive under one trace id, with the service name, the
 * exporter's headers, and nothing buffered lost at shutdown. Needs the build.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { OBOL_BIN, stopChildren, waitForLine } from '../support/processes.js';

vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

interface OtlpSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
  readonly name: string;
}
interface OtlpExport {
  readonly resourceSpans: readonly { readonly resource: { readonly attributes: readonly { key: string; value: { stringValue?: string } }[] }; readonly scopeSpans: readonly { readonly spans: readonly OtlpSpan[] }[] }[];
}

describe('OTLP export from obol serve', () => {
  let dir: string;
  let receiver: Server;
  const exports: { readonly headers: IncomingHttpHeaders; readonly body: OtlpExport }[] = [];
  const children: ChildProcessWithoutNullStreams[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'obol-otlp-'));
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.url === '/v1/traces') exports.push({ headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpExport });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    await stopChildren(children);
    await new Promise((resolve) => receiver.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends a checkout as one trace to the collector, with the service name and the configured headers', async () => {
    const address = receiver.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const env = {
      ...process.env,
      NODE_ENV: 'development',
      LOG_LEVEL: 'warn',
      DATABASE_URL: `sqlite:${join(dir, 'obol.db')}`,
      AUTH_DEV_KEY_FILE: join(dir, 'signing-key.json'),
      DEV_ENCRYPTION_KEY_FILE: join(dir, 'encryption-keys.json'),
      HOST: '127.0.0.1',
      PORT: '0',
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `http://127.0.0.1:${port}/v1/traces`,
      OTEL_EXPORTER_OTLP_HEADERS: 'x-collector-key=k%2D123',
    };
    const child = spawn(process.execPath, [OBOL_BIN, 'serve', '--roles', 'api'], { env: { ...env, LOG_LEVEL: 'info' } });
    children.push(child);
    const listening = await waitForLine(child, (l) => l.msg === 'obol is listening', 60_000);
    const url = `http://127.0.0.1:${String(listening.port)}/graphql`;
    const learner = spawnSync(process.execPath, [OBOL_BIN, 'token', '--sub', 'cus_otlp', '--role', 'learner'], { encoding: 'utf8', env }).stdout.trim();
    const gql = async (query: string, variables: Record<string, unknown>, headers: Record<string, string> = {}) => {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${learner}`, ...headers }, body: JSON.stringify({ query, variables }) });
      const body = (await res.json()) as { data: Record<string, any>; errors?: unknown };
      expect(body.errors).toBeUndefined();
      return body.data;
    };
    const created = await gql(`mutation($i: CreateCheckoutSessionInput!) { createCheckoutSession(input: $i) { checkoutSession { id } } }`, {
      i: { customerId: 'cus_otlp', country: 'US', items: [{ priceId: 'price_ml_certificate_usd', quantity: 1 }], idempotencyKey: randomUUID() },
    });
    const traceId = randomUUID().replace(/-/g, '');
    await gql(
      `mutation($i: ConfirmCheckoutSessionInput!) { confirmCheckoutSession(input: $i) { payment { status } } }`,
      { i: { sessionId: created.createCheckoutSession.checkoutSession.id, paymentMethodToken: 'tok_visa', idempotencyKey: randomUUID() } },
      { traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
    );

    // Spans are batched; the shutdown flushes what is buffered.
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;

    expect(exports.length).toBeGreaterThan(0);
    for (const e of exports) expect(e.headers['x-collector-key']).toBe('k-123');
    const resources = exports.flatMap((e) => e.body.resourceSpans);
    const serviceNames = new Set(resources.flatMap((r) => r.resource.attributes.filter((a) => a.key === 'service.name').map((a) => a.value.stringValue)));
    expect([...serviceNames]).toEqual(['obol-api']);
    const spans = resources.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans)).filter((s) => s.traceId === traceId);
    const names = spans.map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(['mutation confirmCheckoutSession', 'checkout.confirm_session', 'gateway sandbox authorize', 'db.transaction']));
    expect(names.filter((n) => n.startsWith('db ')).length).toBeGreaterThan(3);
    const server = spans.find((s) => s.name === 'mutation confirmCheckoutSession')!;
    expect(server.parentSpanId).toBe('00f067aa0ba902b7');
  });
});
