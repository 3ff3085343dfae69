/**
 * Configuration comes only from environment variables, is validated once at start, and is
 * immutable afterwards. The VARIABLES table below is the single source for parsing, defaults,
 * the README's configuration table and `obol --help` (through CONFIG_REFERENCE).
 *
 * Every mistake is reported at once, so a deploy is fixed in one round trip rather than one
 * variable per restart.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { parseDatabaseUrl, type DatabaseLocation } from './db/index.js';
// The pure domain file only (not the context's face, which pulls in storage): one list of exhaustion policies.
import { DUNNING_EXHAUSTIONS, policyProblem, type DunningExhaustion } from '../subscriptions/domain/dunning.js';

export const NODE_ENVS = ['development', 'test', 'production'] as const;
export type NodeEnv = (typeof NODE_ENVS)[number];

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The parts of Obol whose log level can be set apart (LOG_MODULE_LEVELS); each line names its module. */
export const LOG_MODULES = ['http', 'graphql', 'grpc', 'webhooks', 'payments', 'subscriptions', 'jobs', 'events', 'worker', 'ops'] as const;
export type LogModule = (typeof LOG_MODULES)[number];

export const TRACES_EXPORTERS = ['none', 'otlp', 'console'] as const;
export type TracesExporter = (typeof TRACES_EXPORTERS)[number];

/** Every role the design declares; see DESIGN.md "Shape". */
export const ROLES = ['api', 'grpc', 'worker'] as const;
export type Role = (typeof ROLES)[number];

/** The roles this build can actually run; the rest are refused rather than silently ignored. */
export const AVAILABLE_ROLES = ['api', 'grpc', 'worker'] as const satisfies readonly Role[];

export interface Config {
  readonly nodeEnv: NodeEnv;
  readonly port: number;
  readonly host: string;
  /** The grpc role's port and listen address. */
  readonly grpcPort: number;
  readonly grpcHost: string;
  /** Port of the ops listener (/healthz, /readyz, /metrics) of a process without the api role. */
  readonly opsPort: number;
  /** As given; may hold a password, so log `redactConfig(config)` instead. */
  readonly databaseUrl: string;
  /** `databaseUrl` parsed, ready for `openDatabase`. */
  readonly database: DatabaseLocation;
  readonly logLevel: LogLevel;
  /** Levels of single modules, overriding logLevel for their lines. */
  readonly logModuleLevels: Readonly<Partial<Record<LogModule, LogLevel>>>;
  /** Where spans go: none (ids only, for logs and events), otlp, or console. */
  readonly tracesExporter: TracesExporter;
  readonly otlpTracesEndpoint: string;
  /** Secret: may hold a vendor's API key. */
  readonly otlpHeaders: Readonly<Record<string, string>>;
  /** Share of new traces recorded (0..1); a caller's sampling decision is followed. */
  readonly tracesSampleRatio: number;
  readonly serviceName: string;
  readonly roles: readonly Role[];
  readonly checkoutSessionTtlSeconds: number;
  readonly paymentMaxFailedAttempts: number;
  readonly reconcileAfterSeconds: number;
  readonly workerPollIntervalMs: number;
  /** Where the worker publishes events and where consumers read them. */
  readonly eventBus: EventBusKind;
  /** Bootstrap brokers (`host:port`); required with EVENT_BUS=kafka. */
  readonly kafkaBrokers: readonly string[];
  readonly kafkaClientId: string;
  readonly kafkaTopicPartitions: number;
  /** Where the entitlement read model (the access check's rows) lives. */
  readonly entitlementReadModel: StoreBackend;
  /** Where idempotency keys and their responses live. */
  readonly idempotencyStore: StoreBackend;
  /** null: the AWS default endpoint of the region. */
  readonly dynamoDbEndpoint: string | null;
  /** Required when any store is `dynamodb`. */
  readonly dynamoDbRegion: string | null;
  readonly dynamoDbTablePrefix: string;
  readonly sandboxLatencyMs: number;
  readonly sandboxFailureRate: number;
  readonly sandboxTimeoutRate: number;
  readonly graphqlMaxDepth: number;
  readonly graphqlMaxCost: number;
  readonly graphqlMaxAliases: number;
  readonly bodyLimitBytes: number;
  readonly requestTimeoutMs: number;
  readonly shutdownTimeoutMs: number;
  readonly seedDemoCatalog: boolean;
  readonly graphiql: boolean;
  /** development: a local signing key and `obol token`; jwks: tokens from your identity provider. */
  readonly authMode: AuthMode;
  readonly authJwksUrl: string | null;
  readonly authJwksFile: string | null;
  readonly authIssuer: string;
  readonly authAudience: string;
  readonly authClockSkewSeconds: number;
  /** Where development mode keeps its generated signing key. */
  readonly authDevKeyFile: string;
  /** The most a `support` user may refund in one refund, per currency (minor units). */
  readonly supportRefundLimits: Readonly<Record<string, number>>;
  /** Acquirer country per connector name, for SCA. */
  readonly acquirerCountries: Readonly<Record<string, string>>;
  readonly rateLimitCheckoutPerCustomerPerMinute: number;
  readonly rateLimitCheckoutPerIpPerMinute: number;
  readonly cardTestingMaxFailures: number;
  readonly cardTestingWindowSeconds: number;
  readonly cardTestingBlockSeconds: number;
  /** Days after a renewal's first failure on which dunning retries it (soft declines). */
  readonly dunningRetryDays: readonly number[];
  /** Days after the first failure that access stays and retries may run; then dunning is exhausted. */
  readonly dunningGraceDays: number;
  readonly dunningOnExhausted: DunningExhaustion;
  readonly invoiceNumberPrefix: string;
  readonly subscriptionIncompleteExpiryHours: number;
  /** Whether admins may create and advance test clocks. */
  readonly testClocks: boolean;
  /** Whether X-Forwarded-For from a proxy in front of Obol decides the client IP. */
  readonly trustProxy: boolean;
  /** `kid:base64key,…` (first one encrypts); secret: never printed. Null in development (a local key file is used). */
  readonly encryptionKeys: string | null;
  readonly encryptionKeysFile: string | null;
  /** Where development mode keeps its generated encryption key. */
  readonly devEncryptionKeyFile: string;
  /** Secret. Stripe webhook signing secrets; several during rotation. */
  readonly stripeWebhookSecrets: readonly string[];
  /** Secret. Braintree API key pairs that sign webhooks; several during rotation. */
  readonly braintreeWebhookKeys: readonly { readonly publicKey: string; readonly privateKey: string }[];
  /** Secret. Razorpay webhook secrets; several during rotation. */
  readonly razorpayWebhookSecrets: readonly string[];
  /** Secret. Enables the Stripe connector. */
  readonly stripeSecretKey: string | null;
  /** Where Stripe's API is (a local stripe-mock or simulator in tests); null = api.stripe.com. */
  readonly stripeApiUrl: string | null;
  readonly braintreeMerchantId: string | null;
  readonly braintreePublicKey: string | null;
  /** Secret. With the merchant id and public key, enables the Braintree connector. */
  readonly braintreePrivateKey: string | null;
  /** sandbox | production | a URL of a local simulator. */
  readonly braintreeEnvironment: string;
  readonly razorpayKeyId: string | null;
  /** Secret. With the key id, enables the Razorpay connector. */
  readonly razorpayKeySecret: string | null;
  readonly razorpayApiUrl: string | null;
  /** Routing rules as JSON (see payments/routing/rules.ts); null = everything to the sandbox. */
  readonly routingConfig: string | null;
}

