#!/usr/bin/env node
/**
 * Fetches, starts and stops the real services the tests talk to: Apache Kafka (one KRaft node,
 * broker and controller in one JVM) and AWS DynamoDB Local. Both come from Maven Central through
 * Maven, are cached once per version, and listen on 127.0.0.1 only.
 *
 *   node scripts/services/services.mjs fetch|start|stop|status|env [kafka|dynamodb|all]
 *
 * Environment:
 *   OBOL_SERVICES_CACHE   where fetched jars are kept (default ~/.cache/obol/services)
 *   OBOL_SERVICES_RUN     where running services keep pid, log and data (default $TMPDIR/obol-services)
 *   OBOL_KAFKA_PORT       broker port (default 19092); the controller listens on OBOL_KAFKA_CONTROLLER_PORT (default port + 1)
 *   OBOL_DYNAMODB_PORT    DynamoDB Local port (default 18000)
 *   OBOL_KAFKA_VERSION, OBOL_DYNAMODB_VERSION   override the pinned versions
 *   OBOL_SERVICES_KEEP_DATA=1   stop keeps the run dir (Kafka's log dirs) and start reuses it, so a
 *                         stop/start is a broker restart with its topics and offsets intact (the
 *                         broker-outage fault test); by default each start begins empty
 *
 * Exit codes: 0 done (status: running), 1 failed, 2 usage, 3 status: not running.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';

// The AWS SDK warns about Node versions on load; that says nothing about the services, and it
// would bury this script's own output.
process.removeAllListeners('warning');
process.on('warning', (warning) => {
  if (!warning.message.startsWith('NodeVersionSupportWarning')) console.error(`${warning.name}: ${warning.message}`);
});

const HOST = '127.0.0.1';
// 4.1.x: the newest line @platformatic/kafka (Obol's client) supports; 4.4 also passes its smoke test.
const KAFKA_VERSION = process.env.OBOL_KAFKA_VERSION || '4.1.2';
const LOG4J_VERSION = '2.24.3';
const DYNAMODB_VERSION = process.env.OBOL_DYNAMODB_VERSION || '2.6.1';
// Pinned so a fetch does not depend on whichever plugin version Maven would resolve by default.
const DEPENDENCY_PLUGIN = 'org.apache.maven.plugins:maven-dependency-plugin:3.8.1';
const START_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 30_000;

const CACHE_ROOT = resolve(process.env.OBOL_SERVICES_CACHE || join(homedir(), '.cache', 'obol', 'services'));
const RUN_ROOT = resolve(process.env.OBOL_SERVICES_RUN || join(tmpdir(), 'obol-services'));
const KEEP_DATA = process.env.OBOL_SERVICES_KEEP_DATA === '1';
/** Written once a run dir is prepared; with KEEP_DATA a later start reuses such a dir as it is. */
const PREPARED_MARKER = 'prepared';

function port(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > 65535) badSetting(`${name}=${raw} is not a TCP port`);
  return value;
}

/** Settings are read before main runs, so a bad one ends the script here, as a usage error. */
function badSetting(message) {
  console.error(`services: ${message}`);
  process.exit(2);
}

const kafkaPort = port('OBOL_KAFKA_PORT', 19092);
const controllerPort = port('OBOL_KAFKA_CONTROLLER_PORT', kafkaPort + 1);
const dynamoPort = port('OBOL_DYNAMODB_PORT', 18000);
if (controllerPort === kafkaPort) badSetting(`Kafka's broker and controller need two ports; both are ${kafkaPort}`);

/**
 * Each service: what Maven fetches, how the JVM starts, and how we know it is serving. `tag` goes
 * on the JVM's command line so that stop only ever signals a process this script started.
 */
