/**
 * Prometheus metrics (prom-client), one registry per App: tests and several apps in one process
 * never share or collide on a series. Served at /metrics by the api role and, on processes
 * without it, by the ops listener (ops-server.ts).
 *
 * Two kinds of series:
 * - recorded where things happen (GraphQL and gRPC edges, gateway calls, the relay, the job
 *   runner, checkout through its metrics port): counters and histograms;
 * - read when scraped (outbox backlog, due jobs, unknown payments, pool use, routing health,
 *   consumer lag): gauges whose `collect` asks a source this process registered. A source that
 *   fails leaves its gauge without series (NaN for a gauge without labels) for that scrape and
 *   counts obol_metrics_source_errors_total; the scrape itself never fails.
 *
 * Every label is bounded (labels.ts): no ids, emails, amounts or free text.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { BILLING_REASONS } from '../../subscriptions/index.js';
import { currencyLabel, declineReasonLabel, nameLabel, oneOfLabel } from './labels.js';

export const METRIC_PREFIX = 'obol_';

const REQUEST_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const GATEWAY_BUCKETS = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60];
const LATENESS_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400];

export const GRAPHQL_OPERATION_TYPES = ['query', 'mutation', 'subscription', 'unknown'] as const;
export const CHECKOUT_OUTCOMES = ['succeeded', 'failed', 'requires_action', 'unknown'] as const;
/**
 * approved/declined: the gateway answered yes/no; unavailable: nothing reached it; unknown: it may
 * have (timeout); error: anything else thrown. Besides those five, `requires_action` (3-D Secure
 * asked for) and `pending` (the gateway will tell later) are answers that are neither.
 */
export const GATEWAY_OUTCOMES = ['approved', 'declined', 'unavailable', 'unknown', 'error', 'requires_action', 'pending'] as const;
export type GatewayOutcome = (typeof GATEWAY_OUTCOMES)[number];
export const GATEWAY_OPERATIONS = ['authorize', 'resume', 'capture', 'void', 'refund', 'save_payment_method', 'charge_off_session', 'retrieve'] as const;
export type GatewayOperation = (typeof GATEWAY_OPERATIONS)[number];
const POOL_STATES = ['used', 'free', 'queued'] as const;

/** What the scrape-time gauges read; each is registered by the part of the process that owns it. */
export interface ScrapeSources {
  outboxBacklog?: () => Promise<number>;
  outboxOldestAgeSeconds?: () => Promise<number>;
  /** Pending system-clock jobs whose run_at has passed, per kind (known kinds with none: 0). */
  jobsDue?: () => Promise<ReadonlyMap<string, number>>;
  unknownPayments?: () => Promise<number>;
  unknownPaymentsOldestAgeSeconds?: () => Promise<number>;
  /** null: this database has no pool to report (SQLite). */
  dbPool?: () => { readonly used: number; readonly free: number; readonly queued: number } | null;
  gateways?: () => readonly GatewayHealthSample[];
  /** group → topic → lag per partition (index = partition). */
  consumerLag?: () => Promise<Readonly<Record<string, Readonly<Record<string, readonly (string | number | bigint)[]>>>>>;
}

export interface GatewayHealthSample {
  readonly connector: string;
  readonly circuitOpen: boolean;
  /** Issuer decisions in the router's recent window (authorized + declined). */
  readonly authorized: number;
  readonly declined: number;
}

export interface GraphQLRequestSample {
  readonly field: string;
  readonly type: string;
  readonly ok: boolean;
  readonly seconds: number;
  /** Distinct error codes of the response (already bounded to Obol's codes). */
  readonly errorCodes: readonly string[];
}

export interface GatewayCallSample {
  readonly connector: string;
  readonly operation: GatewayOperation;
  readonly outcome: GatewayOutcome;
  /** The normalized decline reason when declined. */
  readonly reason: string | null;
  readonly seconds: number;
}

export interface JobRunSample {
  readonly kind: string;
  /** null: the system clock (the only jobs whose lateness means anything). */
  readonly clockId: string | null;
  readonly ok: boolean;
  /** System time the run started, and the job's due time (ms). */
  readonly startedAt: number;
  readonly runAt: number;
}

