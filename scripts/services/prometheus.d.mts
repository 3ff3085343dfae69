/** Types of prometheus.mjs, for the tests that import it (test/ops). */

export interface PrometheusTools {
  /** null: not found. */
  readonly promtool: string | null;
  readonly prometheus: string | null;
  /** As `prometheus --version` reports it, such as "2.42.0+ds"; null when neither tool exists. */
  readonly version: string | null;
}

export interface PrometheusServer {
  readonly pid: number;
  /** http://127.0.0.1:<port> */
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  readonly dataDir: string;
  readonly logFile: string;
  /** SIGTERM (SIGKILL after a grace period); removes the data directory. */
  stop(): Promise<void>;
  /** The last lines of the server's log. */
  log(): string;
}

export interface StartPrometheusOptions {
  /** The configuration file; relative rule_files resolve against its folder. */
  readonly config: string;
  /** Default: a free port. */
  readonly port?: number;
  /** Default: the prometheus found by findPrometheusTools. */
  readonly binary?: string;
  readonly detached?: boolean;
  /** Where data and log go; default a fresh temporary folder, removed by stop(). */
  readonly workDir?: string;
}

export function findPrometheusTools(): PrometheusTools;
export function ensurePrometheusTools(): PrometheusTools & { readonly promtool: string; readonly prometheus: string };
export function freePort(): Promise<number>;
export function startPrometheus(options: StartPrometheusOptions): Promise<PrometheusServer>;
