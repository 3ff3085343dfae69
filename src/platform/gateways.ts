/**
 * Which gateways this deployment talks to, and how a payment picks one: connectors are built from
 * configuration (credentials present → connector enabled), and the routing rules of
 * ROUTING_CONFIG choose among them per payment. The sandbox is always available.
 */
import { isObolError, type Clock } from '../kernel/index.js';
import type { Connector, ConnectorRegistry } from '../payments/index.js';
import { createBraintreeConnector } from '../payments/connectors/braintree/index.js';
import { createRazorpayConnector } from '../payments/connectors/razorpay/index.js';
import { createSandboxConnector, type SandboxOptions } from '../payments/connectors/sandbox/index.js';
import { createStripeConnector } from '../payments/connectors/stripe/index.js';
import { DEFAULT_ROUTING_CONFIG, parseRoutingConfig, planRoute, type RoutingConfig } from '../payments/routing/index.js';
import { ConfigError, type Config } from './config.js';
import type { Db } from './db/index.js';

export interface Gateways {
  readonly sandbox: ReturnType<typeof createSandboxConnector>;
  readonly registry: ConnectorRegistry;
  /** Names of the enabled connectors, for logs and /readyz. */
  readonly enabled: readonly string[];
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

export function buildGateways(args: { readonly config: Config; readonly db: Db; readonly clock: Clock; readonly sandboxOptions?: SandboxOptions }): Gateways {
  const { config, db, clock } = args;
  const sandbox = createSandboxConnector({
    db,
    clock,
    options: args.sandboxOptions ?? { latencyMs: config.sandboxLatencyMs, failureRate: config.sandboxFailureRate, timeoutRate: config.sandboxTimeoutRate },
  });
  const connectors = new Map<string, Connector>([[sandbox.name, sandbox]]);

  if (config.stripeSecretKey !== null) {
    const url = config.stripeApiUrl === null ? null : new URL(config.stripeApiUrl);
    connectors.set(
      'stripe',
      createStripeConnector({
        secretKey: config.stripeSecretKey,
        ...(url ? { host: url.hostname, port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)), protocol: url.protocol === 'https:' ? 'https' : 'http' } : {}),
      }),
    );
  }
  if (config.braintreeMerchantId !== null && config.braintreePublicKey !== null && config.braintreePrivateKey !== null) {
    const env = config.braintreeEnvironment;
    const url = env === 'sandbox' || env === 'production' ? null : new URL(env);
    connectors.set(
      'braintree',
      createBraintreeConnector({
        merchantId: config.braintreeMerchantId,
        publicKey: config.braintreePublicKey,
        privateKey: config.braintreePrivateKey,
        environment: url ? { host: url.hostname, port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)), ssl: url.protocol === 'https:' } : (env as 'sandbox' | 'production'),
      }),
    );
  }
  if (config.razorpayKeyId !== null && config.razorpayKeySecret !== null) {
    connectors.set('razorpay', createRazorpayConnector({ keyId: config.razorpayKeyId, keySecret: config.razorpayKeySecret, ...(config.razorpayApiUrl ? { baseUrl: config.razorpayApiUrl } : {}) }));
  }

  const routing = loadRouting(config.routingConfig, [...connectors.keys()]);

  const registry: ConnectorRegistry = {
    get: (name) => connectors.get(name),
    route(request) {
      const plan = planRoute({
        config: routing,
        request: { paymentId: request.paymentId, country: request.customerCountry, currency: request.currency, amount: request.amount, paymentMethodKind: request.paymentMethod },
        health: new Map(),
        now: clock.now(),
      });
      const first = plan.connectors[0];
      const connector = first === undefined ? undefined : connectors.get(first);
      // A payment no rule accepts is a configuration gap, not the learner's fault.
      if (!connector) throw new Error(`no connector can take this payment: ${plan.explanation.join('; ')}`);
      return connector;
    },
  };
  return { sandbox, registry, enabled: [...connectors.keys()] };
}
