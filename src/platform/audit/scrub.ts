/**
 * Audit summaries are read by finance, so they carry what changed (statuses, amounts, ids), never
 * who a person is or anything that grants access. Scrubbing is by key name, because summaries are
 * built by our own use cases from known fields: a key that looks like a secret or personal data is
 * dropped whole, nested objects included. String values are also checked for what no key name can
 * announce: card numbers (invariant 6) and e-mail addresses are redacted in place.
 */
import { redactCardNumbers } from '../security/card-guard.js';

/** Largest stored summary (UTF-8 bytes of its JSON): summaries describe a change, not a document. */
export const MAX_SUMMARY_BYTES = 4096;

/** Deeper than this is not a summary (and guards against cycles). */
const MAX_DEPTH = 8;

/**
 * Matched anywhere in the key once lowercased and stripped of separators, so `accessToken`,
 * `client_secret`, `billingAddress`, `fullname` and `E-Mail` are all caught. Only terms long or
 * unusual enough not to occur inside harmless words belong here.
 */
const SENSITIVE_SUBSTRINGS = [
  'token',
  'secret',
  'password',
  'passwd',
  'passphrase',
  'credential',
  'apikey',
  'privatekey',
  'bearer',
  'cookie',
  'mail',
  'name',
  'phone',
  'address',
  'street',
  'postal',
  'postcode',
  'zipcode',
  'birth',
  'passport',
  'iban',
  'cardholder',
  'cardnumber',
  'cvc',
  'cvv',
] as const;

/**
 * Matched only as a whole word of the key (camelCase, snake_case, kebab-case and digits split), because
 * as substrings they hide in ordinary words: `ip` in `shipping`, `pan` in `company`, `city` in
 * `capacity`, `card` in `discard`.
 */
const SENSITIVE_WORDS = new Set(['ip', 'pan', 'pin', 'pwd', 'otp', 'dob', 'ssn', 'city', 'zip', 'card', 'auth', 'cvn']);

const EMAIL = /[^\s@"'<>(),;:]+@[^\s@"'<>(),;:]+\.[^\s@"'<>(),;:]+/g;
export const EMAIL_REDACTED = '[email-redacted]';

export function isSensitiveKey(key: string): boolean {
  const flat = key.toLowerCase().replace(/[^a-z0-9]/g, '');
  if (SENSITIVE_SUBSTRINGS.some((s) => flat.includes(s))) return true;
  const words = key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .replace(/([A-Za-z])([0-9])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/);
  return words.some((w) => SENSITIVE_WORDS.has(w));
}

function scrubString(value: string): string {
  return redactCardNumbers(value).replace(EMAIL, EMAIL_REDACTED);
}

function isPlainObject(value: object): value is Record<string, unknown> {
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function scrubValue(value: unknown, path: string, depth: number): unknown {
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'string') return scrubString(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`Audit summary ${path} is not a finite number.`);
    return value;
  }
  if (typeof value === 'object') {
    if (depth >= MAX_DEPTH) throw new Error(`Audit summary ${path} is nested deeper than ${MAX_DEPTH} levels.`);
    if (Array.isArray(value)) return value.map((v, i) => (v === undefined ? null : scrubValue(v, `${path}[${i}]`, depth + 1)));
    if (isPlainObject(value)) return scrubObject(value, path, depth + 1);
  }
  // bigint, Date, Map, functions…: not JSON, or not JSON the reader would get back unchanged.
  throw new Error(`Audit summary ${path} is not a JSON value (${typeof value}).`);
}

function scrubObject(value: Readonly<Record<string, unknown>>, path: string, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    if (v === undefined || isSensitiveKey(key)) continue;
    out[key] = scrubValue(v, `${path}.${key}`, depth);
  }
  return out;
}

/**
 * The scrubbed summary as stored (JSON), or null. Throws a plain Error (a bug in the caller, not a
 * caller's mistake) when the summary is not plain JSON or exceeds MAX_SUMMARY_BYTES once scrubbed.
 */
export function serializeSummary(summary: Readonly<Record<string, unknown>> | null, label: 'before' | 'after'): string | null {
  if (summary === null) return null;
  if (typeof summary !== 'object' || Array.isArray(summary) || !isPlainObject(summary)) {
    throw new Error(`Audit summary ${label} must be a plain object or null.`);
  }
  const json = JSON.stringify(scrubObject(summary, label, 0));
  const bytes = Buffer.byteLength(json, 'utf8');
  if (bytes > MAX_SUMMARY_BYTES) {
    throw new Error(`Audit summary ${label} is ${bytes} bytes; at most ${MAX_SUMMARY_BYTES} are allowed: record what changed, not whole documents.`);
  }
  return json;
}

/** Scrubs without storing: what `appendAudit` would keep of a summary. */
export function scrubSummary(summary: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return scrubObject(summary, 'summary', 0);
}
