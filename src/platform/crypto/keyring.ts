/**
 * Encryption of personal data at rest: AES-256-GCM under named keys ("kid"), so keys can rotate.
 * The first configured key encrypts; every configured key decrypts. A ciphertext is bound to a
 * `context` naming where it lives (`checkout_session:<id>:billing_details`) through the GCM
 * additional authenticated data, so an envelope copied into another row or column is refused.
 *
 * Envelope (all on one line, safe in a TEXT column, a URL or a log line):
 *
 *     v1.<kid>.<iv>.<ciphertext>.<tag>        iv, ciphertext and tag in unpadded base64url
 *
 * Neither key material nor plaintext ever appears in an error message: errors name the key id,
 * the file or the entry number, which is all an operator needs to fix a deploy.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Config } from '../config.js';
import { writeFileOnce } from '../files.js';

export interface Keyring {
  /** The key id every new envelope is written under. */
  readonly activeKeyId: string;
  encrypt(args: { readonly plaintext: string; readonly context: string }): string;
  /** Throws a plain Error naming the key id when the key is unknown or authentication fails. */
  decrypt(args: { readonly envelope: string; readonly context: string }): string;
  /** Every configured key id, the active one first. */
  keyIds(): readonly string[];
}

export const ENVELOPE_VERSION = 'v1';
export const KEY_ID_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const ALGORITHM = 'aes-256-gcm';
/** Either base64 alphabet, padding optional: people paste keys from `openssl rand -base64 32` and from JWKs alike. */
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;
const BASE64URL = /^[A-Za-z0-9_-]*$/;

export const KEY_SPEC_EXAMPLE = 'kid:base64-of-32-bytes,older-kid:base64-of-32-bytes';

