/**
 * Shared parts of the fault suites (docs/faults.md): the profile (bounded by default, as CI runs
 * it; `FAULTS_PROFILE=full` for `npm run test:faults`), the one-line figures every scenario
 * prints, real `obol serve` processes that can be killed and restarted on a fixed port, and a
 * GraphQL client that behaves like a real one after a failure (it retries with the same
 * idempotency key).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OBOL_BIN, stopChildren, waitForLine } from '../support/processes.js';

export type FaultsProfile = 'bounded' | 'full';

/** The full profile is opt-in (`npm run test:faults`); plain `vitest run` and CI get the bounded one. */
export const PROFILE: FaultsProfile = process.env.FAULTS_PROFILE === 'full' ? 'full' : 'bounded';

/** Picks the bounded or the full value of a knob. */
export function byProfile<T>(bounded: T, full: T): T {
  return PROFILE === 'full' ? full : bounded;
}

export interface Figures {
  readonly attempted: number;
  readonly succeeded: number;
  readonly lost: number;
  readonly doubled: number;
  /** Scenario-specific counts, printed after the four fixed ones in this order. */
  readonly [extra: string]: number | string;
}

/**
 * Prints a scenario's figures in the fixed format docs/faults.md quotes:
 * `faults <scenario>: attempted=… succeeded=… lost=… doubled=… [extra=…]… profile=… seconds=…`.
 */
export function printFigures(scenario: string, figures: Figures, startedAt: number): void {
  const { attempted, succeeded, lost, doubled, ...extra } = figures;
  const extras = Object.entries(extra).map(([k, v]) => `${k}=${v}`);
  const seconds = ((performance.now() - startedAt) / 1000).toFixed(1);
  console.log(`faults ${scenario}: attempted=${attempted} succeeded=${succeeded} lost=${lost} doubled=${doubled}${extras.length > 0 ? ` ${extras.join(' ')}` : ''} profile=${PROFILE} seconds=${seconds}`);
}

export function isCi(): boolean {
  return process.env.CI === 'true' || process.env.CI === '1';
}

/** A loud notice for a scenario that cannot run here (outside CI only; CI fails instead). */
export function warnSkipped(scenario: string, reason: string, howToFix: string): void {
  const bar = '!'.repeat(78);
  console.warn(`\n${bar}\n!! faults ${scenario} SKIPPED: ${reason}.\n!! ${howToFix}\n!! CI will fail without it.\n${bar}\n`);
}

/** A TCP port that was free a moment ago (the kernel's pick), for a server that must keep its port across restarts. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A uniform random integer in [min, max]. */
export function between(min: number, max: number): number {
  return min + Math.floor(Math.random() * (max - min + 1));
}

/**
 * One `obol serve` process that the test may kill -9 and start again with the same environment
 * (so on the same port and database). Its log lines go to the run's log directory, where global
 * teardown scans them for card numbers and secrets like every other suite's.
 */
export class ObolProcess {
  readonly #env: NodeJS.ProcessEnv;
  /** Where its output goes (the run's log directory, removed at the end of the run). */
  readonly logFile: string;
  #child: ChildProcessWithoutNullStreams | undefined;
  #tail = '';
  starts = 0;
  /** Milliseconds from each spawn to "listening", in order. */
  readonly startMs: number[] = [];

  constructor(env: NodeJS.ProcessEnv, label: string) {
    this.#env = env;
    this.logFile = join(process.env.OBOL_TEST_LOG_DIR ?? tmpdir(), `faults-${label}-${randomUUID()}.log`);
  }

  get running(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** Starts the process and resolves once its HTTP server listens; returns the log line that said so. */
  async start(timeoutMs = 90_000): Promise<Record<string, unknown>> {
    const child = spawn(process.execPath, [OBOL_BIN, 'serve'], { env: this.#env });
    this.#child = child;
    this.starts += 1;
    const keep = (chunk: Buffer): void => {
      const text = chunk.toString();
      appendFileSync(this.logFile, text);
      this.#tail = (this.#tail + text).slice(-8000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const spawnedAt = performance.now();
    const line = await waitForLine(child, (l) => l.msg === 'obol is listening', timeoutMs);
    this.startMs.push(performance.now() - spawnedAt);
    return line;
  }

  /** kill -9: no shutdown hook, no flush, no drain; whatever was in flight is cut off. */
  async kill9(): Promise<void> {
    const child = this.#child;
    if (child === undefined || !this.running) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  /** A clean stop (SIGTERM, then SIGKILL after the grace period). */
  async stop(): Promise<void> {
    if (this.#child !== undefined) await stopChildren([this.#child]);
  }

  /** The last few kilobytes of output, for a failure message. */
  tail(): string {
    return this.#tail;
  }
}

export interface GraphQLAnswer {
  readonly httpStatus: number;
  readonly data: Record<string, unknown> | null;
  readonly errors: readonly { readonly message: string; readonly extensions?: { readonly code?: string } }[];
}

/** One GraphQL POST; throws on a transport failure (refused, reset, cut off, unreadable body). */
export async function postGraphql(url: string, token: string | null, query: string, variables: Record<string, unknown>, timeoutMs = 30_000): Promise<GraphQLAnswer> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token === null ? {} : { authorization: `Bearer ${token}` }) },
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  let body: { data?: Record<string, unknown> | null; errors?: GraphQLAnswer['errors'] };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    body = {};
  }
  return { httpStatus: res.status, data: body.data ?? null, errors: body.errors ?? [] };
}

export function errorCodeOf(answer: GraphQLAnswer): string | undefined {
  return answer.errors[0]?.extensions?.code;
}

/** Reads a nested field of a GraphQL answer without trusting its shape. */
export function field(value: unknown, ...path: readonly string[]): unknown {
  let here: unknown = value;
  for (const key of path) {
    if (typeof here !== 'object' || here === null) return undefined;
    here = (here as Record<string, unknown>)[key];
  }
  return here;
}

/** The environment as plain strings, for loadConfig. */
export function stringEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}

/**
 * The environment of an `obol serve` under test: every role, on `databaseUrl`, listening on
 * 127.0.0.1 (`port`; gRPC on any free port), development keys in `dir`, a quick worker, and rate
 * limits out of the way (one client address and many learners make a lot of checkouts here; the
 * limits have their own suite). `extra` adds or overrides variables.
 */
export function obolServeEnv(args: { readonly databaseUrl: string; readonly dir: string; readonly port?: number }, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    NODE_ENV: 'development',
    LOG_LEVEL: 'info',
    DATABASE_URL: args.databaseUrl,
    SEED_DEMO_CATALOG: 'true',
    ...(args.port !== undefined ? { PORT: String(args.port) } : {}),
    HOST: '127.0.0.1',
    GRPC_PORT: '0',
    GRPC_HOST: '127.0.0.1',
    AUTH_DEV_KEY_FILE: join(args.dir, 'signing-key.json'),
    DEV_ENCRYPTION_KEY_FILE: join(args.dir, 'encryption-keys.json'),
    WORKER_POLL_INTERVAL_MS: '100',
    RATE_LIMIT_CHECKOUT_PER_CUSTOMER: '100000',
    RATE_LIMIT_CHECKOUT_PER_IP: '1000000',
    CARD_TESTING_MAX_FAILURES: '1000',
    ...extra,
  };
}
