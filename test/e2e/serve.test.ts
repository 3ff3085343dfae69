/**
 * The real `obol` binary as a newcomer runs it: `serve` starts on an empty SQLite file, migrates
 * and seeds it, answers a checkout over HTTP, and shuts down cleanly on SIGTERM. Needs the build
 * (`npm test` builds first).
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForLine } from '../support/processes.js';

const BIN = new URL('../../bin/obol.js', import.meta.url).pathname;

describe('obol CLI', () => {
  it('prints usage and every configuration variable for --help', () => {
    const out = spawnSync(process.execPath, [BIN, '--help'], { encoding: 'utf8' });
    expect(out.status).toBe(0);
    expect(out.stdout).toContain('obol serve');
    expect(out.stdout).toContain('DATABASE_URL');
  });

  it('refuses a broken configuration with one clear line per mistake', () => {
    const out = spawnSync(process.execPath, [BIN, 'migrate'], { encoding: 'utf8', env: { ...process.env, PORT: 'eighty', DATABASE_URL: 'postgres://x', LOG_LEVEL: 'loud' } });
    expect(out.status).toBe(2);
    expect(out.stderr).toMatch(/PORT/);
    expect(out.stderr).toMatch(/DATABASE_URL/);
    expect(out.stderr).toMatch(/LOG_LEVEL/);
  });

  it('refuses an unknown command', () => {
    const out = spawnSync(process.execPath, [BIN, 'launch'], { encoding: 'utf8' });
    expect(out.status).toBe(2);
    expect(out.stderr).toContain('unknown command');
  });
});

describe('obol serve', () => {
  let dir: string;
  let child: ChildProcessWithoutNullStreams;
  let base: string;
  let env: NodeJS.ProcessEnv;
  let learnerToken: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'obol-serve-'));
    env = {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      GRPC_PORT: '0',
      GRPC_HOST: '127.0.0.1',
      DATABASE_URL: `sqlite:${join(dir, 'obol.db')}`,
      AUTH_DEV_KEY_FILE: join(dir, 'signing-key.json'),
      DEV_ENCRYPTION_KEY_FILE: join(dir, 'encryption-keys.json'),
      LOG_LEVEL: 'info',
      NODE_ENV: 'development',
    };
    child = spawn(process.execPath, [BIN, 'serve'], { env });
    const listening = await waitForLine(child, (l) => l.msg === 'obol is listening');
    base = `http://127.0.0.1:${String(listening.port)}`;
    const minted = spawnSync(process.execPath, [BIN, 'token', '--sub', 'cus_e2e', '--role', 'learner'], { encoding: 'utf8', env });
    expect(minted.status, minted.stderr).toBe(0);
    learnerToken = minted.stdout.trim();
  });

  afterAll(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates, migrates and seeds the SQLite file on first start and reports ready', async () => {
    expect(existsSync(join(dir, 'obol.db'))).toBe(true);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
  });

  it('performs a checkout over HTTP', async () => {
    const post = async (query: string, variables: Record<string, unknown>) =>
      (await (await fetch(`${base}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${learnerToken}` }, body: JSON.stringify({ query, variables }) })).json()) as {
        data: Record<string, any>;
        errors?: unknown;
      };
    const created = await post(`mutation($i: CreateCheckoutSessionInput!) { createCheckoutSession(input: $i) { checkoutSession { id total { amount } } } }`, {
      i: { customerId: 'cus_e2e', country: 'IN', items: [{ priceId: 'price_plus_monthly_inr', quantity: 1 }], idempotencyKey: crypto.randomUUID() },
    });
    expect(created.errors).toBeUndefined();
    const sessionId = created.data.createCheckoutSession.checkoutSession.id;
    const confirmed = await post(`mutation($i: ConfirmCheckoutSessionInput!) { confirmCheckoutSession(input: $i) { payment { status } checkoutSession { status } } }`, {
      i: { sessionId, paymentMethodToken: 'tok_visa', idempotencyKey: crypto.randomUUID() },
    });
    expect(confirmed.errors).toBeUndefined();
    expect(confirmed.data.confirmCheckoutSession.payment.status).toBe('succeeded');
    expect(confirmed.data.confirmCheckoutSession.checkoutSession.status).toBe('complete');
  });

  it('shuts down cleanly on SIGTERM', async () => {
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const stopped = waitForLine(child, (l) => l.msg === 'stopped cleanly');
    child.kill('SIGTERM');
    await stopped;
    expect(await exited).toBe(0);
  });
});
