/**
 * Structured JSON logs (pino). Two layers keep secrets and personal data out of them:
 *
 * 1. Redaction by field name, at any depth, of the fields we know are sensitive (LOG_REDACT_KEYS).
 * 2. A last line of defence for invariant 6: every JSON string in the finished log line (message,
 *    error stack, bindings, any nested field) is scanned, and card-number-shaped text is replaced
 *    by `[card-redacted]`. It runs on the serialized line so nothing added by serializers, child
 *    bindings or `err` handling can slip past it.
 *
 * Every line also carries where it was written from: the request, event or job being handled
 * (`withLogScope`, an AsyncLocalStorage, so nothing has to pass a logger down) and the active
 * trace (`traceId`, `spanId`), so one request's lines and its trace are found together. Each
 * module logs through `moduleLogger`, whose level LOG_MODULE_LEVELS can set apart.
 *
 * Layer 1 walks the record itself instead of using pino's `redact` paths: wildcard paths deep
 * enough to be useful (`*.*.email`) cost about 90 µs per line in fast-redact, against a few µs
 * for the walk, and the walk also catches any depth and any spelling (`API_KEY`, `x-api-key`).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { pino, type DestinationStream, type Logger } from 'pino';
import type { LogLevel, LogModule } from './config.js';
import { activeTraceIds } from './observability/tracing.js';
import { redactCardNumbers } from './security/card-guard.js';

export type { Logger } from 'pino';

export interface LoggerOptions {
  readonly level: LogLevel;
  readonly name?: string;
  /** Where lines go; standard output when absent. Tests pass a stream they can read. */
  readonly destination?: DestinationStream;
}

export const LOG_REDACTED = '[redacted]';

/**
 * Field names whose values never reach a log, compared case-insensitively and ignoring `-` and
 * `_`, so `authorization`, `Authorization`, `api_key`, `x-api-key` and `set-cookie` all match.
 */
export const LOG_REDACT_KEYS = [
  // secrets and credentials
  'password',
  'passwd',
  'secret',
  'clientSecret',
  'webhookSecret',
  'signingSecret',
  'token',
  'accessToken',
  'refreshToken',
  'idToken',
  'apiKey',
  'xApiKey',
  'privateKey',
  'authorization',
  'proxyAuthorization',
  'cookie',
  'setCookie',
  'paymentMethodToken',
  // card data that has no business in a log even when it is not a number
  'cvc',
  'cvv',
  'cardNumber',
  // personal data
  'email',
  'name',
  'address',
  'billingAddress',
  'shippingAddress',
  'phone',
  'billingDetails',
  'billing_details',
  // key material
  'encryptionKeys',
  'd',
] as const;

function normalizeKey(key: string): string {
  return key.toLowerCase().replace(/[-_]/g, '');
}

const REDACT_KEYS = new Set<string>(LOG_REDACT_KEYS.map(normalizeKey));

/** Records are not expected to nest deeper; the bound also makes cyclic input harmless. */
const MAX_DEPTH = 12;

function isPlainObject(value: object): value is Record<string, unknown> {
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * A top-level `name` is kept: pino writes the logger's own name there. A person's name is nested
 * (`customer.name`) and is redacted. Copies only what changes, so clean records cost no allocation.
 * Errors and other class instances are left to pino's serializers (and to layer 2).
 */
function redactFields(value: unknown, depth: number): unknown {
  if (typeof value !== 'object' || value === null || depth > MAX_DEPTH) return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const child: unknown = value[i];
      const redacted = redactFields(child, depth + 1);
      if (redacted !== child) (copy ??= [...value])[i] = redacted;
    }
    return copy ?? value;
  }
  if (!isPlainObject(value)) return value;
  let copy: Record<string, unknown> | undefined;
  for (const key of Object.keys(value)) {
    const child = value[key];
    const sensitive = child !== undefined && REDACT_KEYS.has(normalizeKey(key)) && !(depth === 0 && key === 'name');
    const redacted = sensitive ? LOG_REDACTED : redactFields(child, depth + 1);
    if (redacted !== child) (copy ??= { ...value })[key] = redacted;
  }
  return copy ?? value;
}

const JSON_STRING = /"(?:[^"\\]|\\.)*"/g;
/** 13 digits with at most single separators: a cheap test that lets almost every line skip the scan. */
const MAYBE_CARD = /\d(?:[ -]?\d){12}/;

/** Scrubs card-like text inside the JSON string literals of one serialized log line. */
export function scrubCardNumbersFromLine(line: string): string {
  if (!MAYBE_CARD.test(line)) return line;
  return line.replace(JSON_STRING, (literal) => (MAYBE_CARD.test(literal) ? redactCardNumbers(literal) : literal));
}

/** What is being handled: `requestId` (HTTP, gRPC), `eventId` and `consumerGroup`, `jobId`… */
export type LogScope = Readonly<Record<string, string>>;

const scopes = new AsyncLocalStorage<LogScope>();

/**
 * Runs `fn` so that every line logged inside it, by any logger and at any depth of awaits, carries
 * `fields`. Nested scopes add to the outer one.
 */
export function withLogScope<T>(fields: LogScope, fn: () => T): T {
  const outer = scopes.getStore();
  return scopes.run(outer === undefined ? fields : { ...outer, ...fields }, fn);
}

/** The scope and trace of the code running now, merged into each line (the record's own fields win). */
function currentContext(): Record<string, string> {
  const scope = scopes.getStore();
  const trace = activeTraceIds();
  if (trace === null) return scope === undefined ? {} : { ...scope };
  return { ...scope, traceId: trace.traceId, spanId: trace.spanId };
}

/**
 * A module's logger: its lines carry `module`, and its level is the module's own when
 * LOG_MODULE_LEVELS sets one (more or less verbose than LOG_LEVEL), the root's otherwise.
 */
export function moduleLogger(root: Logger, module: LogModule, levels: Readonly<Partial<Record<LogModule, LogLevel>>>): Logger {
  const level = levels[module];
  return level === undefined ? root.child({ module }) : root.child({ module }, { level });
}

export function createLogger(options: LoggerOptions): Logger {
  const config: pino.LoggerOptions = {
    level: options.level,
    timestamp: pino.stdTimeFunctions.isoTime,
    mixin: currentContext,
    formatters: {
      level: (label) => ({ level: label }),
      log: (record) => redactFields(record, 0) as Record<string, unknown>,
    },
    hooks: { streamWrite: scrubCardNumbersFromLine },
  };
  if (options.name !== undefined) config.name = options.name;
  const logger = options.destination ? pino(config, options.destination) : pino(config);
  // pino applies no formatter to child bindings, so they are redacted on the way in. Children are
  // created with Object.create(parent), so every descendant inherits this method.
  const child = logger.child;
  logger.child = function redactedChild(this: Logger, bindings, childOptions) {
    return child.call(this, redactFields(bindings, 0) as typeof bindings, childOptions);
  } as typeof logger.child;
  return logger;
}
