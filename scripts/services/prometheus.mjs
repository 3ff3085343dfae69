#!/usr/bin/env node
/**
 * Prometheus's own tools for the operations files under deploy/prometheus/: `promtool` (checks and
 * unit-tests the alert rules, checks the scrape config) and the `prometheus` server (scrapes a
 * running Obol in test/ops). Both come from Debian's `prometheus` package; when they are missing
 * and this runs as root, `ensure` installs that package with apt-get, without letting the package
 * start its system service. A server started here listens on 127.0.0.1 only.
 *
 *   node scripts/services/prometheus.mjs ensure|status|env
 *   node scripts/services/prometheus.mjs start --config FILE [--port N]
 *   node scripts/services/prometheus.mjs stop [--port N]
 *
 * Also a module: the tests import findPrometheusTools and startPrometheus (types in prometheus.d.mts).
 *
 * Environment:
 *   OBOL_PROMTOOL, OBOL_PROMETHEUS   use these binaries instead of the ones on PATH
 *   OBOL_PROMETHEUS_PORT             port of `start`/`stop` (default 19090)
 *   OBOL_SERVICES_RUN                where a started server keeps pid, log and data (default $TMPDIR/obol-services)
 *
 * Exit codes: 0 done (status: tools present), 1 failed, 2 usage, 3 status: tools missing.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const HOST = '127.0.0.1';
const DEBIAN_PACKAGE = 'prometheus';
const INSTALL_TIMEOUT_MS = 240_000;
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 20_000;
const POLICY_RC_D = '/usr/sbin/policy-rc.d';
/** Where Debian's init script keeps the pid of the system service the package may start. */
const DEBIAN_SERVICE_PID = '/run/prometheus/prometheus.pid';

const RUN_ROOT = resolve(process.env.OBOL_SERVICES_RUN || join(tmpdir(), 'obol-services'));

function say(message) {
  process.stdout.write(`${message}\n`);
}

function fail(message) {
  const error = new Error(message);
  error.expected = true;
  throw error;
}

function seconds(since) {
  return `${((performance.now() - since) / 1000).toFixed(1)}s`;
}

const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

