import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../config.js';
import { createKeyring, loadKeyring, parseEnvelope, parseKeySpec, type Keyring } from './keyring.js';

const K1 = randomBytes(32).toString('base64');
const K2 = randomBytes(32).toString('base64');
const CONTEXT = 'checkout_session:cs_01TEST:billing_details';

function keyring(spec: string): Keyring {
  return createKeyring({ keys: parseKeySpec(spec) });
}

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    if (err instanceof Error) return err;
    throw err;
  }
  throw new Error('expected an error');
}

async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof Error) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}

/** Flips one bit of the base64url part `index` (2 = iv, 3 = ciphertext, 4 = tag). */
function tamper(envelope: string, index: number): string {
  const parts = envelope.split('.');
  const bytes = Buffer.from(parts[index]!, 'base64url');
  bytes[0] = bytes[0]! ^ 0x01;
  parts[index] = bytes.toString('base64url');
  return parts.join('.');
}

describe('keyring', () => {
  it('round-trips text, including empty and non-ASCII text, bound to its context', () => {
    const ring = keyring(`k1:${K1}`);
    for (const plaintext of ['', 'Ada Lovelace', 'Zoë Ørsted, 東京都千代田区 🏠', 'x'.repeat(10_000)]) {
      const envelope = ring.encrypt({ plaintext, context: CONTEXT });
      expect(ring.decrypt({ envelope, context: CONTEXT })).toBe(plaintext);
    }
  });

  it('writes a compact versioned envelope under the active key, with a fresh IV every time', () => {
    const ring = keyring(`k1:${K1}`);
    const a = ring.encrypt({ plaintext: 'same', context: CONTEXT });
    const b = ring.encrypt({ plaintext: 'same', context: CONTEXT });
    expect(a).toMatch(/^v1\.k1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]{22}$/);
    expect(a).not.toBe(b);
    expect(parseEnvelope(a)?.keyId).toBe('k1');
    expect(ring.activeKeyId).toBe('k1');
  });

  it('never puts the plaintext in the envelope', () => {
    const ring = keyring(`k1:${K1}`);
    const plaintext = 'ada.lovelace@example.com';
    const envelope = ring.encrypt({ plaintext, context: CONTEXT });
    expect(envelope).not.toContain(plaintext);
    expect(envelope).not.toContain('lovelace');
    expect(envelope).not.toContain(Buffer.from(plaintext).toString('base64url').slice(0, 8));
  });

  it('refuses a tampered IV, ciphertext or tag, naming the key but not the data', () => {
    const ring = keyring(`k1:${K1}`);
    const envelope = ring.encrypt({ plaintext: 'secret billing details', context: CONTEXT });
    for (const part of [2, 3, 4]) {
      const err = errorOf(() => ring.decrypt({ envelope: tamper(envelope, part), context: CONTEXT }));
      expect(err.message).toContain('"k1"');
      expect(err.message).toContain('failed authentication');
      expect(err.message).not.toContain('secret');
    }
  });

  it('refuses an envelope whose key id was relabelled to another configured key', () => {
    const ring = keyring(`k1:${K1},k2:${K2}`);
    const envelope = ring.encrypt({ plaintext: 'x', context: CONTEXT });
    expect(() => ring.decrypt({ envelope: envelope.replace('v1.k1.', 'v1.k2.'), context: CONTEXT })).toThrow(/"k2" failed authentication/);
  });

  it('refuses an envelope moved to another row or column (wrong context)', () => {
    const ring = keyring(`k1:${K1}`);
    const envelope = ring.encrypt({ plaintext: 'x', context: CONTEXT });
    expect(() => ring.decrypt({ envelope, context: 'checkout_session:cs_OTHER:billing_details' })).toThrow(/failed authentication/);
    expect(() => ring.decrypt({ envelope, context: 'checkout_session:cs_01TEST:shipping_details' })).toThrow(/failed authentication/);
  });

  it('refuses an unknown key id, saying which one, and text that is not an envelope', () => {
    const envelope = keyring(`old:${K1}`).encrypt({ plaintext: 'x', context: CONTEXT });
    const err = errorOf(() => keyring(`new:${K2}`).decrypt({ envelope, context: CONTEXT }));
    expect(err.message).toContain('"old"');
    expect(err.message).toContain('not configured');
    expect(err.constructor).toBe(Error);
    expect(() => keyring(`k1:${K1}`).decrypt({ envelope: 'Ada Lovelace', context: CONTEXT })).toThrow(/not a v1 encryption envelope/);
    expect(() => keyring(`k1:${K1}`).decrypt({ envelope: 'v2.k1.a.b.c', context: CONTEXT })).toThrow(/not a v1/);
  });

  it('requires a context', () => {
    expect(() => keyring(`k1:${K1}`).encrypt({ plaintext: 'x', context: '' })).toThrow(/context is required/);
  });

  it('shows no key material when logged, inspected or serialised', () => {
    const ring = keyring(`k1:${K1}`);
    const raw = Buffer.from(K1, 'base64');
    for (const shown of [JSON.stringify(ring), inspect(ring, { depth: 10, showHidden: true })]) {
      expect(shown).not.toContain(K1);
      expect(shown).not.toContain(raw.toString('hex'));
    }
  });

  it('rotates: old envelopes still open, new ones use the new key', () => {
    const before = keyring(`k1:${K1}`);
    const old = before.encrypt({ plaintext: 'old data', context: CONTEXT });
    const after = keyring(`k2:${K2},k1:${K1}`);
    expect(after.activeKeyId).toBe('k2');
    expect(after.keyIds()).toEqual(['k2', 'k1']);
    expect(after.decrypt({ envelope: old, context: CONTEXT })).toBe('old data');
    const fresh = after.encrypt({ plaintext: 'new data', context: CONTEXT });
    expect(parseEnvelope(fresh)?.keyId).toBe('k2');
    expect(keyring(`k2:${K2}`).decrypt({ envelope: fresh, context: CONTEXT })).toBe('new data');
  });
});

