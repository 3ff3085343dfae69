import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, base64url, calculateJwkThumbprint, exportJWK, exportSPKI, generateKeyPair, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock, ObolError } from '../../kernel/index.js';
import { ConfigError, loadConfig, type Config } from '../config.js';
import { loadOrCreateDevSigningKey } from './dev-key.js';
import { AuthenticationError, UNAUTHENTICATED_MESSAGE, type AuthFailureReason } from './principal.js';
import { createTokenVerifier, parseBearer, signDevelopmentToken, VERIFIED_TTL_MS, type TokenVerifier } from './verifier.js';

const ISSUER = 'https://login.example.test/';
const AUDIENCE = 'obol-api';
const NOW_MS = 1_800_000_000_000;
const NOW = NOW_MS / 1000;

interface TestKey {
  readonly alg: string;
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  readonly publicJwk: JWK;
}

async function makeKey(alg: 'ES256' | 'RS256' | 'EdDSA' | 'PS256' = 'ES256'): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk);
  return { alg, kid, privateKey, publicKey, publicJwk: { ...jwk, kid, alg, use: 'sig' } };
}

function jwks(...keys: TestKey[]): { keys: JWK[] } {
  return { keys: keys.map((k) => k.publicJwk) };
}

/** A token as an identity provider would issue it at NOW, with `claims` overriding the defaults (undefined removes one). */
function sign(key: TestKey, claims: Record<string, unknown> = {}, header: { kid?: string } = {}): Promise<string> {
  const payload: Record<string, unknown> = { iss: ISSUER, aud: AUDIENCE, sub: 'cus_ada', roles: ['learner'], iat: NOW, exp: NOW + 300, ...claims };
  for (const [name, value] of Object.entries(payload)) if (value === undefined) delete payload[name];
  return new SignJWT(payload as JWTPayload).setProtectedHeader({ alg: key.alg, kid: header.kid ?? key.kid, typ: 'JWT' }).sign(key.privateKey);
}

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'obol-auth-'));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function jwksFileConfig(set: unknown, env: NodeJS.ProcessEnv = {}): Config {
  const file = join(tempDir(), 'jwks.json');
  writeFileSync(file, JSON.stringify(set));
  return loadConfig({ NODE_ENV: 'test', AUTH_MODE: 'jwks', AUTH_JWKS_FILE: file, AUTH_ISSUER: ISSUER, AUTH_AUDIENCE: AUDIENCE, ...env });
}

function devConfig(keyFile = join(tempDir(), 'keys', 'dev-signing-key.json')): Config {
  return loadConfig({ NODE_ENV: 'test', AUTH_DEV_KEY_FILE: keyFile });
}