function tail(file, lines = 30) {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Finding and installing the tools

/** The first executable called `name` on PATH (or /usr/bin, /usr/local/bin), or null. */
function onPath(name) {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/local/bin'].filter((d) => d !== '');
  for (const dir of dirs) {
    const candidate = join(dir, name);
    const probe = spawnSync(candidate, ['--version'], { encoding: 'utf8', timeout: 10_000 });
    if (!probe.error && probe.status === 0) return candidate;
  }
  return null;
}

function versionOf(binary) {
  const out = spawnSync(binary, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  // Both print "prometheus, version 2.42.0+ds (branch: …)" (promtool says "promtool, version …").
  const match = /version (\S+)/.exec(`${out.stdout ?? ''}${out.stderr ?? ''}`);
  return match ? match[1] : 'unknown';
}

/** The binary named by `envName` when set (null if it does not exist there), else `name` on PATH. */
function locate(envName, name) {
  const value = process.env[envName]?.trim();
  if (value) return existsSync(value) ? value : null;
  return onPath(name);
}

/**
 * Where promtool and prometheus are: `{ promtool, prometheus, version }`, each path null when that
 * tool is missing. Never installs anything.
 */
export function findPrometheusTools() {
  const promtool = locate('OBOL_PROMTOOL', 'promtool');
  const prometheus = locate('OBOL_PROMETHEUS', 'prometheus');
  return { promtool, prometheus, version: prometheus ? versionOf(prometheus) : promtool ? versionOf(promtool) : null };
}

/**
 * apt-get may run the package's maintainer scripts, which start its system service through
 * invoke-rc.d. A policy-rc.d that answers 101 forbids that; one is put in place for the install
 * when the machine has none (Debian container images usually ship one already).
 */
function withServiceStartsForbidden(run) {
  if (existsSync(POLICY_RC_D)) return run();
  writeFileSync(POLICY_RC_D, '#!/bin/sh\n# Written by obol scripts/services/prometheus.mjs for one apt-get install; removed after it.\nexit 101\n', { mode: 0o755 });
  try {
    return run();
  } finally {
    try {
      unlinkSync(POLICY_RC_D);
    } catch {
      /* already gone */
    }
  }
}

/**
 * The package registers a system service; Obol's tests start their own servers instead, so it is
 * disabled at boot (best effort: update-rc.d for SysV init, systemctl where systemd runs), and if
 * it runs anyway (a machine whose policy allowed the start), its one recorded pid is stopped.
 */
function disableDebianService() {
  spawnSync('update-rc.d', [DEBIAN_PACKAGE, 'disable'], { encoding: 'utf8', timeout: 30_000 });
  if (existsSync('/run/systemd/system')) spawnSync('systemctl', ['disable', '--now', `${DEBIAN_PACKAGE}.service`], { encoding: 'utf8', timeout: 30_000 });
  let pid = null;
  try {
    pid = Number(readFileSync(DEBIAN_SERVICE_PID, 'utf8').trim());
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return;
  say(`the ${DEBIAN_PACKAGE} package started its system service (pid ${pid}); stopping it`);
  const stopped = spawnSync('invoke-rc.d', ['--force', DEBIAN_PACKAGE, 'stop'], { encoding: 'utf8', timeout: 30_000 });
  if ((stopped.error || stopped.status !== 0) && alive(pid)) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* gone */
    }
  }
}

function aptGet(args) {
  const result = spawnSync('apt-get', args, {
    encoding: 'utf8',
    timeout: INSTALL_TIMEOUT_MS,
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive', NEEDRESTART_MODE: 'l' },
  });
  return { ok: !result.error && result.status === 0, output: `${result.stdout ?? ''}${result.stderr ?? ''}${result.error ? String(result.error) : ''}` };
}

/** The tools, installing Debian's `prometheus` package first when either is missing. */
export function ensurePrometheusTools() {
  const found = findPrometheusTools();
  if (found.promtool && found.prometheus) return found;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    fail(`promtool or prometheus is missing and installing Debian's ${DEBIAN_PACKAGE} package needs root: run \`sudo apt-get install --no-install-recommends ${DEBIAN_PACKAGE}\`, or set OBOL_PROMTOOL and OBOL_PROMETHEUS`);
  }
  const started = performance.now();
  say(`installing Debian's ${DEBIAN_PACKAGE} package (promtool and prometheus) with apt-get`);
  withServiceStartsForbidden(() => {
    const install = ['-y', '-q', '--no-install-recommends', '-o', 'Dpkg::Options::=--force-confdef', '-o', 'Dpkg::Options::=--force-confold', 'install', DEBIAN_PACKAGE];
    let result = aptGet(install);
    if (!result.ok) {
      // A fresh machine may not have package lists yet, or only stale ones.
      say('apt-get install failed; updating the package lists and trying again');
      const update = aptGet(['-q', 'update']);
      if (!update.ok) fail(`apt-get update failed:\n${update.output.trimEnd().split('\n').slice(-20).join('\n')}`);
      result = aptGet(install);
    }
    if (!result.ok) fail(`apt-get install ${DEBIAN_PACKAGE} failed:\n${result.output.trimEnd().split('\n').slice(-20).join('\n')}`);
  });
  disableDebianService();
  const tools = findPrometheusTools();
  if (!tools.promtool || !tools.prometheus) fail(`Debian's ${DEBIAN_PACKAGE} package is installed but promtool or prometheus is still not found on PATH`);
  say(`${DEBIAN_PACKAGE} ${tools.version}: installed in ${seconds(started)}`);
  return tools;
}