function decodeKey(text: string): Buffer | undefined {
  if (!BASE64.test(text)) return undefined;
  const unpadded = text.replace(/=+$/, '');
  const key = Buffer.from(unpadded.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  // Buffer.from ignores stray characters and trailing bits; re-encoding catches what it let slide.
  const canonical = key.toString('base64').replace(/=+$/, '');
  if (canonical !== unpadded.replace(/-/g, '+').replace(/_/g, '/')) return undefined;
  return key;
}

/**
 * Parses `kid:base64,kid2:base64` (commas or line breaks between entries, so a key file may hold
 * one key per line). Order is kept: the first key is the one that encrypts. Throws a plain Error
 * (this is misconfiguration, not a caller's mistake) that names entries by position and by key id
 * once the id is known to be valid, never by anything that could be key material.
 */
export function parseKeySpec(spec: string): Map<string, Buffer> {
  const keys = new Map<string, Buffer>();
  const entries = spec.split(/[,\r\n]+/).map((e) => e.trim()).filter((e) => e !== '');
  if (entries.length === 0) throw new Error(`Encryption keys: none given; expected ${KEY_SPEC_EXAMPLE}`);
  for (const [i, entry] of entries.entries()) {
    const where = `entry ${i + 1} of ${entries.length}`;
    const colon = entry.indexOf(':');
    if (colon < 0) throw new Error(`Encryption keys: ${where} is not kid:base64-key (no ":" found); expected ${KEY_SPEC_EXAMPLE}`);
    const kid = entry.slice(0, colon).trim();
    // An invalid kid is not echoed: a key pasted in the wrong place would otherwise end up in a log.
    if (!KEY_ID_PATTERN.test(kid)) throw new Error(`Encryption keys: ${where} has an invalid key id (1 to 32 letters, digits, "_" or "-")`);
    const key = decodeKey(entry.slice(colon + 1).trim());
    if (key === undefined) throw new Error(`Encryption keys: key "${kid}" (${where}) is not valid base64`);
    if (key.length !== KEY_BYTES) {
      throw new Error(`Encryption keys: key "${kid}" (${where}) is ${key.length} bytes; AES-256 needs exactly ${KEY_BYTES} (generate one with: openssl rand -base64 32)`);
    }
    if (keys.has(kid)) throw new Error(`Encryption keys: key id "${kid}" appears more than once`);
    keys.set(kid, key);
  }
  return keys;
}

/** `v1.<kid>.<iv>.<ciphertext>.<tag>`, with every part checked for shape (not authenticity). */
export interface ParsedEnvelope {
  readonly keyId: string;
  readonly iv: Buffer;
  readonly ciphertext: Buffer;
  readonly tag: Buffer;
}

/** Splits an envelope without decrypting it; undefined when it is not a well-formed v1 envelope. */
export function parseEnvelope(envelope: string): ParsedEnvelope | undefined {
  const parts = envelope.split('.');
  if (parts.length !== 5) return undefined;
  const [version, keyId, iv, ciphertext, tag] = parts as [string, string, string, string, string];
  if (version !== ENVELOPE_VERSION || !KEY_ID_PATTERN.test(keyId)) return undefined;
  if (!BASE64URL.test(iv) || !BASE64URL.test(ciphertext) || !BASE64URL.test(tag)) return undefined;
  const parsed = {
    keyId,
    iv: Buffer.from(iv, 'base64url'),
    ciphertext: Buffer.from(ciphertext, 'base64url'),
    tag: Buffer.from(tag, 'base64url'),
  };
  if (parsed.iv.length !== IV_BYTES || parsed.tag.length !== TAG_BYTES) return undefined;
  return parsed;
}

/**
 * The additional authenticated data: the context, and also the version and key id, so that no
 * part of the envelope's header can be altered without the tag failing.
 */
function aad(keyId: string, context: string): Buffer {
  return Buffer.from(`${ENVELOPE_VERSION}\u0000${keyId}\u0000${context}`, 'utf8');
}

function assertContext(context: string): void {
  // A bug, not bad input: every caller builds its context from a table, an id and a column.
  if (context === '') throw new Error('Keyring: an encryption context is required (e.g. checkout_session:<id>:billing_details)');
}

/**
 * A keyring over already-parsed keys; the first key (in insertion order) encrypts. The keys are
 * copied and kept in a closure, so the returned object shows no key material when logged,
 * inspected or serialised.
 */
export function createKeyring(args: { readonly keys: ReadonlyMap<string, Buffer> }): Keyring {
  const keys = new Map<string, Buffer>();
  for (const [kid, key] of args.keys) {
    if (!KEY_ID_PATTERN.test(kid)) throw new Error('Keyring: invalid key id (1 to 32 letters, digits, "_" or "-")');
    if (key.length !== KEY_BYTES) throw new Error(`Keyring: key "${kid}" is ${key.length} bytes; AES-256 needs exactly ${KEY_BYTES}`);
    keys.set(kid, Buffer.from(key));
  }
  const ids = Object.freeze([...keys.keys()]);
  const activeKeyId = ids[0];
  if (activeKeyId === undefined) throw new Error('Keyring: at least one key is required');
  const activeKey = keys.get(activeKeyId)!;

  return Object.freeze({
    activeKeyId,
    keyIds: () => ids,
    encrypt({ plaintext, context }: { readonly plaintext: string; readonly context: string }): string {
      assertContext(context);
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv(ALGORITHM, activeKey, iv, { authTagLength: TAG_BYTES });
      cipher.setAAD(aad(activeKeyId, context));
      const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      const tag = cipher.getAuthTag();
      return [ENVELOPE_VERSION, activeKeyId, iv.toString('base64url'), ciphertext.toString('base64url'), tag.toString('base64url')].join('.');
    },
    decrypt({ envelope, context }: { readonly envelope: string; readonly context: string }): string {
      assertContext(context);
      const parsed = parseEnvelope(envelope);
      if (parsed === undefined) throw new Error(`Keyring: not a ${ENVELOPE_VERSION} encryption envelope (context ${context})`);
      const key = keys.get(parsed.keyId);
      if (key === undefined) {
        throw new Error(`Keyring: data is encrypted under key "${parsed.keyId}", which is not configured (configured: ${ids.join(', ')}); add it back to ENCRYPTION_KEYS`);
      }
      try {
        const decipher = createDecipheriv(ALGORITHM, key, parsed.iv, { authTagLength: TAG_BYTES });
        decipher.setAAD(aad(parsed.keyId, context));
        decipher.setAuthTag(parsed.tag);
        return Buffer.concat([decipher.update(parsed.ciphertext), decipher.final()]).toString('utf8');
      } catch {
        // The cause is deliberately dropped: it carries nothing useful and keeps data out of stacks.
        throw new Error(`Keyring: data under key "${parsed.keyId}" failed authentication (a different key with the same id, another row's data, or tampering)`);
      }
    },
  });
}

/** What the development key file holds: the same spec as ENCRYPTION_KEYS, so dev keys can rotate too. */
interface DevKeyFile {
  readonly encryptionKeys: string;
}

function errorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

class MissingFileError extends Error {}

async function readSpecFile(path: string, variable: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const code = errorCode(err) ?? 'unknown error';
    const message = `${variable}: cannot read ${path} (${code})`;
    throw code === 'ENOENT' ? new MissingFileError(message) : new Error(message);
  }
}

