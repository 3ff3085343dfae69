/**
 * Bearer-token authentication: verifies a JWT's signature against the configured keys (the
 * development key, a JWKS file, or an identity provider's JWKS URL), then its issuer, audience
 * and times, then turns its claims into a Principal.
 *
 * Every refusal is an AuthenticationError (UNAUTHENTICATED, one generic message, the reason kept
 * on the error for logs). Keys that cannot be fetched are SERVICE_UNAVAILABLE instead: that is
 * our outage, not a bad token, and a client should retry rather than log the user out.
 */
import { createHash, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import {
  SignJWT,
  createLocalJWKSet,
  createRemoteJWKSet,
  errors,
  jwtVerify,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import { ObolError, systemClock, type Clock } from '../../kernel/index.js';
import { ConfigError, type Config } from '../config.js';
import { DEV_SIGNING_ALGORITHM, loadOrCreateDevSigningKey } from './dev-key.js';
import {
  AuthenticationError,
  isAccessRole,
  isAuthenticationError,
  principalFromClaims,
  type AccessRole,
  type AuthFailureReason,
  type Principal,
} from './principal.js';

/**
 * Asymmetric algorithms only. Listing them (rather than trusting the token's `alg`) is what stops
 * `alg: none` and HS256-with-the-public-key-as-secret tokens before any key is looked at.
 */
export const TOKEN_ALGORITHMS = ['ES256', 'ES384', 'RS256', 'PS256', 'EdDSA'] as const;
export type TokenAlgorithm = (typeof TOKEN_ALGORITHMS)[number];

/** Real tokens are well under 2 KiB; anything far larger is refused before it is parsed. */
export const MAX_TOKEN_LENGTH = 8 * 1024;

export const DEFAULT_DEVELOPMENT_TOKEN_TTL_SECONDS = 3600;
export const MAX_DEVELOPMENT_TOKEN_TTL_SECONDS = 30 * 24 * 3600;

export const TOKEN_KEY_SOURCES = ['development', 'jwks-file', 'jwks-url'] as const;
export type TokenKeySource = (typeof TOKEN_KEY_SOURCES)[number];

export interface TokenVerifier {
  /** Where the keys come from, for the startup log. */
  readonly source: TokenKeySource;
  verify(args: { readonly token: string }): Promise<Principal>;
}

/** How the JWKS fetched from AUTH_JWKS_URL is cached. */
export interface RemoteJwksOptions {
  /** Longest wait for the identity provider before the request gets SERVICE_UNAVAILABLE. */
  readonly timeoutMs: number;
  /**
   * Least time between two fetches triggered by an unknown `kid`: rotation is picked up, but
   * tokens with made-up key ids cannot make us hammer the identity provider.
   */
  readonly cooldownMs: number;
  /** Keys are refetched after this long even if every kid is known, so a removed key stops working. */
  readonly cacheMaxAgeMs: number;
}

export const DEFAULT_REMOTE_JWKS_OPTIONS: RemoteJwksOptions = Object.freeze({
  timeoutMs: 5_000,
  cooldownMs: 30_000,
  cacheMaxAgeMs: 10 * 60_000,
});

export interface CreateTokenVerifierArgs {
  readonly config: Config;
  /** Decides `exp` and `nbf`; the system clock unless a test moves time by hand. */
  readonly clock?: Clock;
  readonly remoteJwks?: Partial<RemoteJwksOptions>;
}

/**
 * Builds the verifier for `config.authMode`. Reads key files now, so a missing or damaged file
 * stops the start (ConfigError) rather than failing every request; a JWKS URL is fetched on the
 * first token, so an identity provider outage at boot does not stop Obol from starting.
 */
export async function createTokenVerifier(args: CreateTokenVerifierArgs): Promise<TokenVerifier> {
  const { config } = args;
  const clock = args.clock ?? systemClock;
  const { source, keys } = await keySource(args);
  const guarded = guardKeySource(keys);
  const verified = new VerifiedTokens();
  const options = {
    issuer: config.authIssuer,
    audience: config.authAudience,
    clockTolerance: config.authClockSkewSeconds,
    algorithms: [...TOKEN_ALGORITHMS],
    requiredClaims: ['exp', 'sub'],
  };

  return {
    source,
    async verify({ token }) {
      if (typeof token !== 'string' || token === '') throw new AuthenticationError('missing_token');
      if (token.length > MAX_TOKEN_LENGTH) throw new AuthenticationError('too_large');
      if (!COMPACT_JWS.test(token)) throw new AuthenticationError('malformed');
      const now = clock.now();
      const known = verified.get(token, now);
      if (known !== undefined) return known;
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, guarded, { ...options, currentDate: new Date(now) }));
      } catch (err) {
        throw translate(err);
      }
      const principal = principalFromClaims(payload);
      verified.remember(token, principal, (payload.exp ?? 0) * 1000, now);
      return principal;
    },
  };
}