// ---------------------------------------------------------------------------------------------
// A Prometheus server

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort() {
  return new Promise((done, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      server.close(() => done(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

async function isReady(url) {
  try {
    const res = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(2000) });
    return res.status === 200;
  } catch {
    return false;
  }
}

function prometheusArgs({ config, port, dataDir }) {
  return [
    `--config.file=${config}`,
    `--storage.tsdb.path=${dataDir}`,
    `--web.listen-address=${HOST}:${port}`,
    // Short-lived test servers: keep little, and never ask the network for anything.
    '--storage.tsdb.retention.time=1d',
    '--log.level=warn',
  ];
}

/**
 * Starts a Prometheus server on 127.0.0.1 with `config`, a fresh data directory (removed by stop)
 * and a log file, and resolves once it reports ready. The process is a child of this one; `stop()`
 * sends it SIGTERM (SIGKILL after a grace period) and removes the data directory.
 */
export async function startPrometheus({ config, port, binary, detached = false, workDir }) {
  const prometheus = binary ?? findPrometheusTools().prometheus;
  if (!prometheus) fail('prometheus is not installed: run `node scripts/services/prometheus.mjs ensure`');
  if (!existsSync(config)) fail(`no Prometheus config at ${config}`);
  const chosenPort = port ?? (await freePort());
  const dir = workDir ?? mkdtempSync(join(tmpdir(), 'obol-prometheus-'));
  mkdirSync(dir, { recursive: true });
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'prometheus.log');
  const url = `http://${HOST}:${chosenPort}`;
  const out = openSync(logFile, 'a');
  const child = spawn(prometheus, prometheusArgs({ config: resolve(config), port: chosenPort, dataDir }), {
    cwd: dir,
    detached,
    stdio: ['ignore', out, out],
  });
  closeSync(out);
  await new Promise((done, reject) => {
    child.once('spawn', done);
    child.once('error', (error) => reject(new Error(`could not start ${prometheus}: ${error.message}`)));
  });
  const pid = child.pid;
  const removeDir = workDir === undefined;
  const stop = async () => {
    await stopPid(pid);
    if (removeDir) rmSync(dir, { recursive: true, force: true });
    else rmSync(dataDir, { recursive: true, force: true });
  };
  const started = performance.now();
  while (!(await isReady(url))) {
    if (!alive(pid) || child.exitCode !== null) {
      const log = tail(logFile);
      await stop();
      fail(`Prometheus exited while starting (port ${chosenPort}). Last lines of its log:\n${log}`);
    }
    if (performance.now() - started > START_TIMEOUT_MS) {
      const log = tail(logFile);
      await stop();
      fail(`Prometheus did not report ready at ${url} within ${START_TIMEOUT_MS / 1000}s. Last lines of its log:\n${log}`);
    }
    await sleep(200);
  }
  if (detached) child.unref();
  return { pid, url, port: chosenPort, dir, dataDir, logFile, stop, log: () => tail(logFile, 200) };
}

async function stopPid(pid) {
  if (!alive(pid)) return;
  process.kill(pid, 'SIGTERM');
  const started = performance.now();
  while (alive(pid) && performance.now() - started < STOP_TIMEOUT_MS) await sleep(100);
  if (alive(pid)) process.kill(pid, 'SIGKILL');
  while (alive(pid)) await sleep(50);
}

// ---------------------------------------------------------------------------------------------
// Command line: a long-running server for trying the rules and dashboard by hand

function cliPort(value) {
  const raw = value ?? process.env.OBOL_PROMETHEUS_PORT ?? '19090';
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 65535) {
    console.error(`prometheus: ${raw} is not a TCP port`);
    process.exit(2);
  }
  return n;
}

function runDir(port) {
  return join(RUN_ROOT, `prometheus-${port}`);
}

/** The pid from the run dir, if that process is alive and is the server this script started there. */
function ownPid(port) {
  const dir = runDir(port);
  let pid;
  try {
    pid = Number(readFileSync(join(dir, 'pid'), 'utf8').trim());
  } catch {
    return null;
  }
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return cmdline.includes(`--storage.tsdb.path=${join(dir, 'data')}`) ? pid : null;
  } catch {
    if (existsSync('/proc/self')) return null;
    return alive(pid) ? pid : null;
  }
}