async function refusal(promise: Promise<unknown>): Promise<AuthFailureReason> {
  const err = await promise.then(
    () => {
      throw new Error('expected the token to be refused');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AuthenticationError);
  const auth = err as AuthenticationError;
  expect(auth.code).toBe('UNAUTHENTICATED');
  // One message whatever failed: the reason is for our logs, not for the caller.
  expect(auth.message).toBe(UNAUTHENTICATED_MESSAGE);
  expect(auth.details).toBeUndefined();
  return auth.reason;
}

async function obolError(promise: Promise<unknown>): Promise<ObolError> {
  const err = await promise.then(
    () => {
      throw new Error('expected an error');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ObolError);
  return err as ObolError;
}

describe('token verification against a JWKS file', () => {
  let key: TestKey;
  let other: TestKey;
  let verifier: TokenVerifier;
  const clock = new ManualClock(NOW_MS);

  beforeAll(async () => {
    key = await makeKey('ES256');
    other = await makeKey('ES256');
    verifier = await createTokenVerifier({ config: jwksFileConfig(jwks(key)), clock });
  });

  it('accepts a learner token and gives the customer principal', async () => {
    const principal = await verifier.verify({ token: await sign(key, { jti: 'tok_1' }) });
    expect(principal).toEqual({ subject: 'cus_ada', roles: ['learner'], customerId: 'cus_ada', kind: 'customer', tokenId: 'tok_1' });
    expect(verifier.source).toBe('jwks-file');
  });

  it('accepts a staff token, ignoring role names of the identity provider', async () => {
    const principal = await verifier.verify({ token: await sign(key, { sub: 'auth0|ops-7', roles: ['support', 'finance', 'offline_access'] }) });
    expect(principal).toMatchObject({ subject: 'auth0|ops-7', roles: ['support', 'finance'], customerId: null, kind: 'staff' });
  });

  it('accepts a client-credentials service token', async () => {
    const principal = await verifier.verify({ token: await sign(key, { sub: 'svc_enrolment', roles: ['service'] }) });
    expect(principal).toMatchObject({ subject: 'svc_enrolment', roles: ['service'], kind: 'service' });
  });

  it('accepts an audience list that includes ours', async () => {
    await expect(verifier.verify({ token: await sign(key, { aud: ['other-api', AUDIENCE] }) })).resolves.toMatchObject({ subject: 'cus_ada' });
  });

  it('refuses an expired token', async () => {
    expect(await refusal(verifier.verify({ token: await sign(key, { iat: NOW - 3600, exp: NOW - 31 }) }))).toBe('expired');
  });

  it('accepts a token expired by less than the configured clock skew (30 s)', async () => {
    await expect(verifier.verify({ token: await sign(key, { iat: NOW - 3600, exp: NOW - 29 }) })).resolves.toMatchObject({ subject: 'cus_ada' });
  });

  it('refuses a token that is not valid yet, beyond the clock skew', async () => {
    expect(await refusal(verifier.verify({ token: await sign(key, { nbf: NOW + 120, exp: NOW + 600 }) }))).toBe('not_yet_valid');
    await expect(verifier.verify({ token: await sign(key, { nbf: NOW + 20 }) })).resolves.toMatchObject({ subject: 'cus_ada' });
  });

  it('refuses a token without an expiry', async () => {
    expect(await refusal(verifier.verify({ token: await sign(key, { exp: undefined }) }))).toBe('missing_claim');
  });

  it('refuses a token from another issuer', async () => {
    expect(await refusal(verifier.verify({ token: await sign(key, { iss: 'https://evil.example.test/' }) }))).toBe('wrong_issuer');
    expect(await refusal(verifier.verify({ token: await sign(key, { iss: undefined }) }))).toBe('missing_claim');
  });

  it('refuses a token for another audience', async () => {
    expect(await refusal(verifier.verify({ token: await sign(key, { aud: 'billing-api' }) }))).toBe('wrong_audience');
  });

  it('refuses an unsigned alg:none token', async () => {
    const header = base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }));
    const payload = base64url.encode(JSON.stringify({ iss: ISSUER, aud: AUDIENCE, sub: 'cus_ada', roles: ['learner'], iat: NOW, exp: NOW + 300 }));
    expect(await refusal(verifier.verify({ token: `${header}.${payload}.` }))).toBe('unsupported_algorithm');
  });

  it('refuses a token whose payload was changed after signing', async () => {
    const [header, payload, signature] = (await sign(key)).split('.') as [string, string, string];
    const claims = JSON.parse(new TextDecoder().decode(base64url.decode(payload))) as Record<string, unknown>;
    const forged = base64url.encode(JSON.stringify({ ...claims, sub: 'cus_grace' }));
    expect(await refusal(verifier.verify({ token: `${header}.${forged}.${signature}` }))).toBe('bad_signature');
  });

  it('refuses a token signed by another key claiming our key id', async () => {
    expect(await refusal(verifier.verify({ token: await sign(other, {}, { kid: key.kid }) }))).toBe('bad_signature');
  });

  it('refuses a token signed by a key it does not know', async () => {
    expect(await refusal(verifier.verify({ token: await sign(other) }))).toBe('unknown_key');
  });

  it('refuses an HS256 token that uses our public key as the HMAC secret (algorithm confusion)', async () => {
    const claims = { iss: ISSUER, aud: AUDIENCE, sub: 'cus_ada', roles: ['learner'], iat: NOW, exp: NOW + 300 };
    for (const secret of [await exportSPKI(key.publicKey), JSON.stringify(key.publicJwk)]) {
      const token = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: key.kid }).sign(new TextEncoder().encode(secret));
      expect(await refusal(verifier.verify({ token }))).toBe('unsupported_algorithm');
    }
  });

  it('refuses a token without a subject', async () => {
    expect(await refusal(verifier.verify({ token: await sign(key, { sub: undefined }) }))).toBe('missing_claim');
  });

  it('refuses a learner token whose subject is not a customer id', async () => {
    expect(await refusal(verifier.verify({ token: await sign(key, { sub: 'ada@example.com' }) }))).toBe('invalid_subject');
  });

  it('refuses a token that makes a learner an admin too', async () => {
    expect(await refusal(verifier.verify({ token: await sign(key, { roles: ['learner', 'admin'] }) }))).toBe('conflicting_roles');
  });

  it('keeps the claims of a refused token out of the error, since they reach the logs', async () => {
    const err = await verifier.verify({ token: await sign(key, { aud: 'billing-api', email: 'ada@example.com' }) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthenticationError);
    expect(JSON.stringify(err, Object.getOwnPropertyNames(err))).not.toContain('ada@example.com');
    expect((err as Error).cause).toBeUndefined();
  });

  it('refuses a token with only role names it does not know', async () => {
    expect(await refusal(verifier.verify({ token: await sign(key, { sub: 'auth0|x', roles: ['offline_access', 'superuser'] }) }))).toBe('no_known_role');
  });

  it('refuses a token larger than 8 KiB before parsing it', async () => {
    const token = await sign(key, { padding: 'x'.repeat(9000) });
    expect(await refusal(verifier.verify({ token }))).toBe('too_large');
  });

  it('refuses empty and malformed tokens', async () => {
    expect(await refusal(verifier.verify({ token: '' }))).toBe('missing_token');
    expect(await refusal(verifier.verify({ token: 'not a token' }))).toBe('malformed');
    expect(await refusal(verifier.verify({ token: 'a.b' }))).toBe('malformed');
    expect(await refusal(verifier.verify({ token: 'eyJhbGciOiJFUzI1NiJ9.e30.AAAA' }))).toBe('bad_signature');
  });

  it('follows the clock it is given', async () => {
    const token = await sign(key, { exp: NOW + 300 });
    const later = new ManualClock(NOW_MS + 331_000);
    const lateVerifier = await createTokenVerifier({ config: jwksFileConfig(jwks(key)), clock: later });
    expect(await refusal(lateVerifier.verify({ token }))).toBe('expired');
  });

  it('accepts RS256, PS256 and EdDSA keys from the same set', async () => {
    const rsa = await makeKey('RS256');
    const pss = await makeKey('PS256');
    const ed = await makeKey('EdDSA');
    const multi = await createTokenVerifier({ config: jwksFileConfig(jwks(key, rsa, pss, ed)), clock });
    for (const k of [key, rsa, pss, ed]) await expect(multi.verify({ token: await sign(k) })).resolves.toMatchObject({ subject: 'cus_ada' });
  });
});