/**
 * Tokens verified in the last minute, so a service calling many times a second with the same token
 * is not re-verified each time (a signature check costs more than the entitlement read it
 * guards). Keyed by the token's SHA-256, never the token; an entry ends at the token's `exp` or
 * after VERIFIED_TTL_MS, whichever is first, so a key removed from the JWKS stops working at most
 * that much later. Bounded: the oldest entries go first.
 */
export const VERIFIED_TTL_MS = 60_000;
const VERIFIED_MAX_ENTRIES = 10_000;

class VerifiedTokens {
  readonly #entries = new Map<string, { readonly principal: Principal; readonly until: number }>();

  get(token: string, now: number): Principal | undefined {
    const key = digest(token);
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (now < entry.until) return entry.principal;
    this.#entries.delete(key);
    return undefined;
  }

  remember(token: string, principal: Principal, expiresAt: number, now: number): void {
    const until = Math.min(expiresAt, now + VERIFIED_TTL_MS);
    if (until <= now) return;
    if (this.#entries.size >= VERIFIED_MAX_ENTRIES) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(digest(token), { principal, until });
  }
}

function digest(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

/** Three base64url segments; jose checks the details, this keeps junk out of the parser and the logs. */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

async function keySource(args: CreateTokenVerifierArgs): Promise<{ source: TokenKeySource; keys: JWTVerifyGetKey }> {
  const { config } = args;
  if (config.authMode === 'development') {
    // loadConfig already refuses this; checked again here because this is the door itself.
    if (config.nodeEnv === 'production') {
      throw new ConfigError(['AUTH_MODE: development mode signs its own tokens and refuses to run with NODE_ENV=production']);
    }
    const key = await loadOrCreateDevSigningKey({ file: config.authDevKeyFile });
    return { source: 'development', keys: createLocalJWKSet({ keys: [key.publicJwk] }) };
  }
  if (config.authJwksFile !== null) {
    return { source: 'jwks-file', keys: createLocalJWKSet(await readJwksFile(config.authJwksFile)) };
  }
  if (config.authJwksUrl !== null) {
    const tuning = { ...DEFAULT_REMOTE_JWKS_OPTIONS, ...args.remoteJwks };
    const keys = createRemoteJWKSet(new URL(config.authJwksUrl), {
      timeoutDuration: tuning.timeoutMs,
      cooldownDuration: tuning.cooldownMs,
      cacheMaxAge: tuning.cacheMaxAgeMs,
    });
    return { source: 'jwks-url', keys };
  }
  // loadConfig refuses this combination; kept so a hand-built Config cannot verify against nothing.
  throw new ConfigError(['AUTH_JWKS_URL: AUTH_MODE=jwks needs AUTH_JWKS_URL or AUTH_JWKS_FILE']);
}

/** Members that only private or symmetric keys have: a JWKS of verification keys must not hold them. */
const SECRET_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'priv'] as const;

async function readJwksFile(path: string): Promise<JSONWebKeySet> {
  const file = resolve(path);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError([`AUTH_JWKS_FILE: cannot read ${file} (${(err as Error).message})`]);
  }
  const problem = (why: string) => new ConfigError([`AUTH_JWKS_FILE: ${file} is not a usable JWKS (${why})`]);
  let jwks: unknown;
  try {
    jwks = JSON.parse(text);
  } catch {
    throw problem('not JSON');
  }
  const keys = (jwks as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0) throw problem('expected {"keys": [ ...public JWKs ]} with at least one key');
  for (const [i, key] of keys.entries()) {
    if (typeof key !== 'object' || key === null || typeof (key as { kty?: unknown }).kty !== 'string') throw problem(`keys[${i}] is not a JWK`);
    const secret = SECRET_MEMBERS.find((m) => m in key);
    // A private key here means someone published the signing key: refuse rather than go on.
    if (secret !== undefined) throw problem(`keys[${i}] holds private key material ("${secret}"); publish public keys only`);
  }
  try {
    createLocalJWKSet(jwks as JSONWebKeySet);
  } catch (err) {
    throw problem((err as Error).message);
  }
  return jwks as JSONWebKeySet;
}

/** A failure of the key source itself (unreachable, timed out, garbage), as opposed to a bad token. */
class KeySourceUnavailable extends Error {
  constructor(cause: unknown) {
    super('token signing keys unavailable', { cause });
    this.name = 'KeySourceUnavailable';
  }
}

/**
 * Lets through what a key lookup says about the token (no key with that kid, several candidates)
 * and marks everything else (network errors, timeouts, non-200, a malformed JWKS) as the key
 * source's fault, so it can become SERVICE_UNAVAILABLE instead of a 401.
 */
function guardKeySource(keys: JWTVerifyGetKey): JWTVerifyGetKey {
  return async (header, token) => {
    try {
      return await keys(header, token);
    } catch (err) {
      if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys || err instanceof errors.JOSENotSupported) throw err;
      throw new KeySourceUnavailable(err);
    }
  };
}