const USAGE = 'usage: node scripts/services/prometheus.mjs ensure|status|env | start --config FILE [--port N] | stop [--port N]';

function options(rest) {
  const out = {};
  for (let i = 0; i < rest.length; i += 2) {
    const [name, value] = [rest[i], rest[i + 1]];
    if (!['--config', '--port'].includes(name) || value === undefined) return null;
    out[name.slice(2)] = value;
  }
  return out;
}

async function main(argv) {
  const [command, ...rest] = argv;
  const opts = options(rest);
  if (opts === null) {
    console.error(USAGE);
    return 2;
  }
  switch (command) {
    case 'ensure': {
      const tools = ensurePrometheusTools();
      say(`promtool: ${tools.promtool}\nprometheus: ${tools.prometheus} (${tools.version})`);
      return 0;
    }
    case 'status': {
      const tools = findPrometheusTools();
      say(`promtool: ${tools.promtool ?? 'missing'}\nprometheus: ${tools.prometheus ?? 'missing'}${tools.version ? ` (${tools.version})` : ''}`);
      const port = cliPort(opts.port);
      const pid = ownPid(port);
      say(pid === null ? `server: not running on ${HOST}:${port}` : `server: running at http://${HOST}:${port} (pid ${pid}, log ${join(runDir(port), 'prometheus.log')})`);
      return tools.promtool && tools.prometheus ? 0 : 3;
    }
    case 'env': {
      const tools = findPrometheusTools();
      if (!tools.promtool || !tools.prometheus) {
        console.error('prometheus: promtool or prometheus is missing; run `node scripts/services/prometheus.mjs ensure`');
        return 3;
      }
      say(`export OBOL_PROMTOOL=${tools.promtool}\nexport OBOL_PROMETHEUS=${tools.prometheus}`);
      return 0;
    }
    case 'start': {
      if (!opts.config) {
        console.error(USAGE);
        return 2;
      }
      const port = cliPort(opts.port);
      const existing = ownPid(port);
      if (existing !== null) {
        say(`Prometheus: already running at http://${HOST}:${port} (pid ${existing})`);
        return 0;
      }
      const tools = ensurePrometheusTools();
      const check = spawnSync(tools.promtool, ['check', 'config', opts.config], { encoding: 'utf8' });
      if (check.status !== 0) fail(`promtool check config ${opts.config} failed:\n${check.stdout}${check.stderr}`);
      const dir = runDir(port);
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      const started = performance.now();
      // Detached in a session of its own: it outlives this script until `stop`.
      const server = await startPrometheus({ config: opts.config, port, binary: tools.prometheus, detached: true, workDir: dir });
      writeFileSync(join(dir, 'pid'), `${server.pid}\n`);
      say(`Prometheus ${tools.version}: started at ${server.url} (pid ${server.pid}, log ${server.logFile}) in ${seconds(started)}`);
      return 0;
    }
    case 'stop': {
      const port = cliPort(opts.port);
      const pid = ownPid(port);
      if (pid === null) {
        rmSync(runDir(port), { recursive: true, force: true });
        say('Prometheus: not running');
        return 0;
      }
      const started = performance.now();
      await stopPid(pid);
      rmSync(runDir(port), { recursive: true, force: true });
      say(`Prometheus: stopped (pid ${pid}) in ${seconds(started)}`);
      return 0;
    }
    default:
      console.error(USAGE);
      return 2;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error) => {
      console.error(error?.expected ? `prometheus: ${error.message}` : error);
      process.exitCode = 1;
    },
  );
}
