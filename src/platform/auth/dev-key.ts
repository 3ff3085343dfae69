/**
 * The signing key of development mode: generated on first start, kept in a file, reused after.
 * Several processes (serve, `obol token`, a second role) may start at once on a fresh checkout,
 * so the file is published atomically and whoever loses the race uses the winner's key: every
 * process must agree on one key or tokens minted by one would be refused by another.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import { ConfigError } from '../config.js';
import { writeFileOnce } from '../files.js';

export const DEV_SIGNING_ALGORITHM = 'ES256';

export interface DevSigningKey {
  /** The JWK thumbprint of the public key: stable for the life of the file. */
  readonly kid: string;
  readonly privateKey: CryptoKey;
  /** Public members only, with `kid`, `alg` and `use`: what a JWKS would publish. */
  readonly publicJwk: JWK;
  /** The absolute path of the key file. */
  readonly file: string;
  /** True when this call generated the key (first start). */
  readonly created: boolean;
}

/** Reads the key in `file`, or generates one there (mode 0600, directory created) when absent. */
export async function loadOrCreateDevSigningKey(args: { readonly file: string }): Promise<DevSigningKey> {
  const file = resolve(args.file);
  const existing = await readKeyFile(file);
  if (existing) return existing;

  const { privateKey } = await generateKeyPair(DEV_SIGNING_ALGORITHM, { extractable: true });
  const jwk = await exportJWK(privateKey);
  const stored: JWK = { ...jwk, kid: await calculateJwkThumbprint(jwk), alg: DEV_SIGNING_ALGORITHM, use: 'sig' };
  const created = await writeFileOnce({ path: file, content: `${JSON.stringify(stored, null, 2)}\n`, mode: 0o600 });
  // Another process got there first: its key is the one everybody uses.
  if (!created) return (await readKeyFile(file)) ?? raceLost(file);
  return { ...(await toSigningKey(stored, file)), created: true };
}

function raceLost(file: string): never {
  throw new ConfigError([`AUTH_DEV_KEY_FILE: ${file} appeared while generating a key but cannot be read`]);
}

/** The key in `file`, or undefined when there is no such file. A damaged file is an error, not a reason to overwrite it. */
async function readKeyFile(file: string): Promise<DevSigningKey | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigError([`AUTH_DEV_KEY_FILE: cannot read ${file} (${(err as Error).message})`]);
  }
  const problem = (why: string) =>
    new ConfigError([`AUTH_DEV_KEY_FILE: ${file} is not a development signing key (${why}); delete it and a new one is generated on next start`]);
  let jwk: unknown;
  try {
    jwk = JSON.parse(text);
  } catch {
    throw problem('not JSON');
  }
  if (!isEs256PrivateJwk(jwk)) throw problem(`expected a private ${DEV_SIGNING_ALGORITHM} JWK with kid`);
  try {
    return { ...(await toSigningKey(jwk, file)), created: false };
  } catch (err) {
    throw problem((err as Error).message);
  }
}

function isEs256PrivateJwk(value: unknown): value is JWK & { kid: string; d: string } {
  if (typeof value !== 'object' || value === null) return false;
  const jwk = value as Record<string, unknown>;
  return (
    jwk.kty === 'EC' &&
    jwk.crv === 'P-256' &&
    typeof jwk.x === 'string' &&
    typeof jwk.y === 'string' &&
    typeof jwk.d === 'string' &&
    typeof jwk.kid === 'string' &&
    jwk.kid !== '' &&
    (jwk.alg === undefined || jwk.alg === DEV_SIGNING_ALGORITHM)
  );
}

async function toSigningKey(jwk: JWK, file: string): Promise<Omit<DevSigningKey, 'created'>> {
  const privateKey = (await importJWK({ ...jwk, alg: DEV_SIGNING_ALGORITHM }, DEV_SIGNING_ALGORITHM)) as CryptoKey;
  const kid = jwk.kid!;
  const publicJwk: JWK = Object.freeze({ kty: 'EC', crv: 'P-256', x: jwk.x!, y: jwk.y!, kid, alg: DEV_SIGNING_ALGORITHM, use: 'sig' });
  return { kid, privateKey, publicJwk, file };
}
