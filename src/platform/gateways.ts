/**
 * Which gateways this deployment talks to, and how a payment picks one: connectors are built from
 * configuration (credentials present → connector enabled), and the routing rules of
 * ROUTING_CONFIG choose among them per payment. The sandbox is always available.
 */
import { isObolError, ObolError, type Clock } from '../kernel/index.js';
import type { Connector, ConnectorRegistry, RouteArgs, RouteChoice } from '../payments/index.js';
import { createBraintreeConnector } from '../payments/connectors/braintree/index.js';
import { createRazorpayConnector, sqlRazorpayJournal } from '../payments/connectors/razorpay/index.js';
import { createSandboxConnector, type SandboxOptions } from '../payments/connectors/sandbox/index.js';
import { createStripeConnector } from '../payments/connectors/stripe/index.js';
import { ConnectorUnavailableError, ConnectorUnknownOutcomeError } from '../payments/connectors/port.js';
import {
  allowRequest,
  authorizationRate,
  createAuthRate,
  createBreaker,
  DEFAULT_ROUTING_CONFIG,
  parseRoutingConfig,
  peekStatus,
  planRoute,
  recordAuthOutcome,
  recordResult,
  type AuthRateState,
  type BreakerState,
  type RoutingConfig,
} from '../payments/routing/index.js';
import { ConfigError, type Config } from './config.js';
import type { Db } from './db/index.js';
import { inSpan, SpanKind } from './observability/tracing.js';
import type { GatewayCallSample, GatewayHealthSample, GatewayOperation, GatewayOutcome } from './observability/metrics.js';

/** Every connector Obol has (enabled or not), for checking names in configuration. */
const KNOWN_CONNECTORS: readonly string[] = ['sandbox', 'stripe', 'braintree', 'razorpay'];

export interface Gateways {
  readonly sandbox: ReturnType<typeof createSandboxConnector>;
  readonly registry: ConnectorRegistry;
  /** Names of the enabled connectors, for logs and /readyz. */
  readonly enabled: readonly string[];
  /** This process's routing health per enabled connector (breaker, recent issuer decisions), for metrics. */
  health(): readonly GatewayHealthSample[];
}

/** Connector methods that call the gateway, by the operation name metrics report. */
const OPERATIONS: Readonly<Record<string, GatewayOperation>> = {
  authorize: 'authorize',
  resume: 'resume',
  capture: 'capture',
  void: 'void',
  refund: 'refund',
  savePaymentMethod: 'save_payment_method',
  chargeOffSession: 'charge_off_session',
  retrieve: 'retrieve',
};

/** What a connector's answer was, as a metrics outcome (and the decline reason, if declined). */
function outcomeOf(result: unknown): { readonly outcome: GatewayOutcome; readonly reason: string | null } {
  const r = result as { readonly status?: unknown; readonly decline?: { readonly reason?: unknown } } | null;
  switch (r?.status) {
    case 'succeeded':
    case 'requires_capture':
    case 'saved':
    // retrieve: the gateway answered the lookup
    case 'found':
    case 'not_found':
      return { outcome: 'approved', reason: null };
    case 'declined':
      return { outcome: 'declined', reason: typeof r.decline?.reason === 'string' ? r.decline.reason : null };
    case 'requires_action':
      return { outcome: 'requires_action', reason: null };
    case 'processing':
      return { outcome: 'pending', reason: null };
    default:
      return { outcome: 'error', reason: null };
  }
}

/**
 * The same connector, with every gateway call timed, traced (a client span) and its outcome
 * reported. Everything else (its name, a test gateway's challenge simulator) passes through
 * unchanged.
 */