describe('reading a JWKS file', () => {
  it('stops the start with a clear error when the file is missing or not a JWKS', async () => {
    const missing = loadConfig({ NODE_ENV: 'test', AUTH_MODE: 'jwks', AUTH_JWKS_FILE: join(tempDir(), 'nope.json') });
    await expect(createTokenVerifier({ config: missing })).rejects.toThrow(ConfigError);
    await expect(createTokenVerifier({ config: missing })).rejects.toThrow(/AUTH_JWKS_FILE: cannot read/);
    await expect(createTokenVerifier({ config: jwksFileConfig('not json') })).rejects.toThrow(/not a usable JWKS/);
    await expect(createTokenVerifier({ config: jwksFileConfig({ keys: [] }) })).rejects.toThrow(/at least one key/);
  });

  it('refuses a JWKS file that holds a private key', async () => {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const config = jwksFileConfig({ keys: [await exportJWK(privateKey)] });
    await expect(createTokenVerifier({ config })).rejects.toThrow(/private key material/);
  });
});

describe('token verification against a JWKS URL', () => {
  let server: Server;
  let url: string;
  let served: { keys: JWK[] } = { keys: [] };
  let status = 200;
  let fetches = 0;

  beforeAll(async () => {
    server = createServer((req, res) => {
      fetches++;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(served));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
  afterEach(() => {
    status = 200;
  });

  function urlConfig(jwksUrl = url): Config {
    return loadConfig({ NODE_ENV: 'test', AUTH_MODE: 'jwks', AUTH_JWKS_URL: jwksUrl, AUTH_ISSUER: ISSUER, AUTH_AUDIENCE: AUDIENCE });
  }

  it('fetches the keys once and verifies tokens with them', async () => {
    const key = await makeKey();
    served = jwks(key);
    fetches = 0;
    const verifier = await createTokenVerifier({ config: urlConfig(), clock: new ManualClock(NOW_MS) });
    expect(verifier.source).toBe('jwks-url');
    expect(fetches).toBe(0);
    await expect(verifier.verify({ token: await sign(key) })).resolves.toMatchObject({ subject: 'cus_ada' });
    await expect(verifier.verify({ token: await sign(key, { sub: 'svc_enrolment', roles: ['service'] }) })).resolves.toMatchObject({ kind: 'service' });
    expect(fetches).toBe(1);
  });

  it('picks up a rotated key: a token with a new kid triggers a refetch and is accepted', async () => {
    const oldKey = await makeKey();
    const newKey = await makeKey();
    served = jwks(oldKey);
    const verifier = await createTokenVerifier({ config: urlConfig(), clock: new ManualClock(NOW_MS), remoteJwks: { cooldownMs: 0 } });
    await expect(verifier.verify({ token: await sign(oldKey) })).resolves.toMatchObject({ subject: 'cus_ada' });
    expect(await refusal(verifier.verify({ token: await sign(newKey) }))).toBe('unknown_key');

    // The identity provider restarts with the new key published and the old one withdrawn.
    served = jwks(newKey);
    fetches = 0;
    await expect(verifier.verify({ token: await sign(newKey) })).resolves.toMatchObject({ subject: 'cus_ada' });
    expect(fetches).toBe(1);
    expect(await refusal(verifier.verify({ token: await sign(oldKey) }))).toBe('unknown_key');
  });

  it('remembers a verified token for at most a minute: a withdrawn key stops working by then, and never past exp', async () => {
    const key = await makeKey();
    const replacement = await makeKey();
    served = jwks(key);
    const clock = new ManualClock(NOW_MS);
    const verifier = await createTokenVerifier({ config: urlConfig(), clock, remoteJwks: { cooldownMs: 0, cacheMaxAgeMs: 1 } });
    const token = await sign(key, { sub: 'svc_enrolment', roles: ['service'], exp: NOW + 3600 });
    await expect(verifier.verify({ token })).resolves.toMatchObject({ kind: 'service' });

    // The key is withdrawn. Within the minute the verified token is still known (no fetch, no
    // signature check); after it, the token is checked again and refused.
    served = jwks(replacement);
    fetches = 0;
    clock.advance(VERIFIED_TTL_MS - 1_000);
    await expect(verifier.verify({ token })).resolves.toMatchObject({ kind: 'service' });
    expect(fetches).toBe(0);
    clock.advance(2_000);
    expect(await refusal(verifier.verify({ token }))).toBe('unknown_key');

    // A token is never remembered past its expiry (beyond the clock skew the verifier allows).
    served = jwks(key);
    const shortLived = await sign(key, { iat: NOW, exp: Math.floor(clock.now() / 1000) + 10 });
    await expect(verifier.verify({ token: shortLived })).resolves.toMatchObject({ subject: 'cus_ada' });
    clock.advance(41_000);
    expect(await refusal(verifier.verify({ token: shortLived }))).toBe('expired');
  });

  it('never takes another token for a remembered one', async () => {
    const key = await makeKey();
    served = jwks(key);
    const verifier = await createTokenVerifier({ config: urlConfig(), clock: new ManualClock(NOW_MS) });
    const token = await sign(key, { sub: 'staff_ops', roles: ['support'] });
    await expect(verifier.verify({ token })).resolves.toMatchObject({ kind: 'staff' });
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const tamperedSignature = `${header}.${payload}.${signature.slice(0, -2)}${signature.endsWith('AA') ? 'BB' : 'AA'}`;
    expect(await refusal(verifier.verify({ token: tamperedSignature }))).toBe('bad_signature');
    const otherPayload = base64url.encode(JSON.stringify({ iss: ISSUER, aud: AUDIENCE, sub: 'staff_ops', roles: ['admin'], iat: NOW, exp: NOW + 300 }));
    expect(await refusal(verifier.verify({ token: `${header}.${otherPayload}.${signature}` }))).toBe('bad_signature');
  });

  it('does not refetch for unknown key ids during the cooldown, so made-up kids cannot flood the identity provider', async () => {
    const key = await makeKey();
    const stranger = await makeKey();
    served = jwks(key);
    const verifier = await createTokenVerifier({ config: urlConfig(), clock: new ManualClock(NOW_MS) });
    await verifier.verify({ token: await sign(key) });
    fetches = 0;
    for (let i = 0; i < 5; i++) expect(await refusal(verifier.verify({ token: await sign(stranger) }))).toBe('unknown_key');
    expect(fetches).toBe(0);
  });

  it('answers SERVICE_UNAVAILABLE, not UNAUTHENTICATED, when the JWKS URL cannot be reached', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));

    const key = await makeKey();
    const verifier = await createTokenVerifier({ config: urlConfig(`http://127.0.0.1:${port}/jwks.json`), remoteJwks: { timeoutMs: 2_000 } });
    const err = await obolError(verifier.verify({ token: await sign(key, { exp: Math.floor(Date.now() / 1000) + 300, iat: undefined }) }));
    expect(err).not.toBeInstanceOf(AuthenticationError);
    expect(err.code).toBe('SERVICE_UNAVAILABLE');
  });

  it('answers SERVICE_UNAVAILABLE when the identity provider answers with an error', async () => {
    const key = await makeKey();
    served = jwks(key);
    status = 503;
    const verifier = await createTokenVerifier({ config: urlConfig(), clock: new ManualClock(NOW_MS) });
    expect((await obolError(verifier.verify({ token: await sign(key) }))).code).toBe('SERVICE_UNAVAILABLE');
  });

  it('still refuses a bad token without contacting the identity provider', async () => {
    fetches = 0;
    const verifier = await createTokenVerifier({ config: urlConfig(), clock: new ManualClock(NOW_MS) });
    expect(await refusal(verifier.verify({ token: 'eyJhbGciOiJub25lIn0.e30.' }))).toBe('unsupported_algorithm');
    expect(fetches).toBe(0);
  });
});