export interface ObolMetrics {
  readonly registry: Registry;
  readonly contentType: string;
  /** The exposition text (never rejects: failing sources only leave their gauges empty). */
  render(): Promise<string>;
  graphqlRequest(sample: GraphQLRequestSample): void;
  grpcRequest(sample: { readonly method: string; readonly code: string; readonly seconds: number }): void;
  checkoutSessionCreated(args: { readonly currency: string }): void;
  checkoutConfirmed(args: { readonly currency: string; readonly outcome: string; readonly declineReason: string | null }): void;
  gatewayCall(sample: GatewayCallSample): void;
  /** One outbox row the relay handed to the bus. */
  eventPublished(args: { readonly topic: string; readonly type: string; readonly data: unknown }): void;
  jobRun(sample: JobRunSample): void;
  /** Sets (or with undefined removes) a scrape-time source. */
  setSource<K extends keyof ScrapeSources>(name: K, source: ScrapeSources[K] | undefined): void;
  /** Sets several scrape-time sources at once. */
  setSources(sources: ScrapeSources): void;
  /** Registers known label values up front so their series read 0 before the first event. */
  declareJobKinds(kinds: readonly string[]): void;
  declareConnectors(connectors: readonly string[]): void;
  close(): void;
}

export interface CreateMetricsArgs {
  /** Where a failing source is reported (not thrown: a scrape never fails because of one gauge). */
  readonly onSourceError?: (err: unknown, source: keyof ScrapeSources) => void;
  /** prom-client's process metrics (CPU, memory, event loop, GC), prefixed obol_ (default true). */
  readonly defaultMetrics?: boolean;
  /** Event topics (bounded by the outbox's list); others are `other`. */
  readonly topics?: readonly string[];
}

