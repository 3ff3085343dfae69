/**
 * OpenTelemetry traces with W3C trace context. A checkout is one trace: the GraphQL or gRPC call
 * (server span) → the use case → its database statements → the gateway call → the event's
 * publication by the relay (producer span, context in the Kafka message headers) → the consumer
 * that applies it (consumer span) → the entitlement it grants.
 *
 *   POST /graphql (server)
 *   └─ checkout.confirm_session
 *      ├─ db.transaction ─ db INSERT … (statements)
 *      ├─ gateway sandbox authorize (client)
 *      └─ db.transaction ─ outbox row keeps this context (outbox.trace_context)
 *                              ⋮ (later, the worker)
 *         publish obol.payments.v1 (producer) ── traceparent header ──▶
 *         └─ process obol.payments.v1 (consumer, group entitlements)
 *            └─ db.transaction ─ db INSERT entitlement_grants …
 *
 * Instrumentation uses only `@opentelemetry/api`, which does nothing until a provider is
 * registered: `setupTracing` registers one per process (`obol serve`), tests register theirs
 * with an in-memory exporter. Spans are always created once a provider is registered, so every
 * log line and every published event carries a trace id; they are recorded and exported only
 * with OTEL_TRACES_EXPORTER=otlp (or console), sampled by OTEL_TRACES_SAMPLER_ARG.
 */
import { context, propagation, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span, type TextMapGetter } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  ParentBasedSampler,
  RandomIdGenerator,
  TraceIdRatioBasedSampler,
  type IdGenerator,
  type Sampler,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import type { TracesExporter } from '../config.js';
import { findCardNumber } from '../security/card-guard.js';

export { SpanKind } from '@opentelemetry/api';

const TRACER_NAME = 'obol';


export interface TracingSettings {
  readonly exporter: TracesExporter;
  /** OTLP/HTTP traces endpoint, e.g. http://otel-collector:4318/v1/traces. */
  readonly otlpEndpoint: string;
  /** Extra OTLP request headers (a vendor's API key). */
  readonly otlpHeaders: Readonly<Record<string, string>>;
  /** Share of new traces recorded (0..1); a caller's sampling decision is followed. */
  readonly sampleRatio: number;
  readonly serviceName: string;
  readonly serviceVersion: string;
}

export interface Tracing {
  /** Exports what is buffered (before exit). */
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

/**
 * Registers this process's tracer provider, context manager and W3C propagator. Once per process:
 * the API's globals refuse a second registration, so a later call only adds nothing.
 */
export function setupTracing(args: { readonly settings: TracingSettings; readonly processors?: readonly SpanProcessor[]; readonly sampler?: Sampler }): Tracing {
  const { settings } = args;
  const processors: SpanProcessor[] = [...(args.processors ?? [])];
  if (settings.exporter === 'otlp') processors.push(new BatchSpanProcessor(new OTLPTraceExporter({ url: settings.otlpEndpoint, headers: { ...settings.otlpHeaders } })));
  if (settings.exporter === 'console') processors.push(new BatchSpanProcessor(new ConsoleSpanExporter()));
  // Nothing to export to: spans keep their ids (logs and events still correlate) but record nothing.
  const sampler =
    args.sampler ??
    (processors.length === 0 ? new AlwaysOffSampler() : new ParentBasedSampler({ root: settings.sampleRatio >= 1 ? new AlwaysOnSampler() : new TraceIdRatioBasedSampler(settings.sampleRatio) }));
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: settings.serviceName, [ATTR_SERVICE_VERSION]: settings.serviceVersion }),
    sampler,
    idGenerator: new CardFreeIdGenerator(),
    spanProcessors: processors,
  });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  return {
    forceFlush: () => provider.forceFlush(),
    async shutdown() {
      await provider.shutdown();
      trace.disable();
      propagation.disable();
      context.disable();
    },
  };
}

/**
 * Random ids never shaped like a card number. A hex id can hold a long run of digits that passes
 * the Luhn check; the logs' card guard would then scrub it out of every line of its trace
 * (invariant 6 is checked on the finished line), and the id would no longer find the trace.
 */
class CardFreeIdGenerator implements IdGenerator {
  readonly #random = new RandomIdGenerator();

  generateTraceId(): string {
    for (;;) {
      const id = this.#random.generateTraceId();
      if (!findCardNumber(id)) return id;
    }
  }

  generateSpanId(): string {
    for (;;) {
      const id = this.#random.generateSpanId();
      if (!findCardNumber(id)) return id;
    }
  }
}

function tracer() {
  return trace.getTracer(TRACER_NAME);
}