const SERVICES = {
  kafka: {
    title: 'Kafka',
    version: KAFKA_VERSION,
    endpoint: `${HOST}:${kafkaPort}`,
    ports: [kafkaPort, controllerPort],
    envName: 'KAFKA_BROKERS',
    dependencies: [
      // The broker's own runtime closure (server, raft, metadata, storage, coordinators, clients).
      ['org.apache.kafka', 'kafka_2.13', KAFKA_VERSION],
      // Kafka logs through slf4j 1.7; without a binding it would log nothing at all.
      ['org.apache.logging.log4j', 'log4j-slf4j-impl', LOG4J_VERSION],
      ['org.apache.logging.log4j', 'log4j-core', LOG4J_VERSION],
    ],
    mavenArgs: [],
    afterFetch() {},
    prepare: prepareKafka,
    command: (dir, run) => [
      '-Xms128m',
      '-Xmx512m',
      // Two cores: a serial collector and no C2 keep a test broker from competing with the tests.
      '-XX:+UseSerialGC',
      '-XX:TieredStopAtLevel=1',
      '-XX:+ExitOnOutOfMemoryError',
      '-Djava.awt.headless=true',
      `-Dlog4j2.configurationFile=${join(run, 'log4j2.properties')}`,
      `-Dobol.service=${tagOf('kafka')}`,
      '-cp',
      join(dir, 'lib', '*'),
      'kafka.Kafka',
      join(run, 'server.properties'),
    ],
    probe: probeKafka,
  },
  dynamodb: {
    title: 'DynamoDB Local',
    version: DYNAMODB_VERSION,
    endpoint: `http://${HOST}:${dynamoPort}`,
    ports: [dynamoPort],
    envName: 'DYNAMODB_ENDPOINT',
    dependencies: [['com.amazonaws', 'DynamoDBLocal', DYNAMODB_VERSION]],
    // The Windows and macOS builds of sqlite4java are never loaded here.
    mavenArgs: ['-DexcludeTypes=dll,dylib'],
    afterFetch: moveSqliteNatives,
    prepare() {},
    command: (dir) => [
      '-Xms64m',
      '-Xmx256m',
      '-XX:+UseSerialGC',
      '-XX:TieredStopAtLevel=1',
      '-XX:+ExitOnOutOfMemoryError',
      '-Djava.awt.headless=true',
      // sqlite4java finds its JNI library only on java.library.path.
      `-Djava.library.path=${join(dir, 'native')}`,
      `-Dobol.service=${tagOf('dynamodb')}`,
      '-cp',
      join(dir, 'lib', '*'),
      'com.amazonaws.services.dynamodbv2.local.main.ServerRunner',
      '-inMemory',
      // One database for every access key and region, so tests and the app see the same tables
      // whatever dummy credentials each one uses.
      '-sharedDb',
      // It would otherwise try to report usage to AWS, and no network leaves this machine.
      '-disableTelemetry',
      '-port',
      String(dynamoPort),
    ],
    probe: probeDynamoDb,
  },
};

const NAMES = /** @type {const} */ (['kafka', 'dynamodb']);

// ---------------------------------------------------------------------------------------------
// Paths and small helpers

function cacheDir(name) {
  return join(CACHE_ROOT, `${name}-${SERVICES[name].version}`);
}

function tagOf(name) {
  return `${name}-${SERVICES[name].ports[0]}`;
}

function runDir(name) {
  return join(RUN_ROOT, tagOf(name));
}

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

function tail(file, lines = 40) {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function dirSize(dir) {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? dirSize(path) : statSync(path).size;
  }
  return total;
}