export function createMetrics(args: CreateMetricsArgs = {}): ObolMetrics {
  const registry = new Registry();
  const registers = [registry];
  const sources: ScrapeSources = {};
  const topics = args.topics ?? [];
  const jobKinds = new Set<string>();
  const connectors = new Set<string>();
  if (args.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });

  /** The scrape-time reads of the scrape in progress, so the error count includes this scrape's. */
  const reading = new Set<Promise<void>>();
  // Registered last (below), so that its collect starts after every gauge's.
  const sourceErrors = new Counter({
    name: 'obol_metrics_source_errors_total',
    help: 'Scrapes in which a scrape-time source (a database query, the Kafka client) failed; its gauge had no series (NaN without labels).',
    labelNames: ['source'],
    registers: [],
    collect: async (): Promise<void> => {
      await Promise.allSettled([...reading]);
    },
  });
  /**
   * Runs a source for a gauge's collect. Without a source, or when it fails (counted), a labelled
   * gauge has no series and a gauge without labels reads NaN: never a reassuring 0 that nobody measured.
   */
  function read<K extends keyof ScrapeSources, T>(name: K, gauge: Gauge<string>, use: (source: NonNullable<ScrapeSources[K]>) => Promise<T> | T, options: { readonly scalar?: boolean } = {}): Promise<void> {
    const done = readNow(name, gauge, use, options).finally(() => reading.delete(done));
    reading.add(done);
    return done;
  }
  async function readNow<K extends keyof ScrapeSources, T>(name: K, gauge: Gauge<string>, use: (source: NonNullable<ScrapeSources[K]>) => Promise<T> | T, options: { readonly scalar?: boolean }): Promise<void> {
    gauge.reset();
    const unmeasured = () => {
      gauge.reset();
      if (options.scalar) gauge.set(Number.NaN);
    };
    const source = sources[name];
    if (source === undefined) return unmeasured();
    try {
      await use(source as NonNullable<ScrapeSources[K]>);
    } catch (err) {
      unmeasured();
      sourceErrors.inc({ source: name });
      args.onSourceError?.(err, name);
    }
  }

  // ---- GraphQL ---------------------------------------------------------------------------------
  const graphqlRequests = new Counter({
    name: 'obol_graphql_requests_total',
    help: 'GraphQL operations by first root field, operation type and outcome (error: the response carried errors).',
    labelNames: ['field', 'type', 'outcome'],
    registers,
  });
  const graphqlDuration = new Histogram({
    name: 'obol_graphql_request_duration_seconds',
    help: 'GraphQL operation duration, parse to result.',
    labelNames: ['field', 'type'],
    buckets: REQUEST_BUCKETS,
    registers,
  });
  const graphqlErrors = new Counter({
    name: 'obol_graphql_errors_total',
    help: "GraphQL operations that answered an error, per distinct Obol error code (INTERNAL: not the caller's fault).",
    labelNames: ['field', 'code'],
    registers,
  });

  // ---- gRPC ------------------------------------------------------------------------------------
  const grpcRequests = new Counter({
    name: 'obol_grpc_requests_total',
    help: 'gRPC calls by full method and status code name.',
    labelNames: ['method', 'code'],
    registers,
  });
  const grpcDuration = new Histogram({
    name: 'obol_grpc_request_duration_seconds',
    help: 'gRPC call duration.',
    labelNames: ['method'],
    buckets: REQUEST_BUCKETS,
    registers,
  });

  // ---- checkout funnel -------------------------------------------------------------------------
  const sessionsCreated = new Counter({
    name: 'obol_checkout_sessions_created_total',
    help: 'Checkout sessions created.',
    labelNames: ['currency'],
    registers,
  });
  const confirmations = new Counter({
    name: 'obol_checkout_confirmations_total',
    help: 'Checkout confirmations that reached a payment decision (replays of a confirmation are not counted again).',
    labelNames: ['currency'],
    registers,
  });
  const checkoutOutcomes = new Counter({
    name: 'obol_checkout_outcomes_total',
    help: 'What a checkout confirmation ended in; reason: the normalized decline reason of a failed one (other: not in the known list; none: not failed).',
    labelNames: ['outcome', 'reason'],
    registers,
  });

  // ---- gateways --------------------------------------------------------------------------------
  const gatewayDuration = new Histogram({
    name: 'obol_gateway_call_duration_seconds',
    help: 'Duration of calls to payment gateways.',
    labelNames: ['connector', 'operation'],
    buckets: GATEWAY_BUCKETS,
    registers,
  });
  const gatewayCalls = new Counter({
    name: 'obol_gateway_calls_total',
    help: 'Calls to payment gateways by outcome and normalized decline reason.',
    labelNames: ['connector', 'operation', 'outcome', 'reason'],
    registers,
  });
  const authorizationRate: Gauge<string> = new Gauge({
    name: 'obol_gateway_authorization_rate',
    help: "Authorized share (0..1) of the issuer decisions in the router's recent window (15 minutes) in this process; absent with no decision in the window.",
    labelNames: ['connector'],
    registers,
    collect: (): Promise<void> =>
      read('gateways', authorizationRate, (source) => {
        for (const h of source()) {
          const decided = h.authorized + h.declined;
          if (decided > 0) authorizationRate.set({ connector: nameLabel(h.connector) }, h.authorized / decided);
        }
      }),
  });
  const authorizationDecisions: Gauge<string> = new Gauge({
    name: 'obol_gateway_authorization_decisions',
    help: "Issuer decisions in the router's recent window per connector (the sample size behind obol_gateway_authorization_rate).",
    labelNames: ['connector'],
    registers,
    collect: (): Promise<void> =>
      read('gateways', authorizationDecisions, (source) => {
        for (const h of source()) authorizationDecisions.set({ connector: nameLabel(h.connector) }, h.authorized + h.declined);
      }),
  });
  const circuitOpen: Gauge<string> = new Gauge({
    name: 'obol_gateway_circuit_open',
    help: "1 while this process's circuit breaker for the connector is open (refusing calls), else 0.",
    labelNames: ['connector'],
    registers,
    collect: (): Promise<void> =>
      read('gateways', circuitOpen, (source) => {
        for (const h of source()) circuitOpen.set({ connector: nameLabel(h.connector) }, h.circuitOpen ? 1 : 0);
      }),
  });

  // ---- events ----------------------------------------------------------------------------------
  const outboxBacklog: Gauge<string> = new Gauge({
    name: 'obol_outbox_backlog',
    help: 'Outbox rows not yet published to the event bus (read from the database at scrape).',
    registers,
    collect: (): Promise<void> => read('outboxBacklog', outboxBacklog, async (source) => outboxBacklog.set(await source()), { scalar: true }),
  });
  const outboxOldest: Gauge<string> = new Gauge({
    name: 'obol_outbox_oldest_age_seconds',
    help: 'Age of the oldest unpublished outbox row (0 when none; read at scrape).',
    registers,
    collect: (): Promise<void> => read('outboxOldestAgeSeconds', outboxOldest, async (source) => outboxOldest.set(await source()), { scalar: true }),
  });
  const relayPublished = new Counter({
    name: 'obol_relay_published_total',
    help: 'Outbox rows the relay published to the event bus, per topic.',
    labelNames: ['topic'],
    registers,
  });
  const consumerLag: Gauge<string> = new Gauge({
    name: 'obol_consumer_lag',
    help: 'Kafka consumer lag (messages not yet committed) per consumer group, topic and partition (worker with EVENT_BUS=kafka only).',
    labelNames: ['group', 'topic', 'partition'],
    registers,
    collect: (): Promise<void> =>
      read('consumerLag', consumerLag, async (source) => {
        const byGroup = await source();
        for (const [group, byTopic] of Object.entries(byGroup)) {
          for (const [topic, partitions] of Object.entries(byTopic)) {
            partitions.forEach((lag, partition) => {
              const value = Number(lag);
              // The client reports -1 for a partition it has no offsets for yet.
              if (Number.isFinite(value) && value >= 0) consumerLag.set({ group: nameLabel(group), topic: topicLabel(topic, true), partition: String(partition) }, value);
            });
          }
        }
      }),
  });

  // ---- jobs and subscriptions --------------------------------------------------------------------
  const jobsDue: Gauge<string> = new Gauge({
    name: 'obol_jobs_due',
    help: 'Pending system-clock jobs whose run time has passed, per kind (read at scrape).',
    labelNames: ['kind'],
    registers,
    collect: (): Promise<void> =>
      read('jobsDue', jobsDue, async (source) => {
        const totals = new Map<string, number>([...jobKinds].map((kind) => [kind, 0]));
        for (const [kind, n] of await source()) totals.set(jobKindLabel(kind), (totals.get(jobKindLabel(kind)) ?? 0) + n);
        for (const [kind, n] of totals) jobsDue.set({ kind }, n);
      }),
  });
  const jobsLateness = new Histogram({
    name: 'obol_jobs_lateness_seconds',
    help: 'How late system-clock jobs started: start time minus due time.',
    labelNames: ['kind'],
    buckets: LATENESS_BUCKETS,
    registers,
  });
  const jobsRuns = new Counter({
    name: 'obol_jobs_runs_total',
    help: 'Job runs by kind and outcome (error: the handler threw; the job is retried after a back-off).',
    labelNames: ['kind', 'outcome'],
    registers,
  });
  const invoicePayments = new Counter({
    name: 'obol_invoice_payments_total',
    help: 'Subscription invoice payments by billing reason and outcome, counted when their invoice.paid / invoice.payment_failed event is published.',
    labelNames: ['billing_reason', 'outcome'],
    registers,
  });

  // ---- payments and database -------------------------------------------------------------------
  const unknownPayments: Gauge<string> = new Gauge({
    name: 'obol_payments_unknown_outcome',
    help: 'Payment attempts whose gateway outcome is not known: status unknown, or pending longer than a gateway call can take (read at scrape).',
    registers,
    collect: (): Promise<void> => read('unknownPayments', unknownPayments, async (source) => unknownPayments.set(await source()), { scalar: true }),
  });
  const unknownOldest: Gauge<string> = new Gauge({
    name: 'obol_payments_unknown_oldest_age_seconds',
    help: 'Age (since creation) of the oldest payment attempt with an unknown outcome (0 when none; read at scrape).',
    registers,
    collect: (): Promise<void> => read('unknownPaymentsOldestAgeSeconds', unknownOldest, async (source) => unknownOldest.set(await source()), { scalar: true }),
  });
  const dbPool: Gauge<string> = new Gauge({
    name: 'obol_db_pool_connections',
    help: 'MySQL connection pool: connections in use, idle, and requests queued for one (absent on SQLite, which has a single connection).',
    labelNames: ['state'],
    registers,
    collect: (): Promise<void> =>
      read('dbPool', dbPool, (source) => {
        const stats = source();
        if (stats === null) return;
        for (const state of POOL_STATES) dbPool.set({ state }, stats[state]);
      }),
  });

  registry.registerMetric(sourceErrors);

  function topicLabel(topic: string, dlqAllowed = false): string {
    if (topics.includes(topic)) return topic;
    // Dead-letter topics are named per consumer group (bounded by the groups of this build).
    if (dlqAllowed && /^obol\.[a-z0-9_-]{1,40}\.dlq\.v1$/.test(topic)) return topic;
    return 'other';
  }
  /** Job kinds are the handlers' (declared by the app); a row of any other kind is `other`. */
  function jobKindLabel(kind: string): string {
    return jobKinds.has(kind) ? kind : 'other';
  }

  return {
    registry,
    contentType: registry.contentType,
    render: () => registry.metrics(),
    graphqlRequest(sample) {
      const field = sample.field;
      const type = oneOfLabel(sample.type, GRAPHQL_OPERATION_TYPES, 'unknown');
      graphqlRequests.inc({ field, type, outcome: sample.ok ? 'ok' : 'error' });
      graphqlDuration.observe({ field, type }, sample.seconds);
      for (const code of new Set(sample.errorCodes)) graphqlErrors.inc({ field, code });
    },
    grpcRequest({ method, code, seconds }) {
      grpcRequests.inc({ method, code });
      grpcDuration.observe({ method }, seconds);
    },
    checkoutSessionCreated({ currency }) {
      sessionsCreated.inc({ currency: currencyLabel(currency) });
    },
    checkoutConfirmed({ currency, outcome, declineReason }) {
      confirmations.inc({ currency: currencyLabel(currency) });
      const o = oneOfLabel(outcome, CHECKOUT_OUTCOMES, 'unknown');
      checkoutOutcomes.inc({ outcome: o, reason: o === 'failed' ? declineReasonLabel(declineReason ?? 'other') : 'none' });
    },
    gatewayCall(sample) {
      const connector = connectors.size === 0 || connectors.has(sample.connector) ? nameLabel(sample.connector) : 'other';
      const operation = oneOfLabel(sample.operation, GATEWAY_OPERATIONS);
      gatewayDuration.observe({ connector, operation }, sample.seconds);
      gatewayCalls.inc({ connector, operation, outcome: oneOfLabel(sample.outcome, GATEWAY_OUTCOMES, 'error'), reason: sample.outcome === 'declined' ? declineReasonLabel(sample.reason ?? 'other') : 'none' });
    },
    eventPublished({ topic, type, data }) {
      relayPublished.inc({ topic: topicLabel(topic) });
      if (type === 'invoice.paid' || type === 'invoice.payment_failed') {
        const reason = typeof data === 'object' && data !== null ? (data as { billingReason?: unknown }).billingReason : undefined;
        invoicePayments.inc({ billing_reason: oneOfLabel(typeof reason === 'string' ? reason : null, BILLING_REASONS), outcome: type === 'invoice.paid' ? 'paid' : 'failed' });
      }
    },
    jobRun(sample) {
      const kind = jobKindLabel(sample.kind);
      jobsRuns.inc({ kind, outcome: sample.ok ? 'ok' : 'error' });
      if (sample.clockId === null) jobsLateness.observe({ kind }, Math.max(0, sample.startedAt - sample.runAt) / 1000);
    },
    setSource(name, source) {
      if (source === undefined) delete sources[name];
      else sources[name] = source;
    },
    setSources(more) {
      Object.assign(sources, more);
    },
    declareJobKinds(kinds) {
      for (const kind of kinds) jobKinds.add(kind);
    },
    declareConnectors(names) {
      for (const name of names) connectors.add(name);
    },
    close() {
      for (const key of Object.keys(sources) as (keyof ScrapeSources)[]) delete sources[key];
      registry.clear();
    },
  };
}