describe('parseKeySpec', () => {
  it('reads kid:base64 entries in order, separated by commas or line breaks, in either base64 alphabet', () => {
    const url = Buffer.from(K2, 'base64').toString('base64url');
    const keys = parseKeySpec(` k1:${K1} ,\n k2:${url}\n`);
    expect([...keys.keys()]).toEqual(['k1', 'k2']);
    expect(keys.get('k1')).toEqual(Buffer.from(K1, 'base64'));
    expect(keys.get('k2')).toEqual(Buffer.from(K2, 'base64'));
  });

  it('refuses a key of the wrong size without echoing it', () => {
    const short = randomBytes(16).toString('base64');
    const long = randomBytes(48).toString('base64');
    for (const key of [short, long]) {
      const err = errorOf(() => parseKeySpec(`good:${K1},bad:${key}`));
      expect(err.message).toMatch(/key "bad" \(entry 2 of 2\) is (16|48) bytes; AES-256 needs exactly 32/);
      expect(err.message).not.toContain(key);
      expect(err.message).not.toContain(K1);
    }
  });

  it('refuses malformed entries without echoing anything that could be a key', () => {
    const cases: Array<[string, RegExp]> = [
      ['', /none given/],
      [K1, /entry 1 of 1 is not kid:base64-key/],
      [`${K2}:${K1}`, /invalid key id/],
      [`k1:${K1}!!`, /key "k1" \(entry 1 of 1\) is not valid base64/],
      // 'B' leaves a stray bit after the 32nd byte: Buffer.from would quietly drop it.
      [`k1:${K1.slice(0, -2)}B=`, /key "k1" \(entry 1 of 1\) is not valid base64/],
      [`k1:${K1},k1:${K2}`, /"k1" appears more than once/],
      ['has.dot:abc', /invalid key id/],
    ];
    for (const [spec, expected] of cases) {
      const err = errorOf(() => parseKeySpec(spec));
      expect(err.message).toMatch(expected);
      expect(err.message).not.toContain(K1);
      expect(err.message).not.toContain(K2);
    }
  });
});

