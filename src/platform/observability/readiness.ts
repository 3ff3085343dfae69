/**
 * Readiness (/readyz) for every role: may this process take work now? The database must answer
 * and be fully migrated; where configured, DynamoDB must answer and the worker's Kafka clients be
 * connected. Each part of the process adds the checks for what it owns (the app: database and
 * DynamoDB; the worker: Kafka; `obol serve`: start-up and shutdown), and removes them when it
 * stops. Liveness (/healthz) asks nothing: a process that answers is alive.
 *
 * Every check has a time limit, so a hung dependency makes the probe answer "not ready" rather
 * than time out.
 */
export interface CheckResult {
  readonly ok: boolean;
  /** What the probe reports for this check (a status word or a small object, never a secret). */
  readonly detail: unknown;
}

export type ReadinessCheck = () => Promise<CheckResult>;

export interface ReadinessReport {
  readonly ready: boolean;
  /** The /readyz body: `status` plus one entry per check. */
  readonly body: Readonly<Record<string, unknown>>;
}

export interface Readiness {
  /** Adds a named check; returns a function that removes it. */
  add(name: string, check: ReadinessCheck): () => void;
  evaluate(): Promise<ReadinessReport>;
}

export const READINESS_CHECK_TIMEOUT_MS = 3_000;

export function createReadiness(args: { readonly timeoutMs?: number; readonly onFailure?: (name: string, err: unknown) => void } = {}): Readiness {
  const checks = new Map<string, ReadinessCheck>();
  const timeoutMs = args.timeoutMs ?? READINESS_CHECK_TIMEOUT_MS;

  async function run(name: string, check: ReadinessCheck): Promise<CheckResult> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        check(),
        new Promise<CheckResult>((resolve) => {
          timer = setTimeout(() => resolve({ ok: false, detail: 'timeout' }), timeoutMs);
          timer.unref();
        }),
      ]);
    } catch (err) {
      args.onFailure?.(name, err);
      return { ok: false, detail: 'unreachable' };
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    add(name, check) {
      if (checks.has(name)) throw new Error(`readiness check ${name} is already registered`);
      checks.set(name, check);
      return () => {
        if (checks.get(name) === check) checks.delete(name);
      };
    },
    async evaluate() {
      const entries = [...checks.entries()];
      const results = await Promise.all(entries.map(([name, check]) => run(name, check)));
      const ready = results.every((r) => r.ok);
      const body: Record<string, unknown> = { status: ready ? 'ready' : 'not_ready' };
      entries.forEach(([name], i) => {
        body[name] = results[i]!.detail;
      });
      return { ready, body };
    },
  };
}