export function instrumentConnector<C extends Connector>(connector: C, observe: (sample: GatewayCallSample) => void): C {
  // Keyed by the method itself, not its name: a method replaced on the connector (a test's fault
  // injection) is wrapped afresh instead of the old one being called.
  const wrapped = new WeakMap<object, unknown>();
  return new Proxy(connector, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      const cached = wrapped.get(value);
      if (cached !== undefined) return cached;
      const operation = typeof property === 'string' ? OPERATIONS[property] : undefined;
      const method = value as (...args: unknown[]) => unknown;
      const fn =
        operation === undefined
          ? method.bind(target)
          : (...args: unknown[]) =>
              inSpan(`gateway ${target.name} ${operation}`, { kind: SpanKind.CLIENT, attributes: { 'obol.gateway.connector': target.name, 'obol.gateway.operation': operation } }, async (span) => {
                const started = performance.now();
                const report = (outcome: GatewayOutcome, reason: string | null) => {
                  // A decline is the gateway's answer, not a failed call: the span stays OK.
                  span.setAttribute('obol.gateway.outcome', outcome);
                  if (reason !== null) span.setAttribute('obol.gateway.decline_reason', reason);
                  try {
                    observe({ connector: target.name, operation, outcome, reason, seconds: (performance.now() - started) / 1000 });
                  } catch {
                    // Metrics never change a payment's course.
                  }
                };
                try {
                  const result = await method.apply(target, args);
                  const { outcome, reason } = outcomeOf(result);
                  report(outcome, reason);
                  return result;
                } catch (err) {
                  report(err instanceof ConnectorUnavailableError ? 'unavailable' : err instanceof ConnectorUnknownOutcomeError ? 'unknown' : 'error', null);
                  throw err;
                }
              });
      wrapped.set(value, fn);
      return fn;
    },
  });
}

/** A simulator's (or proxy's) base URL as the SDKs want it: host, port, TLS. */
function endpointOf(url: string): { readonly host: string; readonly port: number; readonly ssl: boolean } {
  const u = new URL(url);
  const ssl = u.protocol === 'https:';
  return { host: u.hostname, port: Number(u.port || (ssl ? 443 : 80)), ssl };
}

/** ROUTING_CONFIG, checked at start like every other setting: each mistake named, nothing started. */
function loadRouting(json: string | null, enabled: readonly string[]): RoutingConfig {
  if (json === null) return DEFAULT_ROUTING_CONFIG;
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw new ConfigError(['ROUTING_CONFIG: is not valid JSON']);
  }
  let routing: RoutingConfig;
  try {
    routing = parseRoutingConfig(parsed);
  } catch (err) {
    if (isObolError(err)) throw new ConfigError([`ROUTING_CONFIG: ${err.message}${err.details?.field ? ` (at ${String(err.details.field)})` : ''}`]);
    throw err;
  }
  const problems = routing.rules.flatMap((rule) =>
    rule.connectors
      .filter(({ connector }) => !enabled.includes(connector))
      .map(({ connector }) => `ROUTING_CONFIG: rule "${rule.id}" names connector "${connector}", which is not configured (enabled: ${enabled.join(', ')})`),
  );
  if (problems.length > 0) throw new ConfigError(problems);
  return routing;
}