describe('loadKeyring', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  function tempDir(): string {
    const dir = mkdtempSync(join(tmpdir(), 'obol-keyring-'));
    dirs.push(dir);
    return dir;
  }

  function config(env: NodeJS.ProcessEnv): Config {
    return loadConfig({ NODE_ENV: 'test', ...env });
  }

  it('uses ENCRYPTION_KEYS, the first key encrypting', async () => {
    const ring = await loadKeyring({ config: config({ ENCRYPTION_KEYS: `k2:${K2},k1:${K1}` }) });
    expect(ring.activeKeyId).toBe('k2');
    expect(ring.keyIds()).toEqual(['k2', 'k1']);
  });

  it('uses ENCRYPTION_KEYS_FILE, whose content is the same spec', async () => {
    const file = join(tempDir(), 'keys');
    writeFileSync(file, `k1:${K1}\n`);
    const ring = await loadKeyring({ config: config({ ENCRYPTION_KEYS_FILE: file }) });
    expect(ring.keyIds()).toEqual(['k1']);
  });

  it('reports a bad key in ENCRYPTION_KEYS or its file by source, never by value', async () => {
    const bad = randomBytes(31).toString('base64');
    const fromEnv = await rejectionOf(loadKeyring({ config: config({ ENCRYPTION_KEYS: `k1:${bad}` }) }));
    expect(fromEnv.message).toMatch(/^ENCRYPTION_KEYS: key "k1" \(entry 1 of 1\) is 31 bytes/);
    expect(fromEnv.message).not.toContain(bad);
    const file = join(tempDir(), 'keys');
    writeFileSync(file, `k1:${bad}`);
    const fromFile = await rejectionOf(loadKeyring({ config: config({ ENCRYPTION_KEYS_FILE: file }) }));
    expect(fromFile.message).toContain(`ENCRYPTION_KEYS_FILE (${file}): key "k1"`);
    expect(fromFile.message).not.toContain(bad);
    const missing = await rejectionOf(loadKeyring({ config: config({ ENCRYPTION_KEYS_FILE: join(tempDir(), 'nope') }) }));
    expect(missing.message).toMatch(/ENCRYPTION_KEYS_FILE: cannot read .*\(ENOENT\)/);
  });

  it('outside production, generates a development key file once (mode 0600) and reuses it', async () => {
    const file = join(tempDir(), 'nested', 'dir', 'dev-encryption-keys.json');
    const cfg = config({ DEV_ENCRYPTION_KEY_FILE: file });
    const first = await loadKeyring({ config: cfg });
    expect(first.activeKeyId).toMatch(/^dev-[0-9a-f]{8}$/);
    if (process.platform !== 'win32') expect(statSync(file).mode & 0o777).toBe(0o600);
    const content = readFileSync(file, 'utf8');
    const envelope = first.encrypt({ plaintext: 'kept across restarts', context: CONTEXT });

    const second = await loadKeyring({ config: cfg });
    expect(second.activeKeyId).toBe(first.activeKeyId);
    expect(readFileSync(file, 'utf8')).toBe(content);
    expect(second.decrypt({ envelope, context: CONTEXT })).toBe('kept across restarts');
  });

  it('gives processes starting together one development key, not one each', async () => {
    const file = join(tempDir(), 'dev-encryption-keys.json');
    const cfg = config({ DEV_ENCRYPTION_KEY_FILE: file });
    const rings = await Promise.all(Array.from({ length: 8 }, () => loadKeyring({ config: cfg })));
    expect(new Set(rings.map((r) => r.activeKeyId)).size).toBe(1);
  });

  it('refuses a damaged development key file rather than replacing it', async () => {
    const file = join(tempDir(), 'dev-encryption-keys.json');
    writeFileSync(file, '{ not json');
    const err = await rejectionOf(loadKeyring({ config: config({ DEV_ENCRYPTION_KEY_FILE: file }) }));
    expect(err.message).toMatch(/DEV_ENCRYPTION_KEY_FILE .*not valid JSON/);
    expect(readFileSync(file, 'utf8')).toBe('{ not json');
  });

  it('refuses production without keys with a plain error, and generates nothing', async () => {
    const file = join(tempDir(), 'dev-encryption-keys.json');
    // loadConfig already refuses this combination; loadKeyring must hold the line on its own too.
    const production: Config = { ...config({ DEV_ENCRYPTION_KEY_FILE: file }), nodeEnv: 'production' };
    const err = await rejectionOf(loadKeyring({ config: production }));
    expect(err.constructor).toBe(Error);
    expect(err.message).toMatch(/production needs ENCRYPTION_KEYS or ENCRYPTION_KEYS_FILE/);
    expect(() => statSync(file)).toThrow();
  });

  it('in production, uses the keys it is given', async () => {
    const production: Config = { ...config({}), nodeEnv: 'production', encryptionKeys: `k1:${K1}` };
    expect((await loadKeyring({ config: production })).activeKeyId).toBe('k1');
  });
});
