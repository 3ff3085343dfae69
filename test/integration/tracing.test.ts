/**
 * A checkout is one trace (issue 7): the caller's W3C trace context enters with the GraphQL
 * request, the use case, its statements and the gateway call are spans under the request's
 * server span, the outbox row keeps the context, the relay's publication continues it and hands
 * it on in the message headers (Kafka's, or the in-process bus's), and the consumer that grants
 * the entitlement is a span of the same trace. Spans go to an in-memory exporter.
 */
import { randomUUID } from 'node:crypto';
import { Consumer, stringDeserializers } from '@platformatic/kafka';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { AlwaysOnSampler, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { entitlementsConsumer } from '../../src/entitlements/index.js';
import { KafkaEventBus, relayOutboxOnce, runKafkaConsumer, type EventConsumer, type KafkaSettings } from '../../src/platform/events/index.js';
import { setupTracing, type Tracing } from '../../src/platform/observability/tracing.js';
import { findCardNumber } from '../../src/platform/security/card-guard.js';
import { startGrpcServer } from '../../src/platform/grpc/server.js';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { describeEachDatabase } from '../support/databases.js';
import { startHarness, type Harness } from '../support/harness.js';
import { describeWithKafka, uniqueServiceName } from '../support/services.js';
import { CONFIRM, CREATE } from './fragments.js';

vi.setConfig({ testTimeout: 90_000, hookTimeout: 90_000 });

const exporter = new InMemorySpanExporter();
let tracing: Tracing;

beforeAll(() => {
  tracing = setupTracing({
    settings: { exporter: 'none', otlpEndpoint: 'http://127.0.0.1:4318/v1/traces', otlpHeaders: {}, sampleRatio: 1, serviceName: 'obol-test', serviceVersion: 'test' },
    processors: [new SimpleSpanProcessor(exporter)],
    sampler: new AlwaysOnSampler(),
  });
});
afterAll(async () => tracing.shutdown());
afterEach(() => exporter.reset());

/** The caller's own span: Obol's server span must continue it. */
const CALLER_TRACE = () => {
  const traceId = randomUUID().replace(/-/g, '');
  const spanId = randomUUID().replace(/-/g, '').slice(0, 16);
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-01` };
};

const idOf = (s: ReadableSpan) => s.spanContext().spanId;
const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;

function traceOf(traceId: string): readonly ReadableSpan[] {
  return exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
}

function one(spans: readonly ReadableSpan[], name: string | RegExp): ReadableSpan {
  const found = spans.filter((s) => (typeof name === 'string' ? s.name === name : name.test(s.name)));
  expect(found.map((s) => s.name), `exactly one span named ${String(name)} in ${spans.map((s) => s.name).join(', ')}`).toHaveLength(1);
  return found[0]!;
}

/** True when `ancestor` is on the parent chain of `span`. */
function descends(spans: readonly ReadableSpan[], span: ReadableSpan, ancestor: ReadableSpan): boolean {
  const byId = new Map(spans.map((s) => [idOf(s), s]));
  for (let p = parentOf(span); p !== undefined; p = byId.get(p) === undefined ? undefined : parentOf(byId.get(p)!)) {
    if (p === idOf(ancestor)) return true;
  }
  return false;
}

async function checkout(h: Harness, customerId: string, traceparent: string, extraHeaders: Record<string, string> = {}): Promise<string> {
  const learner = await h.token({ sub: customerId, roles: ['learner'] });
  const created = await h.gql(CREATE, { input: { customerId, country: 'US', items: [{ priceId: 'price_ml_certificate_usd', quantity: 1 }], idempotencyKey: randomUUID() } }, { as: learner });
  expect(created.errors).toBeUndefined();
  const sessionId = created.data!.createCheckoutSession.checkoutSession.id as string;
  const confirmed = await h.gql(CONFIRM, { input: { sessionId, paymentMethodToken: 'tok_visa', idempotencyKey: randomUUID() } }, { as: learner, headers: { traceparent, ...extraHeaders } });
  expect(confirmed.errors).toBeUndefined();
  expect(confirmed.data!.confirmCheckoutSession.payment.status).toBe('succeeded');
  return confirmed.data!.confirmCheckoutSession.payment.id as string;
}

/** The part of the tree before the event hop: request → use case → statements and the gateway call. */
function expectRequestTree(spans: readonly ReadableSpan[], caller: { readonly spanId: string }) {
  const server = one(spans, 'mutation confirmCheckoutSession');
  expect(server.kind).toBe(SpanKind.SERVER);
  expect(parentOf(server)).toBe(caller.spanId);
  expect(server.attributes).toMatchObject({ 'http.request.method': 'POST', 'http.route': '/graphql', 'http.response.status_code': 200, 'graphql.operation.type': 'mutation' });
  const useCase = one(spans, 'checkout.confirm_session');
  expect(parentOf(useCase)).toBe(idOf(server));
  const gateway = one(spans, 'gateway sandbox authorize');
  expect(gateway.kind).toBe(SpanKind.CLIENT);
  expect(gateway.attributes).toMatchObject({ 'obol.gateway.connector': 'sandbox', 'obol.gateway.outcome': 'approved' });
  expect(descends(spans, gateway, useCase)).toBe(true);
  // Invariant 4 seen in the trace: the gateway call is not inside a database transaction.
  for (const tx of spans.filter((s) => s.name === 'db.transaction')) expect(descends(spans, gateway, tx)).toBe(false);
  const statements = spans.filter((s) => s.name.startsWith('db ') && descends(spans, s, useCase));
  expect(statements.length).toBeGreaterThan(3);
  expect(statements.map((s) => s.attributes['db.operation.name'])).toEqual(expect.arrayContaining(['SELECT', 'INSERT', 'UPDATE']));
  for (const s of statements) expect(s.kind).toBe(SpanKind.CLIENT);
  return { server, useCase };
}

describeEachDatabase('a checkout traced across the in-process event hop', (dialect) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(dialect);
  });
  afterAll(async () => h?.close());

  it('is one trace from the GraphQL call through the gateway and the relay to the consumer that grants the entitlement', async () => {
    const caller = CALLER_TRACE();
    const customerId = `cus_trace_${randomUUID().slice(0, 8)}`;
    await checkout(h, customerId, caller.traceparent);
    await h.runWorker();

    const spans = traceOf(caller.traceId);
    const { useCase } = expectRequestTree(spans, caller);
    expectEventHop(spans, useCase, 'in_process');
    const grants = await h.app.db.kysely.selectFrom('entitlements').select('resource').where('customer_id', '=', customerId).execute();
    expect(grants.map((g) => g.resource)).toContain('course:machine-learning');
  });

  it('starts a trace of its own for a caller that sends no trace context, and refuses nothing for a malformed one', async () => {
    const customerId = `cus_trace_${randomUUID().slice(0, 8)}`;
    await checkout(h, customerId, 'not-a-traceparent');
    const servers = exporter.getFinishedSpans().filter((s) => s.name === 'mutation confirmCheckoutSession');
    expect(servers).toHaveLength(1);
    expect(servers[0]!.parentSpanContext).toBeUndefined();
    // A caller's trace id that is a card number (valid hex) is not continued (invariant 6).
    exporter.reset();
    await checkout(h, `cus_trace_${randomUUID().slice(0, 8)}`, '00-4242424242424242aaaaaaaaaaaaaaaa-00f067aa0ba902b7-01');
    const fresh = one(exporter.getFinishedSpans(), 'mutation confirmCheckoutSession');
    expect(fresh.parentSpanContext).toBeUndefined();
    expect(fresh.spanContext().traceId).not.toContain('4242424242424242');
    // Nor does Obol make a card-shaped id itself, however many it makes.
    for (const s of exporter.getFinishedSpans()) expect(findCardNumber(`${s.spanContext().traceId} ${s.spanContext().spanId}`)).toBe(false);
    // An oversized vendor tracestate is the caller's business: the sale goes through, the outbox row
    // keeps what fits.
    const caller = CALLER_TRACE();
    const huge = Array.from({ length: 40 }, (_, i) => `vendor${i}=${'x'.repeat(200)}`).join(',');
    await checkout(h, `cus_trace_${randomUUID().slice(0, 8)}`, caller.traceparent, { tracestate: huge });
    await h.runWorker();
    expect(traceOf(caller.traceId).some((s) => s.kind === SpanKind.CONSUMER)).toBe(true);
  });

  it('continues the trace context a gRPC caller sends in its metadata', async () => {
    const grpcServer = await startGrpcServer(h.app, { host: '127.0.0.1', port: 0 });
    const definitions = grpc.loadPackageDefinition(
      protoLoader.loadSync(['obol/v1/entitlements.proto'], { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true, includeDirs: [new URL('../../proto', import.meta.url).pathname] }),
    ) as unknown as { obol: { v1: { EntitlementService: grpc.ServiceClientConstructor } } };
    const client = new definitions.obol.v1.EntitlementService(`127.0.0.1:${grpcServer.port}`, grpc.credentials.createInsecure());
    try {
      const caller = CALLER_TRACE();
      const metadata = new grpc.Metadata();
      metadata.set('authorization', `Bearer ${await h.token({ sub: 'svc_enrolment', roles: ['service'] })}`);
      metadata.set('traceparent', caller.traceparent);
      await new Promise<void>((resolve, reject) =>
        (client as unknown as { CheckEntitlement: (r: object, m: grpc.Metadata, cb: (err: Error | null) => void) => void }).CheckEntitlement({ customer_id: 'cus_nobody', resource: 'catalog:all' }, metadata, (err) => (err ? reject(err) : resolve())),
      );
      const server = one(traceOf(caller.traceId), 'obol.v1.EntitlementService/CheckEntitlement');
      expect(server.kind).toBe(SpanKind.SERVER);
      expect(parentOf(server)).toBe(caller.spanId);
      expect(server.attributes).toMatchObject({ 'rpc.system': 'grpc', 'rpc.service': 'obol.v1.EntitlementService', 'rpc.method': 'CheckEntitlement', 'rpc.grpc.status_code': 0 });
    } finally {
      client.close();
      await grpcServer.close({ graceMs: 0 });
    }
  });

  it('leaves probes and scrapes untraced, and marks a failed request', async () => {
    await h.server.inject({ method: 'GET', url: '/healthz' });
    await h.server.inject({ method: 'GET', url: '/metrics' });
    expect(exporter.getFinishedSpans()).toEqual([]);
    const refused = await h.gql(CREATE, { input: { customerId: 'cus_x', country: 'US', items: [], idempotencyKey: randomUUID() } }, { as: 'anonymous' });
    expect(refused.errors?.[0]?.extensions?.code).toBeDefined();
    const server = one(exporter.getFinishedSpans(), 'mutation createCheckoutSession');
    // A caller's mistake is not the server's failure.
    expect(server.status.code).not.toBe(SpanStatusCode.ERROR);
  });
});

/** After the use case: its events' publication continues the trace, and the consumer continues the publication. */
function expectEventHop(spans: readonly ReadableSpan[], useCase: ReadableSpan, transport: string) {
  const publishes = spans.filter((s) => s.name.startsWith('publish '));
  expect(publishes.map((s) => s.attributes['obol.event.type'])).toEqual(expect.arrayContaining(['payment.succeeded', 'checkout.completed']));
  for (const p of publishes) {
    expect(p.kind).toBe(SpanKind.PRODUCER);
    expect(p.attributes['messaging.system']).toBe(transport);
    // Parented by the operation that wrote the outbox row (its transaction, inside the use case).
    expect(descends(spans, p, useCase)).toBe(true);
  }
  const completed = publishes.find((s) => s.attributes['obol.event.type'] === 'checkout.completed')!;
  const consumer = spans.filter((s) => s.kind === SpanKind.CONSUMER && s.attributes['messaging.consumer.group.name'] !== undefined && parentOf(s) === idOf(completed));
  expect(consumer, 'the consumer span of checkout.completed is a child of its publication').toHaveLength(1);
  expect(consumer[0]!.name).toBe('process obol.checkout.v1');
  expect(consumer[0]!.attributes).toMatchObject({ 'obol.event.type': 'checkout.completed', 'obol.delivery': 'applied' });
  const grantWrites = spans.filter((s) => s.name === 'db INSERT' && descends(spans, s, consumer[0]!) && String(s.attributes['db.query.text']).includes('entitlements'));
  expect(grantWrites.length).toBeGreaterThan(0);
}

describeWithKafka('a checkout traced across Kafka', (brokers) => {
  let h: Harness;
  const settings: KafkaSettings = { brokers, clientId: uniqueServiceName('obol-trace') };
  beforeAll(async () => {
    h = await startHarness('sqlite');
  });
  afterAll(async () => h?.close());

  it('carries the trace context in the Kafka message headers to the consumer group that grants the entitlement', async () => {
    const caller = CALLER_TRACE();
    const customerId = `cus_trace_${randomUUID().slice(0, 8)}`;
    await checkout(h, customerId, caller.traceparent);

    // The real entitlements consumer, in a group of this test's own: the shared broker holds other
    // suites' events too, which it passes over.
    const entitlements = entitlementsConsumer(h.app.entitlements);
    const consumer: EventConsumer = {
      group: uniqueServiceName('trace-entitlements'),
      types: ['checkout.completed'],
      handle: async (tx, event, now) => {
        if ((event.data as { customerId?: unknown }).customerId === customerId) await entitlements.handle(tx, event, now);
      },
    };
    const bus = new KafkaEventBus(settings);
    const reader = new Consumer({ clientId: `${settings.clientId}-reader`, groupId: uniqueServiceName('trace-reader'), bootstrapBrokers: [...brokers], deserializers: stringDeserializers });
    const runner = await runKafkaConsumer({ settings, db: h.app.db, clock: h.app.clock, consumer, backoffMs: 50 });
    try {
      await relayOutboxOnce({ db: h.app.db, bus, clock: h.app.clock });
      const deadline = performance.now() + 60_000;
      while (performance.now() < deadline) {
        const granted = await h.app.db.kysely.selectFrom('entitlements').select('id').where('customer_id', '=', customerId).executeTakeFirst();
        if (granted && traceOf(caller.traceId).some((s) => s.kind === SpanKind.CONSUMER)) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const spans = traceOf(caller.traceId);
      const { useCase } = expectRequestTree(spans, caller);
      expectEventHop(spans, useCase, 'kafka');

      // The header itself, as any other service reading the topic sees it.
      // Delivery is at least once: should the relay have published the row twice, either copy's
      // header names its own publication.
      const publications = traceOf(caller.traceId).filter((s) => s.kind === SpanKind.PRODUCER && s.attributes['obol.event.type'] === 'checkout.completed');
      const stream = await reader.consume({ topics: ['obol.checkout.v1'], mode: 'earliest', autocommit: false, sessionTimeout: 10_000, heartbeatInterval: 1_000 });
      const header = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('the published message was not read back')), 60_000);
        stream.on('data', (m: { value: string; headers: Map<string, string> }) => {
          if (!m.value.includes(customerId) || m.headers.get('ce_type') !== 'checkout.completed') return;
          clearTimeout(timer);
          resolve(String(m.headers.get('traceparent')));
        });
      });
      await stream.close();
      expect(publications.map((p) => `00-${caller.traceId}-${idOf(p)}-01`)).toContain(header);
    } finally {
      await runner.stop();
      await bus.close();
      await reader.close();
    }
  });
});