describe('development mode', () => {
  it('creates the signing key on first start (mode 0600, directory created) and reuses it afterwards', async () => {
    const file = join(tempDir(), 'nested', 'data', 'dev-signing-key.json');
    const first = await loadOrCreateDevSigningKey({ file });
    const second = await loadOrCreateDevSigningKey({ file });
    expect(first.created).toBe(true);
    expect(second.created).toBe(false);
    expect(second.kid).toBe(first.kid);
    expect(first.publicJwk).toMatchObject({ kty: 'EC', crv: 'P-256', kid: first.kid, alg: 'ES256', use: 'sig' });
    expect(first.publicJwk).not.toHaveProperty('d');
    if (process.platform !== 'win32') expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('keeps one key when several processes start at once on a fresh checkout', async () => {
    const file = join(tempDir(), 'dev-signing-key.json');
    const keys = await Promise.all(Array.from({ length: 6 }, () => loadOrCreateDevSigningKey({ file })));
    expect(new Set(keys.map((k) => k.kid)).size).toBe(1);
    expect(keys.filter((k) => k.created)).toHaveLength(1);
  });

  it('verifies tokens signed by `obol token` in another verifier built on the same key file', async () => {
    const config = devConfig();
    const token = await signDevelopmentToken({ config, subject: 'cus_ada', roles: ['learner'] });
    const header = JSON.parse(new TextDecoder().decode(base64url.decode(token.split('.')[0]!))) as { alg: string; kid: string };
    expect(header.alg).toBe('ES256');
    expect(header.kid).toBe((await loadOrCreateDevSigningKey({ file: config.authDevKeyFile })).kid);

    const verifier = await createTokenVerifier({ config });
    const again = await createTokenVerifier({ config });
    expect(verifier.source).toBe('development');
    const principal = await verifier.verify({ token });
    expect(principal).toMatchObject({ subject: 'cus_ada', roles: ['learner'], customerId: 'cus_ada', kind: 'customer' });
    expect(principal.tokenId).toMatch(/^[0-9a-f-]{36}$/);
    await expect(again.verify({ token })).resolves.toEqual(principal);
  });

  it('signs the configured issuer and audience, the lifetime asked for, and a fresh jti each time', async () => {
    const config = devConfig();
    const now = Date.now();
    const token = await signDevelopmentToken({ config, subject: 'ops_1', roles: ['support', 'finance'], ttlSeconds: 120, now });
    const claims = JSON.parse(new TextDecoder().decode(base64url.decode(token.split('.')[1]!))) as JWTPayload;
    const iat = Math.floor(now / 1000);
    expect(claims).toMatchObject({ iss: 'obol-dev', aud: 'obol', sub: 'ops_1', iat, nbf: iat, exp: iat + 120, roles: ['support', 'finance'] });
    const other = await signDevelopmentToken({ config, subject: 'ops_1', roles: ['support'] });
    const otherClaims = JSON.parse(new TextDecoder().decode(base64url.decode(other.split('.')[1]!))) as JWTPayload;
    expect(otherClaims.jti).not.toBe(claims.jti);
    expect(otherClaims.exp! - otherClaims.iat!).toBe(3600);
  });

  it('refuses a token signed by a different development key', async () => {
    const signer = devConfig();
    const token = await signDevelopmentToken({ config: signer, subject: 'cus_ada', roles: ['learner'] });
    const verifier = await createTokenVerifier({ config: devConfig() });
    expect(await refusal(verifier.verify({ token }))).toBe('unknown_key');
  });

  it('refuses to mint a token the verifier would refuse, saying why', async () => {
    const config = devConfig();
    const learnerEmail = await obolError(signDevelopmentToken({ config, subject: 'ada@example.com', roles: ['learner'] }));
    expect(learnerEmail.code).toBe('VALIDATION_FAILED');
    expect(learnerEmail.message).toMatch(/customer id/);
    expect((await obolError(signDevelopmentToken({ config, subject: 'cus_ada', roles: ['learner', 'admin'] }))).code).toBe('VALIDATION_FAILED');
    expect((await obolError(signDevelopmentToken({ config, subject: 'ops_1', roles: [] }))).code).toBe('VALIDATION_FAILED');
    expect((await obolError(signDevelopmentToken({ config, subject: 'ops_1', roles: ['wizard' as never] }))).code).toBe('VALIDATION_FAILED');
    expect((await obolError(signDevelopmentToken({ config, subject: 'ops_1', roles: ['admin'], ttlSeconds: 31 * 24 * 3600 }))).code).toBe('VALIDATION_FAILED');
    expect((await obolError(signDevelopmentToken({ config, subject: 'ops_1', roles: ['admin'], ttlSeconds: 0 }))).code).toBe('VALIDATION_FAILED');
  });

  it('refuses to sign development tokens in jwks mode', async () => {
    const key = await makeKey();
    const err = await obolError(signDevelopmentToken({ config: jwksFileConfig(jwks(key)), subject: 'cus_ada', roles: ['learner'] }));
    expect(err.code).toBe('FORBIDDEN');
    expect(err.message).toMatch(/AUTH_MODE=development/);
  });

  it('refuses development mode under NODE_ENV=production even with a hand-built configuration', async () => {
    const config: Config = { ...devConfig(), nodeEnv: 'production' };
    await expect(createTokenVerifier({ config })).rejects.toThrow(ConfigError);
  });

  it('refuses to start on a damaged key file instead of silently replacing the key', async () => {
    const file = join(tempDir(), 'dev-signing-key.json');
    writeFileSync(file, '{"kty":"EC"}');
    await expect(createTokenVerifier({ config: devConfig(file) })).rejects.toThrow(/AUTH_DEV_KEY_FILE: .* is not a development signing key/);
  });
});

describe('parseBearer', () => {
  it('takes the token from a Bearer header, whatever the case of the scheme', () => {
    expect(parseBearer('Bearer abc.def.ghi')).toBe('abc.def.ghi');
    expect(parseBearer('bearer abc.def.ghi')).toBe('abc.def.ghi');
    expect(parseBearer('BEARER   abc.def-_~+/=')).toBe('abc.def-_~+/=');
  });

  it('returns null for anything else', () => {
    for (const header of [undefined, '', 'Bearer', 'Bearer ', 'Basic dXNlcjpwYXNz', 'Token abc', 'Bearer a b', 'Bearerabc', 'Bearer abc\n']) {
      expect(parseBearer(header)).toBeNull();
    }
  });
});
