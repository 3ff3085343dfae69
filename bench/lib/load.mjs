// @ts-check
/**
 * A closed-loop load generator: `concurrency` clients, each sending its next operation as soon as
 * the previous one answered, for a fixed time after a warm-up. Latencies are kept whole (a sorted
 * array per run: a few hundred thousand numbers at most), so percentiles are exact.
 */
import http from 'node:http';

/**
 * @typedef {{ readonly ops: number, readonly errors: number, readonly seconds: number, readonly throughput: number,
 *   readonly p50: number, readonly p99: number, readonly phases: Record<string, { p50: number, p99: number }>,
 *   readonly generatorCpu: number, readonly firstError?: string }} LoadResult
 *
 * One operation of one client. `phase(name, ms)` records a sub-step's latency (confirm inside a
 * checkout). Throwing counts an error; the client carries on.
 * @typedef {(client: number, seq: number, phase: (name: string, ms: number) => void) => Promise<unknown>} Operation
 */

/** @param {number[]} sorted @param {number} q */
export function percentile(sorted, q) {
  if (sorted.length === 0) return NaN;
  return /** @type {number} */ (sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]);
}

const nowMs = () => performance.now();

/**
 * @param {{ concurrency: number, warmupMs: number, durationMs: number, op: Operation }} args
 * @returns {Promise<LoadResult>}
 */
export async function runLoad({ concurrency, warmupMs, durationMs, op }) {
  /** @type {number[]} */
  const latencies = [];
  /** @type {Map<string, number[]>} */
  const phases = new Map();
  let errors = 0;
  let measuring = false;
  let stopping = false;
  /** @type {string | undefined} */
  let firstError;
  const phase = (name, ms) => {
    if (!measuring) return;
    let list = phases.get(name);
    if (!list) phases.set(name, (list = []));
    list.push(ms);
  };
  const client = async (id) => {
    for (let seq = 0; !stopping; seq++) {
      const started = nowMs();
      try {
        await op(id, seq, phase);
        if (measuring) latencies.push(nowMs() - started);
      } catch (err) {
        if (measuring) errors++;
        firstError ??= err instanceof Error ? err.message : String(err);
      }
    }
  };
  const clients = Array.from({ length: concurrency }, (_, i) => client(i));
  await sleep(warmupMs);
  measuring = true;
  const cpu0 = process.cpuUsage();
  const t0 = nowMs();
  await sleep(durationMs);
  measuring = false;
  const seconds = (nowMs() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  stopping = true;
  await Promise.all(clients);
  latencies.sort((a, b) => a - b);
  /** @type {Record<string, { p50: number, p99: number }>} */
  const phaseStats = {};
  for (const [name, list] of phases) {
    list.sort((a, b) => a - b);
    phaseStats[name] = { p50: percentile(list, 0.5), p99: percentile(list, 0.99) };
  }
  return {
    ops: latencies.length,
    errors,
    seconds,
    throughput: latencies.length / seconds,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    phases: phaseStats,
    // Share of one core the generator itself used while measuring: near 1.0 would make it suspect.
    generatorCpu: (cpu.user + cpu.system) / 1e6 / seconds,
    ...(firstError !== undefined ? { firstError } : {}),
  };
}

/** @param {number} ms */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * A keep-alive JSON-over-HTTP client for one host, one socket per concurrent client, with nothing
 * between the caller and node:http (fetch costs several times more CPU per request).
 * @param {number} port
 * @param {number} sockets
 */
export function httpClient(port, sockets) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets });
  return {
    /**
     * @param {string} path
     * @param {string | undefined} body
     * @param {Record<string, string>} [headers]
     * @returns {Promise<{ status: number, body: string }>}
     */
    request(path, body, headers = {}) {
      return new Promise((resolve, reject) => {
        const req = http.request(
          {
            host: '127.0.0.1',
            port,
            path,
            method: body === undefined ? 'GET' : 'POST',
            agent,
            headers: body === undefined ? headers : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers },
          },
          (res) => {
            const chunks = [];
            res.on('data', (c) => chunks.push(c));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    },
    close: () => agent.destroy(),
  };
}