function mib(bytes) {
  return `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
}

/** True when something accepts a TCP connection on the port. */
function portInUse(portNumber) {
  return new Promise((done) => {
    const socket = connect({ host: HOST, port: portNumber });
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      done(false);
    });
    socket.once('error', () => done(false));
  });
}

// ---------------------------------------------------------------------------------------------
// Fetch

function isFetched(name) {
  const marker = join(cacheDir(name), 'fetched.json');
  if (!existsSync(marker)) return false;
  try {
    const recorded = JSON.parse(readFileSync(marker, 'utf8'));
    return JSON.stringify(recorded.dependencies) === JSON.stringify(SERVICES[name].dependencies);
  } catch {
    return false;
  }
}

function pom(name) {
  const deps = SERVICES[name].dependencies
    .map(
      ([groupId, artifactId, version]) =>
        `    <dependency><groupId>${groupId}</groupId><artifactId>${artifactId}</artifactId><version>${version}</version></dependency>`,
    )
    .join('\n');
  return `<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by scripts/services/services.mjs: the jars ${SERVICES[name].title} needs at run time. -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>obol.test-services</groupId>
  <artifactId>${name}</artifactId>
  <version>${SERVICES[name].version}</version>
  <packaging>pom</packaging>
  <dependencies>
${deps}
  </dependencies>
</project>
`;
}

function fetchService(name) {
  const service = SERVICES[name];
  const dir = cacheDir(name);
  if (isFetched(name)) {
    say(`${service.title} ${service.version}: cached in ${dir}`);
    return;
  }
  const started = performance.now();
  const mvn = spawnSync('mvn', ['--version'], { encoding: 'utf8' });
  if (mvn.error || mvn.status !== 0) fail('Maven (mvn) is needed to fetch the test services, and it is not on PATH.');

  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'pom.xml'), pom(name));
  // Copy into a scratch folder and rename at the end, so an interrupted fetch never looks done.
  const scratch = join(dir, `lib.partial-${process.pid}`);
  rmSync(scratch, { recursive: true, force: true });
  say(`${service.title} ${service.version}: fetching from Maven Central into ${dir}`);
  const result = spawnSync(
    'mvn',
    [
      '-q',
      '-B',
      '-f',
      join(dir, 'pom.xml'),
      `${DEPENDENCY_PLUGIN}:copy-dependencies`,
      `-DoutputDirectory=${scratch}`,
      '-DincludeScope=runtime',
      ...service.mavenArgs,
    ],
    { encoding: 'utf8', cwd: dir },
  );
  if (result.error || result.status !== 0) {
    rmSync(scratch, { recursive: true, force: true });
    fail(`Maven could not fetch ${service.title} ${service.version}:\n${result.stdout ?? ''}${result.stderr ?? ''}${result.error ?? ''}`);
  }
  rmSync(join(dir, 'lib'), { recursive: true, force: true });
  rmSync(join(dir, 'native'), { recursive: true, force: true });
  renameSync(scratch, join(dir, 'lib'));
  service.afterFetch(dir);
  writeFileSync(
    join(dir, 'fetched.json'),
    `${JSON.stringify({ service: name, version: service.version, dependencies: service.dependencies, fetchedAt: new Date().toISOString() }, null, 2)}\n`,
  );
  say(`${service.title} ${service.version}: fetched ${mib(dirSize(join(dir, 'lib')))} in ${seconds(started)}`);
}

/** DynamoDB Local loads `sqlite4java-linux-amd64` by that name from java.library.path. */
function moveSqliteNatives(dir) {
  const lib = join(dir, 'lib');
  const native = join(dir, 'native');
  mkdirSync(native, { recursive: true });
  for (const file of readdirSync(lib)) {
    const match = /^(libsqlite4java-[a-z0-9]+-[a-z0-9_]+)-[\d.]+\.so$/.exec(file);
    if (!match) continue;
    // Only the build for this machine is kept; the 32-bit one can never load in a 64-bit JVM.
    if (match[1] === 'libsqlite4java-linux-i386' && process.arch !== 'ia32') rmSync(join(lib, file));
    else renameSync(join(lib, file), join(native, `${match[1]}.so`));
  }
  if (process.platform === 'linux' && process.arch === 'x64' && !existsSync(join(native, 'libsqlite4java-linux-amd64.so'))) {
    fail(`DynamoDB Local's sqlite4java native library (libsqlite4java-linux-amd64) was not among the fetched files in ${lib}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Kafka specifics

/** A Kafka cluster id: 16 random bytes, base64url; Kafka refuses ids that begin with '-'. */
function kafkaClusterId() {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

function prepareKafka(dir, run) {
  const data = join(run, 'data');
  mkdirSync(data, { recursive: true });
  const properties = [
    '# Written by scripts/services/services.mjs: one KRaft node for tests, on loopback only.',
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@${HOST}:${controllerPort}`,
    `listeners=PLAINTEXT://${HOST}:${kafkaPort},CONTROLLER://${HOST}:${controllerPort}`,
    `advertised.listeners=PLAINTEXT://${HOST}:${kafkaPort}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    `log.dirs=${data}`,
    // One node: every internal topic has exactly one replica.
    'offsets.topic.replication.factor=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    'min.insync.replicas=1',
    // Topics are declared by whoever owns them (Obol has one per context, created explicitly),
    // so a misspelt topic is an error in tests as it is in production, not a silent new topic.
    'auto.create.topics.enable=false',
    // A consumer group's first rebalance otherwise waits 3 s for more members that never come.
    'group.initial.rebalance.delay.ms=0',
    '',
  ].join('\n');
  writeFileSync(join(run, 'server.properties'), properties);
  writeFileSync(
    join(run, 'log4j2.properties'),
    [
      'status = warn',
      'appender.out.type = Console',
      'appender.out.name = out',
      'appender.out.layout.type = PatternLayout',
      'appender.out.layout.pattern = [%d] %p %m (%c)%n',
      'rootLogger.level = INFO',
      'rootLogger.appenderRef.out.ref = out',
      // The broker prints every config value of every component at INFO.
      'logger.config.name = org.apache.kafka.common.config.AbstractConfig',
      'logger.config.level = WARN',
      '',
    ].join('\n'),
  );
  const format = spawnSync(
    'java',
    ['-Xmx256m', '-XX:TieredStopAtLevel=1', `-Dlog4j2.configurationFile=${join(run, 'log4j2.properties')}`, '-cp', join(dir, 'lib', '*'),
      'kafka.tools.StorageTool', 'format', '--cluster-id', kafkaClusterId(), '--config', join(run, 'server.properties')],
    { encoding: 'utf8' },
  );
  if (format.error || format.status !== 0) {
    fail(`Kafka's storage format failed:\n${format.stdout ?? ''}${format.stderr ?? ''}${format.error ?? ''}`);
  }
}

/** Ready means a Kafka API call is answered and the broker lists itself: a metadata request. */
async function probeKafka() {
  const { Admin } = await import('@platformatic/kafka');
  const admin = new Admin({
    clientId: 'obol-services',
    bootstrapBrokers: [SERVICES.kafka.endpoint],
    retries: 0,
    connectTimeout: 2000,
    requestTimeout: 3000,
    timeout: 3000,
  });
  try {
    const metadata = await admin.metadata({ topics: [] });
    return metadata.brokers.size > 0;
  } catch {
    return false;
  } finally {
    await admin.close().catch(() => {});
  }
}

/**
 * Ready means ListTables answers, and DescribeTable reaches the SQLite store: the first call that
 * needs sqlite4java's native library, so a missing one shows here rather than in a test.
 */
async function probeDynamoDb() {
  const { DynamoDBClient, ListTablesCommand, DescribeTableCommand } = await import('@aws-sdk/client-dynamodb');
  const client = new DynamoDBClient({
    endpoint: SERVICES.dynamodb.endpoint,
    region: 'us-east-1',
    // DynamoDB Local refuses access key ids that are not plain letters and digits.
    credentials: { accessKeyId: 'obolservices', secretAccessKey: 'obolservices' },
    maxAttempts: 1,
  });
  try {
    await client.send(new ListTablesCommand({ Limit: 1 }));
    try {
      await client.send(new DescribeTableCommand({ TableName: 'obol-services-probe' }));
    } catch (error) {
      if (error?.name !== 'ResourceNotFoundException') return false;
    }
    return true;
  } catch {
    return false;
  } finally {
    client.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// Processes

/** The pid from the run dir, if that process is alive and is the JVM this script started. */
function ownPid(name) {
  const pidFile = join(runDir(name), 'pid');
  if (!existsSync(pidFile)) return null;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return cmdline.includes(`-Dobol.service=${tagOf(name)}`) ? pid : null;
  } catch {
    // No /proc entry: the process is gone (on a system without /proc, fall back to a signal 0).
    if (existsSync('/proc/self')) return null;
    try {
      process.kill(pid, 0);
      return pid;
    } catch {
      return null;
    }
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

async function waitUntilReady(name, pid, started) {
  const service = SERVICES[name];
  const log = join(runDir(name), 'service.log');
  while (performance.now() - started < START_TIMEOUT_MS) {
    if (pid !== null && !alive(pid)) {
      fail(`${service.title} exited while starting. Last lines of ${log}:\n${tail(log)}`);
    }
    if (await service.probe()) return;
    await sleep(250);
  }
  fail(`${service.title} did not answer at ${service.endpoint} within ${START_TIMEOUT_MS / 1000}s. Last lines of ${log}:\n${tail(log)}`);
}

async function startService(name) {
  const service = SERVICES[name];
  const started = performance.now();
  const existing = ownPid(name);
  if (existing !== null) {
    await waitUntilReady(name, existing, started);
    say(`${service.title}: already running at ${service.endpoint} (pid ${existing})`);
    return;
  }
  // A pid file without its process is left from a crash or a reboot: start afresh (unless asked to keep the data).
  const reuse = KEEP_DATA && existsSync(join(runDir(name), PREPARED_MARKER));
  if (!reuse) rmSync(runDir(name), { recursive: true, force: true });
  for (const p of service.ports) {
    if (await portInUse(p)) {
      if (p === service.ports[0] && (await service.probe())) {
        say(`${service.title}: something this script did not start already answers at ${service.endpoint}; using it (stop will not touch it)`);
        return;
      }
      fail(`${service.title} cannot start: ${HOST}:${p} is taken by another process. Stop it or choose other ports (OBOL_KAFKA_PORT, OBOL_DYNAMODB_PORT).`);
    }
  }

  fetchService(name);
  const dir = cacheDir(name);
  const run = runDir(name);
  mkdirSync(run, { recursive: true });
  const launchStarted = performance.now();
  if (!reuse) {
    try {
      service.prepare(dir, run);
    } catch (error) {
      rmSync(run, { recursive: true, force: true });
      throw error;
    }
    writeFileSync(join(run, PREPARED_MARKER), '');
  }
  const log = join(run, 'service.log');
  const out = openSync(log, 'a');
  // Detached in a session of its own: the service outlives this script and a Ctrl-C of the shell
  // that started it, until `stop`.
  const child = spawn('java', service.command(dir, run), { cwd: run, detached: true, stdio: ['ignore', out, out] });
  closeSync(out);
  await new Promise((done, reject) => {
    child.once('spawn', done);
    child.once('error', (error) => reject(new Error(`could not start java for ${service.title}: ${error.message}`)));
  });
  writeFileSync(join(run, 'pid'), `${child.pid}\n`);
  child.unref();
  try {
    await waitUntilReady(name, child.pid, launchStarted);
  } catch (error) {
    await stopService(name, { quiet: true });
    throw error;
  }
  say(`${service.title} ${service.version}: started at ${service.endpoint} (pid ${child.pid}, log ${log}) in ${seconds(launchStarted)}${launchStarted - started > 1000 ? `, ${seconds(started)} with the fetch` : ''}`);
}

async function stopService(name, { quiet = false } = {}) {
  const service = SERVICES[name];
  const run = runDir(name);
  const pid = ownPid(name);
  if (pid === null) {
    forget(run);
    if (!quiet) say(`${service.title}: not running`);
    return;
  }
  const started = performance.now();
  // The JVM is the leader of its own process group (detached), so this reaches only it.
  process.kill(pid, 'SIGTERM');
  while (alive(pid) && performance.now() - started < STOP_TIMEOUT_MS) await sleep(100);
  if (alive(pid)) process.kill(pid, 'SIGKILL');
  while (alive(pid)) await sleep(50);
  forget(run);
  if (!quiet) say(`${service.title}: stopped (pid ${pid}) in ${seconds(started)}`);
}

/** After a stop: the run dir goes, or with KEEP_DATA only its pid file. */
function forget(run) {
  if (KEEP_DATA) rmSync(join(run, 'pid'), { force: true });
  else rmSync(run, { recursive: true, force: true });
}

async function status(name) {
  const service = SERVICES[name];
  const pid = ownPid(name);
  const fetched = isFetched(name) ? `cached ${mib(dirSize(cacheDir(name)))} in ${cacheDir(name)}` : 'not fetched';
  if (pid === null) {
    say(`${service.title} ${service.version}: not running (${fetched})`);
    return false;
  }
  const answering = await service.probe();
  say(`${service.title} ${service.version}: running at ${service.endpoint} (pid ${pid}${answering ? '' : ', NOT answering'}; ${fetched})`);
  return answering;
}

// ---------------------------------------------------------------------------------------------
// Command line

const USAGE = 'usage: node scripts/services/services.mjs fetch|start|stop|status|env [kafka|dynamodb|all]';

async function main(argv) {
  const [command, which = 'all', ...rest] = argv;
  if (rest.length > 0 || !['all', ...NAMES].includes(which)) {
    console.error(USAGE);
    return 2;
  }
  const names = which === 'all' ? [...NAMES] : [which];
  const started = performance.now();
  switch (command) {
    case 'fetch':
      for (const name of names) fetchService(name);
      return 0;
    case 'start':
      // One at a time: two JVMs starting together on two cores only slow each other down.
      for (const name of names) await startService(name);
      if (names.length > 1) say(`services ready in ${seconds(started)}`);
      return 0;
    case 'stop':
      for (const name of [...names].reverse()) await stopService(name);
      return 0;
    case 'status': {
      let allUp = true;
      for (const name of names) allUp = (await status(name)) && allUp;
      return allUp ? 0 : 3;
    }
    case 'env':
      // For `eval "$(node scripts/services/services.mjs env)"`.
      for (const name of names) say(`export ${SERVICES[name].envName}=${SERVICES[name].endpoint}`);
      return 0;
    default:
      console.error(USAGE);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    console.error(error?.expected ? `services: ${error.message}` : error);
    process.exitCode = 1;
  },
);