function withPrefix<T>(prefix: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    // parseKeySpec's messages hold no key material, so they can be repeated with their source.
    const reason = err instanceof Error ? err.message.replace(/^Encryption keys: /, '') : 'invalid';
    throw new Error(`${prefix}: ${reason}`);
  }
}

async function readDevKeyFile(path: string): Promise<Map<string, Buffer>> {
  const text = await readSpecFile(path, 'DEV_ENCRYPTION_KEY_FILE');
  return withPrefix(`DEV_ENCRYPTION_KEY_FILE (${path})`, () => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new Error('not valid JSON; delete it to have a new key generated (data encrypted under the old key becomes unreadable)');
    }
    const spec = typeof parsed === 'object' && parsed !== null ? (parsed as Partial<DevKeyFile>).encryptionKeys : undefined;
    if (typeof spec !== 'string') throw new Error('has no "encryptionKeys" string');
    return parseKeySpec(spec);
  });
}

/**
 * Reads the development key file, creating it first if it does not exist. A new file is written
 * under a temporary name and hard-linked into place, which fails if another process got there
 * first: two processes starting together (api and worker) then share one key rather than each
 * keeping its own. Mode 0600 (the umask can only narrow it); the key never leaves this machine.
 */
async function loadDevKeys(path: string): Promise<Map<string, Buffer>> {
  try {
    return await readDevKeyFile(path);
  } catch (err) {
    if (!(err instanceof MissingFileError)) throw err;
  }
  const kid = `dev-${randomBytes(4).toString('hex')}`;
  const body: DevKeyFile = { encryptionKeys: `${kid}:${randomBytes(KEY_BYTES).toString('base64')}` };
  // Whoever loses a start-up race reads the winner's key below.
  await writeFileOnce({ path, content: `${JSON.stringify(body, null, 2)}\n`, mode: 0o600 });
  return readDevKeyFile(path);
}

/**
 * The keyring for this process: ENCRYPTION_KEYS, else ENCRYPTION_KEYS_FILE (same spec), else,
 * outside production only, a key generated on first start into DEV_ENCRYPTION_KEY_FILE and reused
 * afterwards. Production without keys is refused: a generated key there would be lost with the
 * container and take every customer's billing details with it.
 */
export async function loadKeyring(args: { readonly config: Config }): Promise<Keyring> {
  const { config } = args;
  if (config.encryptionKeys !== null && config.encryptionKeysFile !== null) {
    throw new Error('ENCRYPTION_KEYS_FILE: set ENCRYPTION_KEYS or ENCRYPTION_KEYS_FILE, not both');
  }
  if (config.encryptionKeys !== null) {
    const spec = config.encryptionKeys;
    return createKeyring({ keys: withPrefix('ENCRYPTION_KEYS', () => parseKeySpec(spec)) });
  }
  if (config.encryptionKeysFile !== null) {
    const path = config.encryptionKeysFile;
    const text = await readSpecFile(path, 'ENCRYPTION_KEYS_FILE');
    return createKeyring({ keys: withPrefix(`ENCRYPTION_KEYS_FILE (${path})`, () => parseKeySpec(text)) });
  }
  if (config.nodeEnv === 'production') {
    throw new Error('ENCRYPTION_KEYS: production needs ENCRYPTION_KEYS or ENCRYPTION_KEYS_FILE (personal data is encrypted at rest); no development key is generated in production');
  }
  return createKeyring({ keys: await loadDevKeys(config.devEncryptionKeyFile) });
}