export function buildGateways(args: {
  readonly config: Config;
  readonly db: Db;
  readonly clock: Clock;
  readonly sandboxOptions?: SandboxOptions;
  /** Told about every gateway call (duration, outcome), for metrics. */
  readonly observeCall?: (sample: GatewayCallSample) => void;
}): Gateways {
  const { config, db, clock } = args;
  const sandbox = createSandboxConnector({
    db,
    clock,
    options: args.sandboxOptions ?? { latencyMs: config.sandboxLatencyMs, failureRate: config.sandboxFailureRate, timeoutRate: config.sandboxTimeoutRate },
  });
  const connectors = new Map<string, Connector>([[sandbox.name, sandbox]]);

  if (config.stripeSecretKey !== null) {
    const url = config.stripeApiUrl === null ? null : endpointOf(config.stripeApiUrl);
    connectors.set(
      'stripe',
      createStripeConnector({
        secretKey: config.stripeSecretKey,
        ...(url ? { host: url.host, port: url.port, protocol: url.ssl ? 'https' : 'http' } : {}),
      }),
    );
  }
  if (config.braintreeMerchantId !== null && config.braintreePublicKey !== null && config.braintreePrivateKey !== null) {
    const env = config.braintreeEnvironment;
    const url = env === 'sandbox' || env === 'production' ? null : endpointOf(env);
    connectors.set(
      'braintree',
      createBraintreeConnector({
        merchantId: config.braintreeMerchantId,
        publicKey: config.braintreePublicKey,
        privateKey: config.braintreePrivateKey,
        environment: url ?? (env as 'sandbox' | 'production'),
      }),
    );
  }
  if (config.razorpayKeyId !== null && config.razorpayKeySecret !== null) {
    connectors.set(
      'razorpay',
      createRazorpayConnector({
        keyId: config.razorpayKeyId,
        keySecret: config.razorpayKeySecret,
        journal: sqlRazorpayJournal({ db, clock }),
        ...(config.razorpayApiUrl ? { baseUrl: config.razorpayApiUrl } : {}),
      }),
    );
  }

  const observeCall = args.observeCall;
  if (observeCall) for (const [name, connector] of connectors) connectors.set(name, instrumentConnector(connector, observeCall));

  const routing = loadRouting(config.routingConfig, [...connectors.keys()]);
  const unknownAcquirers = Object.keys(config.acquirerCountries).filter((name) => !KNOWN_CONNECTORS.includes(name));
  if (unknownAcquirers.length > 0) {
    throw new ConfigError(unknownAcquirers.map((name) => `ACQUIRER_COUNTRIES: "${name}" is not a connector (connectors: ${KNOWN_CONNECTORS.join(', ')})`));
  }

  // Health is per process: each copy of Obol learns from its own calls, which is enough for a
  // breaker (a dead gateway is seen by every copy within a few calls) and for an authorization
  // rate over the last minutes of its own traffic.
  const health = new Map<string, { readonly breaker: BreakerState; readonly authRate: AuthRateState }>();
  const breakerOf = (name: string) => health.get(name)?.breaker ?? createBreaker();
  const authRateOf = (name: string) => health.get(name)?.authRate ?? createAuthRate();

  const choose = (request: RouteArgs, tried: readonly string[]): RouteChoice | undefined => {
    const now = clock.now();
    const plan = planRoute({
      config: routing,
      request: { paymentId: request.paymentId, country: request.customerCountry, currency: request.currency, amount: request.amount, paymentMethodKind: request.paymentMethod },
      health,
      now,
    });
    for (const name of plan.connectors) {
      if (tried.includes(name)) continue;
      const connector = connectors.get(name);
      if (!connector) continue;
      const gate = allowRequest(breakerOf(name), now);
      health.set(name, { breaker: gate.state, authRate: authRateOf(name) });
      if (!gate.allowed) continue;
      const why = tried.length === 0 ? plan.explanation.join('; ') : `failover after ${tried.join(', ')}: ${plan.explanation.at(-1) ?? ''}`;
      return { connector, reason: why.slice(0, 1000) };
    }
    return undefined;
  };

  const registry: ConnectorRegistry = {
    get: (name) => connectors.get(name),
    route(request) {
      const choice = choose(request, []);
      // A payment no rule accepts (or every breaker open) is a configuration or outage problem,
      // not the learner's: it surfaces as the gateway being unavailable.
      if (!choice) throw new ObolError('GATEWAY_UNAVAILABLE', 'No payment gateway can take this payment right now; try again shortly.');
      return choice;
    },
    next: ({ tried, ...request }) => choose(request, tried),
    recordCall({ connector, ok, authorization }) {
      const now = clock.now();
      const authRate = authorization === undefined ? authRateOf(connector) : recordAuthOutcome({ state: authRateOf(connector), outcome: authorization, now });
      health.set(connector, { breaker: recordResult(breakerOf(connector), { ok, now }), authRate });
    },
  };
  const healthSnapshot = (): readonly GatewayHealthSample[] => {
    const now = clock.now();
    return [...connectors.keys()].map((connector) => {
      const rate = authorizationRate({ state: authRateOf(connector), now });
      return { connector, circuitOpen: peekStatus(breakerOf(connector), now).status === 'open', authorized: rate.authorized, declined: rate.declined };
    });
  };
  return { sandbox, registry, enabled: [...connectors.keys()], health: healthSnapshot };
}