export const AUTH_MODES = ['development', 'jwks'] as const;
export type AuthMode = (typeof AUTH_MODES)[number];

export class ConfigError extends Error {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(`Invalid configuration (${problems.length} ${problems.length === 1 ? 'problem' : 'problems'}):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export const REDACTED = '[redacted]';

/**
 * Hides the password of a URL-like string, and query parameters that look like credentials.
 * Works on text rather than `new URL`, so it also hides passwords in malformed URLs (those are
 * the ones echoed back in error messages). When unsure where the user-info ends it hides more.
 */
export function redactUrlCredentials(url: string): string {
  let out = url;
  const schemeEnd = out.indexOf('://');
  const authorityStart = schemeEnd >= 0 ? schemeEnd + 3 : 0;
  const at = out.lastIndexOf('@');
  if (at > authorityStart) {
    const userInfo = out.slice(authorityStart, at);
    const colon = userInfo.indexOf(':');
    if (colon >= 0) out = `${out.slice(0, authorityStart)}${userInfo.slice(0, colon)}:${REDACTED}${out.slice(at)}`;
  }
  return out.replace(/([?&][^=&#]*(?:pass|pwd|secret|token|key)[^=&#]*=)[^&#]*/gi, `$1${REDACTED}`);
}


type ConfigValues = Omit<Config, 'database'>;
type VariableKey = keyof ConfigValues;

interface Variable<T> {
  readonly name: string;
  /** Shown in the reference; also the raw value parsed when the variable is unset, unless `derive` is given. */
  readonly default: string;
  readonly description: string;
  readonly schema: z.ZodType<T, string>;
  /** A default that depends on other settings; receives those parsed so far (absent if invalid). */
  readonly derive?: (resolved: Partial<ConfigValues>) => T;
  /** How to show the raw value in an error message without leaking a secret. */
  readonly echo?: (raw: string) => string;
}

/** Records the problem; the caller returns the result so one mistake yields one message. */
function fail(ctx: z.RefinementCtx<string>, message: string): never {
  ctx.addIssue({ code: 'custom', message });
  return z.NEVER;
}

function oneOf<const T extends readonly string[]>(values: T): z.ZodType<T[number], string> {
  return z.string().transform((raw, ctx): T[number] => {
    if ((values as readonly string[]).includes(raw)) return raw;
    return fail(ctx, `must be one of ${values.join(', ')}`);
  });
}

/** Whole numbers only: "12abc", "1e3", "0x10", " 12" and "12.0" are all mistakes worth reporting. */
function integer(min: number, max: number, unit = ''): z.ZodType<number, string> {
  const what = unit === '' ? 'a whole number' : `a whole number of ${unit}`;
  return z.string().transform((raw, ctx) => {
    const n = /^-?\d{1,15}$/.test(raw) ? Number(raw) : Number.NaN;
    if (!(n >= min && n <= max)) return fail(ctx, `must be ${what} from ${min} to ${max}`);
    return n;
  });
}

function probability(): z.ZodType<number, string> {
  return z.string().transform((raw, ctx) => {
    const n = /^(?:\d+(?:\.\d+)?|\.\d+)$/.test(raw) ? Number(raw) : Number.NaN;
    if (!(n >= 0 && n <= 1)) return fail(ctx, 'must be a probability from 0 to 1, such as 0.05');
    return n;
  });
}

function flag(): z.ZodType<boolean, string> {
  return z.string().transform((raw, ctx) => {
    if (raw === 'true') return true;
    if (raw === 'false') return false;
    return fail(ctx, 'must be true or false');
  });
}

const host = z.string().transform((raw, ctx) => {
  if (raw.includes('://')) return fail(ctx, 'must be a host name or IP address to listen on, not a URL');
  if (!/^(?:[\w.-]+|\[?[0-9A-Fa-f:.]+(?:%[\w.-]+)?\]?)$/.test(raw)) return fail(ctx, 'must be a host name or IP address to listen on');
  return raw.startsWith('[') && raw.endsWith(']') ? raw.slice(1, -1) : raw;
});

const databaseUrl = z.string().transform((raw, ctx) => {
  if (!/^(?:sqlite:|mysql:\/\/|mariadb:\/\/)/.test(raw)) return fail(ctx, 'must start with sqlite:, mysql:// or mariadb://');
  if (parseDatabaseUrl(raw) === undefined) {
    if (raw.startsWith('sqlite:')) return fail(ctx, 'must name a file after sqlite:, such as sqlite:./data/obol.db (or sqlite::memory:)');
    return fail(ctx, 'must be a valid URL naming a database, such as mysql://user:password@127.0.0.1:3306/obol');
  }
  return raw;
});

const nonEmpty = (what: string) =>
  z.string().transform((raw, ctx) => {
    if (raw.trim() === '') return fail(ctx, `must be ${what}`);
    return raw.trim();
  });

/** "1,3,5,7": strictly increasing whole days from 1 to 60; "none": no retries. */
const retryDays = z.string().transform((raw, ctx): readonly number[] => {
  if (raw.trim() === 'none') return [];
  const parts = raw.split(',').map((p) => p.trim());
  const days = parts.map((p) => (/^\d{1,2}$/.test(p) ? Number(p) : Number.NaN));
  if (days.some((d) => !(d >= 1 && d <= 60))) return fail(ctx, 'must be comma-separated whole days from 1 to 60, such as 1,3,5,7');
  if (days.some((d, i) => i > 0 && d <= days[i - 1]!)) return fail(ctx, 'must list days in increasing order, such as 1,3,5,7');
  return days;
});

const optionalText = z.string().transform((raw): string | null => (raw.trim() === '' ? null : raw.trim()));

const httpsUrl = z.string().transform((raw, ctx): string | null => {
  if (raw.trim() === '') return null;
  try {
    const u = new URL(raw);
    if (u.protocol !== 'https:' && !(u.protocol === 'http:' && (u.hostname === '127.0.0.1' || u.hostname === 'localhost'))) {
      return fail(ctx, 'must be an https:// URL (http:// only for localhost)');
    }
    return u.toString();
  } catch {
    return fail(ctx, 'must be a URL such as https://login.example.com/.well-known/jwks.json');
  }
});

const optionalUrl = z.string().transform((raw, ctx): string | null => {
  if (raw.trim() === '') return null;
  try {
    const u = new URL(raw.trim());
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return fail(ctx, 'must be an http(s):// URL');
    return u.toString().replace(/\/$/, '');
  } catch {
    return fail(ctx, 'must be a URL such as http://127.0.0.1:12111');
  }
});

const braintreeEnvironment = z.string().transform((raw, ctx): string => {
  if (raw === 'sandbox' || raw === 'production') return raw;
  try {
    const u = new URL(raw);
    if (u.protocol === 'http:' || u.protocol === 'https:') return u.toString().replace(/\/$/, '');
  } catch {
    /* reported below */
  }
  return fail(ctx, 'must be sandbox, production, or the http(s):// URL of a simulator');
});

/** A comma-separated list of secrets (rotation: old and new side by side). */
const secretList = z.string().transform((raw): readonly string[] => Object.freeze(raw.split(',').map((v) => v.trim()).filter((v) => v !== '')));

/** `publicKey:privateKey,publicKey2:privateKey2`. */
const keyPairs = z.string().transform((raw, ctx): readonly { readonly publicKey: string; readonly privateKey: string }[] => {
  const out: { readonly publicKey: string; readonly privateKey: string }[] = [];
  for (const part of raw.split(',').map((v) => v.trim()).filter((v) => v !== '')) {
    const [publicKey, privateKey, ...rest] = part.split(':');
    if (!publicKey || !privateKey || rest.length > 0) return fail(ctx, 'must be a comma-separated list of publicKey:privateKey pairs');
    out.push(Object.freeze({ publicKey, privateKey }));
  }
  return Object.freeze(out);
});

/** `USD:10000,EUR:10000,JPY:15000`: minor units per ISO 4217 currency. */
const refundLimits = z.string().transform((raw, ctx): Readonly<Record<string, number>> => {
  const out: Record<string, number> = {};
  if (raw.trim() === '') return Object.freeze(out);
  for (const part of raw.split(',')) {
    const m = /^\s*([A-Z]{3}):(\d{1,15})\s*$/.exec(part);
    if (!m) return fail(ctx, 'must be a comma-separated list of CURRENCY:minor-units, such as USD:10000,EUR:10000');
    out[m[1]!] = Number(m[2]);
  }
  return Object.freeze(out);
});

export const EVENT_BUS_KINDS = ['inprocess', 'kafka'] as const;
export type EventBusKind = (typeof EVENT_BUS_KINDS)[number];

const kafkaBrokerList = z.string().transform((raw, ctx): readonly string[] => {
  if (raw.trim() === '') return Object.freeze([]);
  const brokers = raw.split(',').map((b) => b.trim());
  if (brokers.some((b) => !/^[A-Za-z0-9.-]{1,253}:\d{1,5}$/.test(b))) return fail(ctx, 'must be a comma-separated list of host:port, such as kafka-1:9092,kafka-2:9092');
  return Object.freeze(brokers);
});

/** Where a store that may leave the system-of-record database lives. */
export const STORE_BACKENDS = ['sql', 'dynamodb'] as const;
export type StoreBackend = (typeof STORE_BACKENDS)[number];

const awsRegion = z.string().transform((raw, ctx): string | null => {
  if (raw.trim() === '') return null;
  if (!/^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$/.test(raw.trim())) return fail(ctx, 'must be an AWS region such as eu-west-1');
  return raw.trim();
});

/** DynamoDB table names are 3–255 of [A-Za-z0-9_.-]; the prefix leaves room for ours. */
const tablePrefix = z.string().transform((raw, ctx): string => {
  if (!/^[A-Za-z0-9_.-]{1,200}$/.test(raw)) return fail(ctx, 'must be up to 200 letters, digits, _, . or -');
  return raw;
});

/** `connector:CC,…`, where CC is an ISO 3166-1 alpha-2 country. */
const acquirerCountries = z.string().transform((raw, ctx): Readonly<Record<string, string>> => {
  const out: Record<string, string> = {};
  if (raw.trim() === 'none') return Object.freeze(out);
  for (const part of raw.split(',')) {
    const m = /^\s*([a-z][a-z0-9_]{0,39}):([A-Z]{2})\s*$/.exec(part);
    if (!m) return fail(ctx, 'must be a comma-separated list of connector:COUNTRY, such as stripe:IE,braintree:NL');
    out[m[1]!] = m[2]!;
  }
  return Object.freeze(out);
});

const logModuleLevels = z.string().transform((raw, ctx): Readonly<Partial<Record<LogModule, LogLevel>>> => {
  const out: Partial<Record<LogModule, LogLevel>> = {};
  if (raw.trim() === '' || raw.trim() === 'none') return Object.freeze(out);
  for (const part of raw.split(',')) {
    const m = /^\s*([a-z]+)\s*=\s*([a-z]+)\s*$/.exec(part);
    if (!m) return fail(ctx, 'must be a comma-separated list of module=level, such as payments=debug,events=warn');
    const [, module, level] = m as unknown as [string, string, string];
    if (!(LOG_MODULES as readonly string[]).includes(module)) return fail(ctx, `has an unknown module "${module}" (modules: ${LOG_MODULES.join(', ')})`);
    if (!(LOG_LEVELS as readonly string[]).includes(level)) return fail(ctx, `has an unknown level "${level}" for ${module} (levels: ${LOG_LEVELS.join(', ')})`);
    out[module as LogModule] = level as LogLevel;
  }
  return Object.freeze(out);
});

/** OTEL_EXPORTER_OTLP_HEADERS: `key=value,key=value`, values URL-encoded (the OpenTelemetry convention). */
const otlpHeaders = z.string().transform((raw, ctx): Readonly<Record<string, string>> => {
  const out: Record<string, string> = {};
  if (raw.trim() === '') return Object.freeze(out);
  for (const part of raw.split(',')) {
    const eq = part.indexOf('=');
    const key = part.slice(0, eq).trim();
    if (eq <= 0 || !/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(key)) return fail(ctx, 'must be a comma-separated list of header=value');
    try {
      out[key.toLowerCase()] = decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      return fail(ctx, `has a value for ${key} that is not valid URL encoding`);
    }
  }
  return Object.freeze(out);
});

const httpUrl = z.string().transform((raw, ctx) => {
  try {
    const u = new URL(raw);
    if (u.protocol === 'http:' || u.protocol === 'https:') return raw;
  } catch {
    // reported below
  }
  return fail(ctx, 'must be an http:// or https:// URL');
});

const roles = z.string().transform((raw, ctx): readonly Role[] => {
  const names = raw.split(',').map((r) => r.trim());
  const problems: string[] = [];
  const chosen: Role[] = [];
  for (const name of names) {
    if (name === '') {
      problems.push('has an empty entry');
    } else if (!(ROLES as readonly string[]).includes(name)) {
      problems.push(`has an unknown role "${name}" (roles: ${AVAILABLE_ROLES.join(', ')})`);
    } else if (!(AVAILABLE_ROLES as readonly string[]).includes(name)) {
      problems.push(`asks for the ${name} role, which is not available yet in this version (available: ${AVAILABLE_ROLES.join(', ')})`);
    } else if (!chosen.includes(name as Role)) {
      chosen.push(name as Role);
    }
  }
  for (const p of problems) ctx.addIssue({ code: 'custom', message: p });
  return chosen;
});

/** Keyed by Config field, so the compiler checks that every field has exactly one variable. */
const VARIABLES: { readonly [K in VariableKey]: Variable<ConfigValues[K]> } = {
  nodeEnv: {
    name: 'NODE_ENV',
    default: 'development',
    description: `Deployment environment: ${NODE_ENVS.join(', ')}.`,
    schema: oneOf(NODE_ENVS),
  },
  port: {
    name: 'PORT',
    default: '4000',
    description: 'TCP port of the HTTP server (api role); 0 picks a free port.',
    schema: integer(0, 65535),
  },
  host: {
    name: 'HOST',
    default: '0.0.0.0',
    description: 'Address the HTTP server listens on.',
    schema: host,
  },
  grpcPort: {
    name: 'GRPC_PORT',
    default: '50051',
    description: 'TCP port of the internal gRPC server (grpc role); 0 picks a free port.',
    schema: integer(0, 65535),
  },
  grpcHost: {
    name: 'GRPC_HOST',
    default: '0.0.0.0',
    description: 'Address the gRPC server listens on (an internal network only: it serves other back-end services).',
    schema: host,
  },
  opsPort: {
    name: 'OPS_PORT',
    default: '9464',
    description: 'TCP port (on HOST) of /healthz, /readyz and /metrics for a process without the api role (--roles worker, --roles grpc); the api role serves them on PORT. 0 picks a free port.',
    schema: integer(0, 65535),
  },
  databaseUrl: {
    name: 'DATABASE_URL',
    default: 'sqlite:./data/obol.db',
    description: 'System of record: sqlite:<file>, mysql://user:password@host:port/database or mariadb://…; or give DATABASE_URL_FILE, a file holding it (a mounted secret).',
    schema: databaseUrl,
    echo: redactUrlCredentials,
  },
  logLevel: {
    name: 'LOG_LEVEL',
    default: 'info',
    description: `Least severe log level written: ${LOG_LEVELS.join(', ')}.`,
    schema: oneOf(LOG_LEVELS),
  },
  logModuleLevels: {
    name: 'LOG_MODULE_LEVELS',
    default: '',
    description: `Levels for single modules, overriding LOG_LEVEL for their lines: module=level pairs, such as payments=debug,events=warn. Modules: ${LOG_MODULES.join(', ')}.`,
    schema: logModuleLevels,
  },
  tracesExporter: {
    name: 'OTEL_TRACES_EXPORTER',
    default: 'none',
    description: `Where OpenTelemetry spans go: ${TRACES_EXPORTERS.join(', ')}. With none, trace ids are still made and propagated (logs, Kafka headers) but no span is recorded.`,
    schema: oneOf(TRACES_EXPORTERS),
  },
  otlpTracesEndpoint: {
    name: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
    default: 'http://localhost:4318/v1/traces',
    description: 'OTLP over HTTP (JSON) traces endpoint of the collector, with OTEL_TRACES_EXPORTER=otlp.',
    schema: httpUrl,
  },
  otlpHeaders: {
    name: 'OTEL_EXPORTER_OTLP_HEADERS',
    default: '',
    description: 'Headers sent with every OTLP export, as key=value pairs (a vendor API key); secret, never printed.',
    schema: otlpHeaders,
    echo: () => REDACTED,
  },
  tracesSampleRatio: {
    name: 'OTEL_TRACES_SAMPLER_ARG',
    default: '1',
    description: "Share of new traces recorded, from 0 to 1; a caller's sampled flag (traceparent) is followed.",
    schema: probability(),
  },
  serviceName: {
    name: 'OTEL_SERVICE_NAME',
    default: 'obol-<role> for a process with one role (obol-api, obol-grpc, obol-worker), obol otherwise',
    description: 'service.name of the spans.',
    schema: z.string().transform((raw, ctx) => (/^[A-Za-z0-9._-]{1,64}$/.test(raw) ? raw : fail(ctx, 'must be 1 to 64 letters, digits, ., _ or -'))),
    derive: (resolved) => (resolved.roles?.length === 1 ? `obol-${resolved.roles[0]}` : 'obol'),
  },
  roles: {
    name: 'OBOL_ROLES',
    default: AVAILABLE_ROLES.join(','),
    description: `Comma-separated roles this process runs: ${AVAILABLE_ROLES.join(', ')}.`,
    schema: roles,
  },
  checkoutSessionTtlSeconds: {
    name: 'CHECKOUT_SESSION_TTL_SECONDS',
    default: '1800',
    description: 'How long a checkout session stays open.',
    schema: integer(60, 86_400, 'seconds'),
  },
  paymentMaxFailedAttempts: {
    name: 'PAYMENT_MAX_FAILED_ATTEMPTS',
    default: '5',
    description: 'Failed payment attempts allowed per checkout session before it refuses more.',
    schema: integer(1, 100),
  },
  reconcileAfterSeconds: {
    name: 'RECONCILE_AFTER_SECONDS',
    default: '30',
    description: 'Age after which an attempt with an unknown outcome is resolved by asking the gateway.',
    schema: integer(0, 86_400, 'seconds'),
  },
  workerPollIntervalMs: {
    name: 'WORKER_POLL_INTERVAL_MS',
    default: '500',
    description: 'How often the worker polls the outbox and its queues.',
    schema: integer(10, 60_000, 'milliseconds'),
  },
  eventBus: {
    name: 'EVENT_BUS',
    default: 'inprocess',
    description: 'Where events go: inprocess (one process, embedded) or kafka (the worker relays the outbox to Kafka; consumers run as Kafka consumer groups).',
    schema: oneOf(EVENT_BUS_KINDS),
  },
  kafkaBrokers: {
    name: 'KAFKA_BROKERS',
    default: '',
    description: 'Kafka bootstrap brokers, comma-separated host:port; required with EVENT_BUS=kafka.',
    schema: kafkaBrokerList,
  },
  kafkaClientId: {
    name: 'KAFKA_CLIENT_ID',
    default: 'obol',
    description: "Kafka client id prefix (consumer groups are named obol.<consumer>, whatever this is).",
    schema: nonEmpty('a client id'),
  },
  kafkaTopicPartitions: {
    name: 'KAFKA_TOPIC_PARTITIONS',
    default: '6',
    description: 'Partitions for the topics Obol creates when they are missing (existing topics are left alone).',
    schema: integer(1, 1000, 'partitions'),
  },
  entitlementReadModel: {
    name: 'ENTITLEMENT_READ_MODEL',
    default: 'sql',
    description: 'Where the entitlement read model behind the access check lives: sql (the main database) or dynamodb (a table per DYNAMODB_* settings, created at start when missing).',
    schema: oneOf(STORE_BACKENDS),
  },
  idempotencyStore: {
    name: 'IDEMPOTENCY_STORE',
    default: 'sql',
    description: "Where idempotency keys and their responses live: sql (the main database; a response commits with its effect) or dynamodb (recorded right after the effect commits; DynamoDB's TTL expires old keys).",
    schema: oneOf(STORE_BACKENDS),
  },
  dynamoDbEndpoint: {
    name: 'DYNAMODB_ENDPOINT',
    default: '',
    description: "DynamoDB's endpoint URL when it is not the AWS default of the region (DynamoDB Local in development and tests). Credentials come from the AWS SDK's default chain.",
    schema: optionalUrl,
  },
  dynamoDbRegion: {
    name: 'DYNAMODB_REGION',
    default: '',
    description: 'AWS region of the DynamoDB tables; required when a store is dynamodb.',
    schema: awsRegion,
  },
  dynamoDbTablePrefix: {
    name: 'DYNAMODB_TABLE_PREFIX',
    default: 'obol_',
    description: 'Prefix of the DynamoDB table names (obol_entitlement_access, obol_idempotency_keys), so environments can share an account.',
    schema: tablePrefix,
  },
  sandboxLatencyMs: {
    name: 'SANDBOX_LATENCY_MS',
    default: '0',
    description: 'Artificial latency of the sandbox gateway.',
    schema: integer(0, 60_000, 'milliseconds'),
  },
  sandboxFailureRate: {
    name: 'SANDBOX_FAILURE_RATE',
    default: '0',
    description: 'Probability (0 to 1) that a sandbox authorization is declined with a soft processing_error (fault tests).',
    schema: probability(),
  },
  sandboxTimeoutRate: {
    name: 'SANDBOX_TIMEOUT_RATE',
    default: '0',
    description: 'Probability (0 to 1) that a request the sandbox executed (authorize, capture, refund…) loses its answer, leaving the outcome unknown (fault tests).',
    schema: probability(),
  },
  graphqlMaxDepth: {
    name: 'GRAPHQL_MAX_DEPTH',
    default: '10',
    description: 'Deepest GraphQL selection accepted.',
    schema: integer(1, 100),
  },
  graphqlMaxCost: {
    name: 'GRAPHQL_MAX_COST',
    default: '5000',
    description: 'Highest estimated cost of a GraphQL operation accepted.',
    schema: integer(1, 1_000_000),
  },
  graphqlMaxAliases: {
    name: 'GRAPHQL_MAX_ALIASES',
    default: '15',
    description: 'Most aliases accepted in one GraphQL operation.',
    schema: integer(0, 1000),
  },
  bodyLimitBytes: {
    name: 'BODY_LIMIT_BYTES',
    default: '102400',
    description: 'Largest request body accepted.',
    schema: integer(1024, 100 * 1024 * 1024, 'bytes'),
  },
  requestTimeoutMs: {
    name: 'REQUEST_TIMEOUT_MS',
    default: '15000',
    description: 'Longest time an HTTP request may take before it is cut off.',
    schema: integer(100, 600_000, 'milliseconds'),
  },
  shutdownTimeoutMs: {
    name: 'SHUTDOWN_TIMEOUT_MS',
    default: '10000',
    description: 'Grace period for in-flight work on SIGTERM before the process exits anyway.',
    schema: integer(0, 600_000, 'milliseconds'),
  },
  seedDemoCatalog: {
    name: 'SEED_DEMO_CATALOG',
    default: 'true with SQLite, false otherwise',
    description: 'Load the demo catalog (products, prices, coupons) into an empty database at start.',
    schema: flag(),
    derive: (c) => c.databaseUrl?.startsWith('sqlite:') ?? false,
  },
  graphiql: {
    name: 'GRAPHIQL',
    default: 'true unless NODE_ENV=production',
    description: 'Serve the GraphiQL explorer on the GraphQL endpoint.',
    schema: flag(),
    derive: (c) => c.nodeEnv !== 'production',
  },
  authMode: {
    name: 'AUTH_MODE',
    default: 'development unless NODE_ENV=production, then jwks',
    description: 'development: Obol signs its own tokens with a generated local key (`obol token`); jwks: verify tokens from your identity provider. development refuses to run with NODE_ENV=production.',
    schema: oneOf(AUTH_MODES),
    derive: (c) => (c.nodeEnv === 'production' ? 'jwks' : 'development'),
  },
  authJwksUrl: {
    name: 'AUTH_JWKS_URL',
    default: '',
    description: "With AUTH_MODE=jwks: the identity provider's JWKS URL (keys are cached and refreshed on rotation).",
    schema: httpsUrl,
  },
  authJwksFile: {
    name: 'AUTH_JWKS_FILE',
    default: '',
    description: 'With AUTH_MODE=jwks: a JWKS JSON file instead of a URL.',
    schema: optionalText,
  },
  authIssuer: {
    name: 'AUTH_ISSUER',
    default: 'obol-dev',
    description: 'Required `iss` of every token.',
    schema: nonEmpty('the issuer your tokens carry'),
  },
  authAudience: {
    name: 'AUTH_AUDIENCE',
    default: 'obol',
    description: 'Required `aud` of every token.',
    schema: nonEmpty('the audience your tokens carry'),
  },
  authClockSkewSeconds: {
    name: 'AUTH_CLOCK_SKEW_SECONDS',
    default: '30',
    description: 'Tolerance for `exp` and `nbf` against clock drift between Obol and the token issuer.',
    schema: integer(0, 300, 'seconds'),
  },
  authDevKeyFile: {
    name: 'AUTH_DEV_KEY_FILE',
    default: './data/dev-signing-key.json',
    description: 'Development mode: where the generated signing key is kept (created on first start).',
    schema: nonEmpty('a file path'),
  },
  supportRefundLimits: {
    name: 'SUPPORT_REFUND_LIMITS',
    default: 'USD:10000,EUR:10000,GBP:10000,INR:1000000,JPY:15000',
    description: 'Largest single refund the support role may make, per currency in minor units; currencies not listed cannot be refunded by support.',
    schema: refundLimits,
  },
  rateLimitCheckoutPerCustomerPerMinute: {
    name: 'RATE_LIMIT_CHECKOUT_PER_CUSTOMER',
    default: '30',
    description: 'Checkout mutations one customer may make per minute.',
    schema: integer(1, 100_000),
  },
  rateLimitCheckoutPerIpPerMinute: {
    name: 'RATE_LIMIT_CHECKOUT_PER_IP',
    default: '120',
    description: 'Checkout mutations one client IP may make per minute.',
    schema: integer(1, 1_000_000),
  },
  cardTestingMaxFailures: {
    name: 'CARD_TESTING_MAX_FAILURES',
    default: '5',
    description: 'Failed payment confirmations per customer or per IP within the window that trigger a temporary block (card-testing defence).',
    schema: integer(1, 1000),
  },
  cardTestingWindowSeconds: {
    name: 'CARD_TESTING_WINDOW_SECONDS',
    default: '600',
    description: 'Window over which failed confirmations are counted.',
    schema: integer(10, 86_400, 'seconds'),
  },
  cardTestingBlockSeconds: {
    name: 'CARD_TESTING_BLOCK_SECONDS',
    default: '1800',
    description: 'How long a customer or IP stays blocked from confirming payments after tripping the card-testing defence.',
    schema: integer(10, 604_800, 'seconds'),
  },
  trustProxy: {
    name: 'TRUST_PROXY',
    default: 'false',
    description: 'true when Obol runs behind a load balancer that sets X-Forwarded-For; decides the client IP used for rate limits.',
    schema: flag(),
  },
  encryptionKeys: {
    name: 'ENCRYPTION_KEYS',
    default: '',
    description: 'Secret. Keys for personal data at rest: `kid:base64-of-32-bytes,…`; the first encrypts, all decrypt (rotation). In development a local key file is generated when unset.',
    schema: optionalText,
    echo: () => REDACTED,
  },
  encryptionKeysFile: {
    name: 'ENCRYPTION_KEYS_FILE',
    default: '',
    description: 'A file holding ENCRYPTION_KEYS (for secrets mounted as files).',
    schema: optionalText,
  },
  stripeWebhookSecrets: {
    name: 'STRIPE_WEBHOOK_SECRETS',
    default: '',
    description: 'Secret. Stripe webhook signing secrets (whsec_…), comma-separated: list the new one beside the old while rotating. Unset: /webhooks/stripe refuses every delivery.',
    schema: secretList,
    echo: () => REDACTED,
  },
  braintreeWebhookKeys: {
    name: 'BRAINTREE_WEBHOOK_KEYS',
    default: '',
    description: 'Secret. Braintree API key pairs that sign webhooks, as publicKey:privateKey, comma-separated for rotation.',
    schema: keyPairs,
    echo: () => REDACTED,
  },
  razorpayWebhookSecrets: {
    name: 'RAZORPAY_WEBHOOK_SECRETS',
    default: '',
    description: 'Secret. Razorpay webhook secrets, comma-separated for rotation.',
    schema: secretList,
    echo: () => REDACTED,
  },
  stripeSecretKey: {
    name: 'STRIPE_SECRET_KEY',
    default: '',
    description: 'Secret. A Stripe secret key (sk_live_… / sk_test_…); enables the stripe connector.',
    schema: optionalText,
    echo: () => REDACTED,
  },
  stripeApiUrl: {
    name: 'STRIPE_API_URL',
    default: '',
    description: "Stripe's API location when it is not api.stripe.com (a local simulator in tests).",
    schema: optionalUrl,
  },
  braintreeMerchantId: {
    name: 'BRAINTREE_MERCHANT_ID',
    default: '',
    description: 'Braintree merchant id; with the two keys below, enables the braintree connector.',
    schema: optionalText,
  },
  braintreePublicKey: {
    name: 'BRAINTREE_PUBLIC_KEY',
    default: '',
    description: 'Braintree API public key.',
    schema: optionalText,
  },
  braintreePrivateKey: {
    name: 'BRAINTREE_PRIVATE_KEY',
    default: '',
    description: 'Secret. Braintree API private key.',
    schema: optionalText,
    echo: () => REDACTED,
  },
  braintreeEnvironment: {
    name: 'BRAINTREE_ENVIRONMENT',
    default: 'sandbox',
    description: 'sandbox, production, or the http(s):// URL of a local simulator.',
    schema: braintreeEnvironment,
  },
  razorpayKeyId: {
    name: 'RAZORPAY_KEY_ID',
    default: '',
    description: 'Razorpay key id; with the secret, enables the razorpay connector (INR).',
    schema: optionalText,
  },
  razorpayKeySecret: {
    name: 'RAZORPAY_KEY_SECRET',
    default: '',
    description: 'Secret. Razorpay key secret.',
    schema: optionalText,
    echo: () => REDACTED,
  },
  razorpayApiUrl: {
    name: 'RAZORPAY_API_URL',
    default: '',
    description: "Razorpay's API location when it is not api.razorpay.com (a local simulator in tests).",
    schema: optionalUrl,
  },
  acquirerCountries: {
    name: 'ACQUIRER_COUNTRIES',
    default: 'sandbox:IE',
    description:
      "Where each connector's acquiring bank is, as connector:COUNTRY pairs. PSD2 strong customer authentication is decided only for connectors listed here (EEA or GB acquirer); others leave 3-D Secure to the gateway. The sandbox plays an Irish acquirer. `none`: no connector.",
    schema: acquirerCountries,
  },
  routingConfig: {
    name: 'ROUTING_CONFIG',
    default: '',
    description: 'Routing rules as JSON: {"rules":[{"id","match":{countries,currencies,paymentMethodPrefixes,amount},"connectors":[{"connector","weight"}]}]}. Unset: every payment goes to the sandbox.',
    schema: optionalText,
  },
  dunningRetryDays: {
    name: 'DUNNING_RETRY_DAYS',
    default: '1,3,5,7',
    description: "Days after a renewal's first failed charge on which it is retried (declines the same card may still approve, such as insufficient funds; a lost or expired card waits for a new payment method, an authentication demand for the customer). none: no retries.",
    schema: retryDays,
  },
  dunningGraceDays: {
    name: 'DUNNING_GRACE_DAYS',
    default: '7',
    description: 'Days after the first failed renewal during which the learner keeps access and dunning may still collect; at least the last retry day.',
    schema: integer(0, 90, 'days'),
  },
  dunningOnExhausted: {
    name: 'DUNNING_ON_EXHAUSTED',
    default: 'cancel',
    description: `What happens when grace ends unpaid: ${DUNNING_EXHAUSTIONS.join(' (revoke access) or ')} (access lapses; paying the open invoice later recovers the subscription).`,
    schema: oneOf(DUNNING_EXHAUSTIONS),
  },
  invoiceNumberPrefix: {
    name: 'INVOICE_NUMBER_PREFIX',
    default: 'OBOL',
    description: 'Prefix of invoice numbers (OBOL-000042): capital letters, digits and -. Each prefix is its own gap-free sequence.',
    schema: z.string().transform((raw, ctx) => (/^[A-Z0-9-]{1,20}$/.test(raw) ? raw : fail(ctx, 'must be 1 to 20 capital letters, digits or -'))),
  },
  subscriptionIncompleteExpiryHours: {
    name: 'SUBSCRIPTION_INCOMPLETE_EXPIRY_HOURS',
    default: '23',
    description: "How long a new subscription waits for its first payment or its card's saving (a 3-D Secure challenge, a retry with another card) before it expires: at most 23, so it expires before its first trial day or period could end.",
    schema: integer(1, 23, 'hours'),
  },
  testClocks: {
    name: 'TEST_CLOCKS',
    default: 'true (false when NODE_ENV=production)',
    description: 'Whether admins may create test clocks and advance them (which runs renewals and charges for the subscriptions on them): true or false.',
    schema: flag(),
    derive: (resolved) => resolved.nodeEnv !== 'production',
  },
  devEncryptionKeyFile: {
    name: 'DEV_ENCRYPTION_KEY_FILE',
    default: './data/dev-encryption-keys.json',
    description: 'Development mode: where the generated encryption key is kept (created on first start).',
    schema: nonEmpty('a file path'),
  },
};

const VARIABLE_ENTRIES = Object.entries(VARIABLES) as Array<[VariableKey, Variable<unknown>]>;

export interface ConfigReferenceEntry {
  readonly name: string;
  readonly default: string;
  readonly description: string;
}

export const CONFIG_REFERENCE: readonly ConfigReferenceEntry[] = Object.freeze(
  VARIABLE_ENTRIES.map(([, v]) => Object.freeze({ name: v.name, default: v.default, description: v.description })),
);

const MAX_ECHO = 120;

function echo(variable: Variable<unknown>, raw: string): string {
  const shown = variable.echo ? variable.echo(raw) : raw;
  return JSON.stringify(shown.length > MAX_ECHO ? `${shown.slice(0, MAX_ECHO)}…` : shown);
}

/** Reads and validates the configuration; throws ConfigError listing every problem. */
export function loadConfig(given: NodeJS.ProcessEnv): Config {
  const values: Partial<Record<VariableKey, unknown>> = {};
  const problems: string[] = [];
  const derived: Array<[VariableKey, Variable<unknown>]> = [];
  const env = withSecretFiles(given, problems);

  for (const [key, variable] of VARIABLE_ENTRIES) {
    // An empty value counts as unset: `NAME=` is what .env and compose files produce for "no value".
    const given = env[variable.name];
    const raw = given === undefined || given === '' ? undefined : given;
    if (raw === undefined && variable.derive) {
      derived.push([key, variable]);
      continue;
    }
    const result = variable.schema.safeParse(raw ?? variable.default);
    if (result.success) {
      values[key] = result.data;
    } else {
      const shown = echo(variable, raw ?? variable.default);
      for (const issue of result.error.issues) problems.push(`${variable.name}: ${issue.message} (got ${shown})`);
    }
  }
  for (const [key, variable] of derived) values[key] = variable.derive!(values as Partial<ConfigValues>);

  if (problems.length === 0) problems.push(...crossChecks(values as ConfigValues));
  if (problems.length > 0) throw new ConfigError(problems);

  const config = values as ConfigValues;
  return Object.freeze({
    ...config,
    roles: Object.freeze([...config.roles]),
    database: Object.freeze(parseDatabaseUrl(config.databaseUrl)!),
  });
}

/** Secrets that may come from a file instead (orchestrators mount secrets as files). */
const SECRET_FILE_VARIABLES = ['DATABASE_URL'] as const;

/** `DATABASE_URL_FILE=/run/secrets/db` reads DATABASE_URL from that file (trailing newline trimmed). */
function withSecretFiles(env: NodeJS.ProcessEnv, problems: string[]): NodeJS.ProcessEnv {
  let out = env;
  for (const name of SECRET_FILE_VARIABLES) {
    const file = env[`${name}_FILE`];
    if (file === undefined || file === '') continue;
    if (env[name] !== undefined && env[name] !== '') {
      problems.push(`${name}_FILE: set ${name} or ${name}_FILE, not both`);
      continue;
    }
    try {
      out = { ...out, [name]: readFileSync(file, 'utf8').replace(/\r?\n$/, '') };
    } catch (err) {
      problems.push(`${name}_FILE: cannot read ${JSON.stringify(file)} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  return out;
}

/** Rules that involve more than one variable. */
function crossChecks(c: ConfigValues): string[] {
  const problems: string[] = [];
  if (c.authMode === 'development' && c.nodeEnv === 'production') {
    problems.push('AUTH_MODE: development mode signs its own tokens and refuses to run with NODE_ENV=production; set AUTH_MODE=jwks with AUTH_JWKS_URL or AUTH_JWKS_FILE');
  }
  if (c.authMode === 'jwks' && c.authJwksUrl === null && c.authJwksFile === null) {
    problems.push('AUTH_JWKS_URL: AUTH_MODE=jwks needs AUTH_JWKS_URL or AUTH_JWKS_FILE');
  }
  if (c.authMode === 'jwks' && c.authJwksUrl !== null && c.authJwksFile !== null) {
    problems.push('AUTH_JWKS_FILE: set AUTH_JWKS_URL or AUTH_JWKS_FILE, not both');
  }
  if (c.nodeEnv === 'production' && c.encryptionKeys === null && c.encryptionKeysFile === null) {
    problems.push('ENCRYPTION_KEYS: production needs ENCRYPTION_KEYS or ENCRYPTION_KEYS_FILE (personal data is encrypted at rest)');
  }
  const braintree = [c.braintreeMerchantId, c.braintreePublicKey, c.braintreePrivateKey];
  if (braintree.some((v) => v !== null) && braintree.some((v) => v === null)) {
    problems.push('BRAINTREE_MERCHANT_ID: the braintree connector needs BRAINTREE_MERCHANT_ID, BRAINTREE_PUBLIC_KEY and BRAINTREE_PRIVATE_KEY together');
  }
  if ((c.razorpayKeyId === null) !== (c.razorpayKeySecret === null)) {
    problems.push('RAZORPAY_KEY_ID: the razorpay connector needs RAZORPAY_KEY_ID and RAZORPAY_KEY_SECRET together');
  }
  if (c.eventBus === 'kafka' && c.kafkaBrokers.length === 0) {
    problems.push('KAFKA_BROKERS: EVENT_BUS=kafka needs the brokers (host:port,…)');
  }
  const onDynamoDb = [c.entitlementReadModel === 'dynamodb' ? 'ENTITLEMENT_READ_MODEL' : null, c.idempotencyStore === 'dynamodb' ? 'IDEMPOTENCY_STORE' : null].filter((n) => n !== null);
  if (onDynamoDb.length > 0 && c.dynamoDbRegion === null) {
    problems.push(`DYNAMODB_REGION: ${onDynamoDb.map((n) => `${n}=dynamodb`).join(' and ')} ${onDynamoDb.length === 1 ? 'needs' : 'need'} the AWS region of the tables (such as eu-west-1)`);
  }
  if (c.encryptionKeys !== null && c.encryptionKeysFile !== null) {
    problems.push('ENCRYPTION_KEYS_FILE: set ENCRYPTION_KEYS or ENCRYPTION_KEYS_FILE, not both');
  }
  const dunning = policyProblem({ retryDays: c.dunningRetryDays, graceDays: c.dunningGraceDays, onExhausted: c.dunningOnExhausted });
  if (dunning !== null) problems.push(`${dunning.field === 'retryDays' ? 'DUNNING_RETRY_DAYS' : 'DUNNING_GRACE_DAYS'}: ${dunning.message}`);
  return problems;
}

/** A copy safe to print or log: credentials in the database URL are replaced by `[redacted]`. */
export function redactConfig(config: Config): Config {
  const database: DatabaseLocation =
    config.database.kind === 'mysql' ? { kind: 'mysql', url: redactUrlCredentials(config.database.url) } : config.database;
  return Object.freeze({
    ...config,
    databaseUrl: redactUrlCredentials(config.databaseUrl),
    database,
    encryptionKeys: config.encryptionKeys === null ? null : REDACTED,
    otlpHeaders: Object.fromEntries(Object.keys(config.otlpHeaders).map((k) => [k, REDACTED])),
    stripeWebhookSecrets: config.stripeWebhookSecrets.map(() => REDACTED),
    braintreeWebhookKeys: config.braintreeWebhookKeys.map((k) => ({ publicKey: k.publicKey, privateKey: REDACTED })),
    razorpayWebhookSecrets: config.razorpayWebhookSecrets.map(() => REDACTED),
    stripeSecretKey: config.stripeSecretKey === null ? null : REDACTED,
    braintreePrivateKey: config.braintreePrivateKey === null ? null : REDACTED,
    razorpayKeySecret: config.razorpayKeySecret === null ? null : REDACTED,
  });
}