function translate(err: unknown): ObolError {
  if (err instanceof KeySourceUnavailable) {
    const unavailable = new ObolError('SERVICE_UNAVAILABLE', 'Sign-in cannot be checked right now: the identity provider’s keys are unavailable. Try again shortly.');
    unavailable.cause = err.cause;
    return unavailable;
  }
  // jose's claim errors carry the whole claims set (names, emails…): keep those out of the logs.
  // Only errors we did not foresee keep their cause, since that is what a bug report needs.
  return new AuthenticationError(reasonFor(err), err instanceof errors.JOSEError ? undefined : err);
}

function reasonFor(err: unknown): AuthFailureReason {
  if (err instanceof errors.JWTExpired) return 'expired';
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.reason === 'missing') return 'missing_claim';
    if (err.claim === 'iss') return 'wrong_issuer';
    if (err.claim === 'aud') return 'wrong_audience';
    if (err.claim === 'nbf' && err.reason === 'check_failed') return 'not_yet_valid';
    return 'invalid_claim';
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'bad_signature';
  if (err instanceof errors.JWKSNoMatchingKey) return 'unknown_key';
  if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported) return 'unsupported_algorithm';
  // JWSInvalid, JWTInvalid, and anything unforeseen: refused, with the cause kept for the log.
  return 'malformed';
}

/**
 * The token from an `Authorization: Bearer <token>` header (scheme case-insensitive, RFC 6750
 * token characters), or null for anything else, including other schemes and empty values.
 */
export function parseBearer(header: string | undefined): string | null {
  if (typeof header !== 'string') return null;
  const match = /^[ \t]*bearer[ \t]+([A-Za-z0-9\-._~+/]+=*)[ \t]*$/i.exec(header);
  return match ? match[1]! : null;
}

export interface SignDevelopmentTokenArgs {
  readonly config: Config;
  readonly subject: string;
  readonly roles: readonly AccessRole[];
  /** Lifetime; 3600 unless given, at most 30 days. */
  readonly ttlSeconds?: number;
  /** Milliseconds since the Unix epoch; the system clock unless given. */
  readonly now?: number;
}

/**
 * Mints a token with the development key (`obol token`). Refused outside development mode, and
 * for claims the verifier would refuse, so a developer learns about a bad subject or role mix
 * here rather than from a 401 later.
 */
export async function signDevelopmentToken(args: SignDevelopmentTokenArgs): Promise<string> {
  const { config } = args;
  if (config.authMode !== 'development' || config.nodeEnv === 'production') {
    throw new ObolError('FORBIDDEN', 'Development tokens are only signed with AUTH_MODE=development; with AUTH_MODE=jwks, tokens come from your identity provider.');
  }
  const ttl = args.ttlSeconds ?? DEFAULT_DEVELOPMENT_TOKEN_TTL_SECONDS;
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_DEVELOPMENT_TOKEN_TTL_SECONDS) {
    throw new ObolError('VALIDATION_FAILED', `The lifetime must be a whole number of seconds from 1 to ${MAX_DEVELOPMENT_TOKEN_TTL_SECONDS} (30 days).`, { field: 'ttlSeconds' });
  }
  const unknown = args.roles.filter((r) => !isAccessRole(r));
  if (unknown.length > 0) {
    throw new ObolError('VALIDATION_FAILED', `Unknown role ${unknown.map((r) => JSON.stringify(r)).join(', ')}.`, { field: 'roles' });
  }
  const iat = Math.floor((args.now ?? Date.now()) / 1000);
  const claims = { iss: config.authIssuer, aud: config.authAudience, sub: args.subject, iat, nbf: iat, exp: iat + ttl, jti: randomUUID(), roles: [...args.roles] };
  try {
    principalFromClaims(claims);
  } catch (err) {
    if (isAuthenticationError(err)) throw new ObolError('VALIDATION_FAILED', mintRefusal(err.reason), { field: err.reason === 'invalid_subject' || err.reason === 'missing_claim' ? 'subject' : 'roles' });
    throw err;
  }
  const key = await loadOrCreateDevSigningKey({ file: config.authDevKeyFile });
  return new SignJWT(claims).setProtectedHeader({ alg: DEV_SIGNING_ALGORITHM, kid: key.kid, typ: 'JWT' }).sign(key.privateKey);
}

/** For the person minting a token, the reason is exactly what they need to hear. */
function mintRefusal(reason: AuthFailureReason): string {
  switch (reason) {
    case 'missing_claim':
    case 'invalid_subject':
      return 'The subject must be 1 to 200 printable characters without surrounding spaces; a learner’s subject is their customer id (cus_ followed by 1 to 60 letters, digits, _ or -).';
    case 'no_known_role':
    case 'invalid_roles':
      return 'A token needs at least one role: learner, support, finance, admin or service.';
    case 'conflicting_roles':
      return 'A learner or service token carries exactly one role; staff roles (support, finance, admin) may be combined with each other.';
    default:
      return 'These claims would be refused by the verifier.';
  }
}