/** An error's type and message on the span, and the span marked failed. */
export function recordFailure(span: Span, err: unknown): void {
  if (err instanceof Error) span.recordException(err);
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message.slice(0, 200) : 'error' });
}

/**
 * Runs `fn` in a new span, active for everything it awaits, and ends the span when it settles.
 * A thrown error marks the span failed and is rethrown unchanged. A decline or other outcome
 * returned as a value is not a failure of the span.
 */
export function inSpan<T>(name: string, options: { readonly kind?: SpanKind; readonly attributes?: Attributes; readonly parent?: Context }, fn: (span: Span) => Promise<T>): Promise<T> {
  const parent = options.parent ?? context.active();
  return tracer().startActiveSpan(name, { kind: options.kind ?? SpanKind.INTERNAL, ...(options.attributes ? { attributes: options.attributes } : {}) }, parent, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      recordFailure(span, err);
      throw err;
    } finally {
      span.end();
    }
  });
}

/**
 * A span that starts now and is ended by the caller (an HTTP request spans several hooks).
 * Returns the context in which the work of the span should run.
 */
export function startSpan(name: string, options: { readonly kind: SpanKind; readonly attributes?: Attributes; readonly parent?: Context }): { readonly span: Span; readonly context: Context } {
  const parent = options.parent ?? context.active();
  const span = tracer().startSpan(name, { kind: options.kind, ...(options.attributes ? { attributes: options.attributes } : {}) }, parent);
  return { span, context: trace.setSpan(parent, span) };
}

/**
 * Whether the operation running here is recorded. Statement and transaction spans are made only
 * then: outside any traced operation (polling loops), and in the default setup where nothing is
 * exported (spans carry ids but record nothing), every statement would otherwise pay for a span.
 */
export function isRecording(): boolean {
  return trace.getActiveSpan()?.isRecording() ?? false;
}

/**
 * A span for work that already happened (a database statement, reported when it finished),
 * parented by the active span. Callers check `isRecording()` first.
 */
export function recordFinishedSpan(name: string, options: { readonly kind: SpanKind; readonly startTime: number; readonly endTime: number; readonly attributes?: Attributes; readonly error?: unknown }): void {
  const span = tracer().startSpan(name, { kind: options.kind, startTime: options.startTime, ...(options.attributes ? { attributes: options.attributes } : {}) });
  if (options.error !== undefined) recordFailure(span, options.error);
  span.end(options.endTime);
}

/** The active trace's ids, for log lines; null when nothing is traced or tracing is not set up. */
export function activeTraceIds(): { readonly traceId: string; readonly spanId: string } | null {
  const spanContext = trace.getActiveSpan()?.spanContext();
  if (spanContext === undefined || !trace.isSpanContextValid(spanContext)) return null;
  return { traceId: spanContext.traceId, spanId: spanContext.spanId };
}

/** W3C `traceparent` (and `tracestate`) of a context, as headers to send along. */
export function traceHeaders(ctx: Context = context.active()): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return carrier;
}

/** Reads headers whatever their container: a plain object (HTTP, Kafka) or a Map. */
const headerGetter: TextMapGetter<unknown> = {
  keys(carrier) {
    if (carrier instanceof Map) return [...carrier.keys()].map(String);
    return typeof carrier === 'object' && carrier !== null ? Object.keys(carrier) : [];
  },
  get(carrier, key) {
    const value: unknown = carrier instanceof Map ? carrier.get(key) : typeof carrier === 'object' && carrier !== null ? (carrier as Record<string, unknown>)[key] : undefined;
    if (typeof value === 'string') return value;
    if (Buffer.isBuffer(value)) return value.toString('utf8');
    if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value as string[];
    return undefined;
  },
};

/**
 * The caller's trace context from W3C headers (absent or malformed headers: a new trace). A
 * context holding anything shaped like a card number is not continued: it would travel on to
 * spans, logs and Kafka headers (invariant 6).
 */
export function contextFromHeaders(headers: unknown, base: Context = context.active()): Context {
  for (const key of ['traceparent', 'tracestate']) {
    const value = headerGetter.get(headers, key);
    if ((Array.isArray(value) ? value : [value]).some((v) => v !== undefined && findCardNumber(v))) return base;
  }
  return propagation.extract(base, headers, headerGetter);
}

/** Runs `fn` with `ctx` active (so spans and log lines inside it belong to that trace). */
export function withContext<T>(ctx: Context, fn: () => T): T {
  return context.with(ctx, fn);
}

/** A use case whose every call is one span named after it (`checkout.confirm_session`). */
export function traced<A extends readonly unknown[], R>(name: string, fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return (...args: A) => inSpan(name, {}, () => fn(...args));
}
