/**
 * `obol token` as a developer runs it: `TOKEN=$(obol token --sub cus_ada --role learner)` gets a
 * token and nothing else, which the server (a verifier built from the same configuration)
 * accepts. Needs the build (`npm test` builds first).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenVerifier } from '../../src/platform/auth/index.js';
import { loadConfig } from '../../src/platform/config.js';

const BIN = new URL('../../bin/obol.js', import.meta.url).pathname;

describe('obol token', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'obol-token-'));
    env = { ...process.env, NODE_ENV: 'development', AUTH_MODE: '', AUTH_DEV_KEY_FILE: join(dir, 'data', 'dev-signing-key.json') };
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function obol(...args: string[]) {
    return spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env });
  }

  it('prints only a token, which a verifier with the same configuration accepts', async () => {
    const out = obol('token', '--sub', 'cus_x', '--role', 'learner');
    expect(out.stderr).toBe('');
    expect(out.status).toBe(0);
    expect(out.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);

    const verifier = await createTokenVerifier({ config: loadConfig(env) });
    await expect(verifier.verify({ token: out.stdout.trim() })).resolves.toMatchObject({ subject: 'cus_x', roles: ['learner'], customerId: 'cus_x', kind: 'customer' });
  });

  it('takes several --role flags and a --ttl', async () => {
    const out = obol('token', '--sub', 'ops_1', '--role', 'support', '--role', 'finance', '--ttl', '600');
    expect(out.status).toBe(0);
    const verifier = await createTokenVerifier({ config: loadConfig(env) });
    await expect(verifier.verify({ token: out.stdout.trim() })).resolves.toMatchObject({ subject: 'ops_1', roles: ['support', 'finance'], kind: 'staff' });
  });

  it('refuses without --sub, with an unknown role, with a learner that is not a customer id, or a bad --ttl', () => {
    for (const [args, message] of [
      [['token', '--role', 'learner'], /--sub is required/],
      [['token', '--sub', 'cus_x'], /--role is required/],
      [['token', '--sub', 'cus_x', '--role', 'wizard'], /unknown role "wizard"/],
      [['token', '--sub', 'ada@example.com', '--role', 'learner'], /customer id/],
      [['token', '--sub', 'cus_x', '--role', 'learner', '--role', 'admin'], /exactly one role/],
      [['token', '--sub', 'cus_x', '--role', 'learner', '--ttl', 'forever'], /--ttl/],
      [['token', '--sub', 'cus_x', '--roles', 'learner'], /--role/],
    ] as const) {
      const out = obol(...args);
      expect(out.status, args.join(' ')).toBe(2);
      expect(out.stdout).toBe('');
      expect(out.stderr).toMatch(message);
    }
  });

  it('refuses in jwks mode: tokens come from the identity provider there', () => {
    const out = spawnSync(process.execPath, [BIN, 'token', '--sub', 'cus_x', '--role', 'learner'], {
      encoding: 'utf8',
      env: { ...env, AUTH_MODE: 'jwks', AUTH_JWKS_URL: 'https://login.example.test/.well-known/jwks.json' },
    });
    expect(out.status).toBe(2);
    expect(out.stdout).toBe('');
    expect(out.stderr).toMatch(/AUTH_MODE=development/);
  });

  it('is listed in --help', () => {
    const out = obol('--help');
    expect(out.stdout).toContain('obol token --sub');
  });
});
