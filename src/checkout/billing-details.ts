/**
 * A learner's billing details (name, email, postal address): personal data. Validated here, and
 * stored only sealed, as an encryption envelope bound to its checkout session (see
 * platform/crypto/keyring.ts), so the database, its backups and its replicas never hold them in
 * the clear, and an envelope copied onto another session does not open.
 *
 * Error messages name the field and the rule, never the value: they end up in logs and in API
 * responses that may be logged by whoever called us.
 */
import { ObolError } from '../kernel/index.js';
import type { Keyring } from '../platform/crypto/keyring.js';
import { checkoutSessionBillingDetailsContext } from '../platform/crypto/personal-data.js';
import { assertNoCardData } from '../platform/security/card-guard.js';

export interface BillingAddress {
  readonly line1: string;
  readonly line2: string | null;
  readonly city: string;
  readonly postalCode: string;
  /** State, province or county where the country uses one. */
  readonly region: string | null;
  /** ISO 3166-1 alpha-2, upper case. */
  readonly country: string;
}

export interface BillingDetails {
  readonly name: string;
  readonly email: string;
  readonly address: BillingAddress;
}

/**
 * ISO 3166-1 alpha-2 codes officially assigned (249), plus XK (Kosovo), the user-assigned code
 * that card networks and gateways use because Kosovo has no official one yet.
 */
export const COUNTRY_CODES = [
  'AD', 'AE', 'AF', 'AG', 'AI', 'AL', 'AM', 'AO', 'AQ', 'AR', 'AS', 'AT', 'AU', 'AW', 'AX', 'AZ',
  'BA', 'BB', 'BD', 'BE', 'BF', 'BG', 'BH', 'BI', 'BJ', 'BL', 'BM', 'BN', 'BO', 'BQ', 'BR', 'BS', 'BT', 'BV', 'BW', 'BY', 'BZ',
  'CA', 'CC', 'CD', 'CF', 'CG', 'CH', 'CI', 'CK', 'CL', 'CM', 'CN', 'CO', 'CR', 'CU', 'CV', 'CW', 'CX', 'CY', 'CZ',
  'DE', 'DJ', 'DK', 'DM', 'DO', 'DZ',
  'EC', 'EE', 'EG', 'EH', 'ER', 'ES', 'ET',
  'FI', 'FJ', 'FK', 'FM', 'FO', 'FR',
  'GA', 'GB', 'GD', 'GE', 'GF', 'GG', 'GH', 'GI', 'GL', 'GM', 'GN', 'GP', 'GQ', 'GR', 'GS', 'GT', 'GU', 'GW', 'GY',
  'HK', 'HM', 'HN', 'HR', 'HT', 'HU',
  'ID', 'IE', 'IL', 'IM', 'IN', 'IO', 'IQ', 'IR', 'IS', 'IT',
  'JE', 'JM', 'JO', 'JP',
  'KE', 'KG', 'KH', 'KI', 'KM', 'KN', 'KP', 'KR', 'KW', 'KY', 'KZ',
  'LA', 'LB', 'LC', 'LI', 'LK', 'LR', 'LS', 'LT', 'LU', 'LV', 'LY',
  'MA', 'MC', 'MD', 'ME', 'MF', 'MG', 'MH', 'MK', 'ML', 'MM', 'MN', 'MO', 'MP', 'MQ', 'MR', 'MS', 'MT', 'MU', 'MV', 'MW', 'MX', 'MY', 'MZ',
  'NA', 'NC', 'NE', 'NF', 'NG', 'NI', 'NL', 'NO', 'NP', 'NR', 'NU', 'NZ',
  'OM',
  'PA', 'PE', 'PF', 'PG', 'PH', 'PK', 'PL', 'PM', 'PN', 'PR', 'PS', 'PT', 'PW', 'PY',
  'QA',
  'RE', 'RO', 'RS', 'RU', 'RW',
  'SA', 'SB', 'SC', 'SD', 'SE', 'SG', 'SH', 'SI', 'SJ', 'SK', 'SL', 'SM', 'SN', 'SO', 'SR', 'SS', 'ST', 'SV', 'SX', 'SY', 'SZ',
  'TC', 'TD', 'TF', 'TG', 'TH', 'TJ', 'TK', 'TL', 'TM', 'TN', 'TO', 'TR', 'TT', 'TV', 'TW', 'TZ',
  'UA', 'UG', 'UM', 'US', 'UY', 'UZ',
  'VA', 'VC', 'VE', 'VG', 'VI', 'VN', 'VU',
  'WF', 'WS',
  'XK',
  'YE', 'YT',
  'ZA', 'ZM', 'ZW',
] as const;
export type CountryCode = (typeof COUNTRY_CODES)[number];

const COUNTRIES: ReadonlySet<string> = new Set(COUNTRY_CODES);

/** Limits in characters (code points), generous enough for any real address and small enough to bound storage. */
export const BILLING_LIMITS = {
  name: 200,
  email: 254,
  line1: 200,
  line2: 200,
  city: 100,
  postalCode: 20,
  region: 100,
} as const;

const ADDRESS_KEYS = ['line1', 'line2', 'city', 'postalCode', 'region', 'country'] as const;
const DETAILS_KEYS = ['name', 'email', 'address'] as const;

/** Where errors point: the input as a checkout mutation receives it. */
const ROOT = 'billingDetails';

/** C0/C1 controls and the Unicode line and paragraph separators: never part of a name or an address. */
const CONTROL = /[\p{Cc}\u2028\u2029]/u;
/** Letters and digits of any script, spaces and dashes: postal codes from "SW1A 1AA" to "100-0001". */
const POSTAL_CODE = /^[\p{L}\p{N}](?:[\p{L}\p{N} -]*[\p{L}\p{N}])?$/u;
const EMAIL_LOCAL = /^[\p{L}\p{N}!#$%&'*+/=?^_`{|}~-]+(?:\.[\p{L}\p{N}!#$%&'*+/=?^_`{|}~-]+)*$/u;
const DOMAIN_LABEL = /^[\p{L}\p{N}](?:[\p{L}\p{N}-]{0,61}[\p{L}\p{N}])?$/u;

function invalid(field: string, message: string): ObolError {
  return new ObolError('VALIDATION_FAILED', `${field} ${message}`, { field });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function refuseUnknownKeys(value: Record<string, unknown>, known: readonly string[], path: string): void {
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue;
    // The key is echoed only when it looks like a field name: a key is input too.
    const shown = /^[A-Za-z][A-Za-z0-9_]{0,39}$/.test(key) ? `${path}.${key}` : path;
    throw invalid(shown, `is not a known field (${path} has ${known.join(', ')}).`);
  }
}

function length(text: string): number {
  return Array.from(text).length;
}

/** Trimmed, NFC-normalised text of 1..max characters; null for an absent or blank optional field. */
function text(value: unknown, field: string, max: number, optional: true): string | null;
function text(value: unknown, field: string, max: number, optional?: false): string;
function text(value: unknown, field: string, max: number, optional = false): string | null {
  if (value === undefined || value === null) {
    if (optional) return null;
    throw invalid(field, 'is required.');
  }
  if (typeof value !== 'string') throw invalid(field, 'must be text.');
  const trimmed = value.normalize('NFC').trim();
  if (trimmed === '') {
    if (optional) return null;
    throw invalid(field, 'must not be blank.');
  }
  if (length(trimmed) > max) throw invalid(field, `must be at most ${max} characters.`);
  if (CONTROL.test(trimmed)) throw invalid(field, 'must not contain line breaks or control characters.');
  return trimmed;
}

function isEmail(value: string): boolean {
  const at = value.lastIndexOf('@');
  if (at < 1) return false;
  const local = value.slice(0, at);
  const domain = value.slice(at + 1);
  if (length(local) > 64 || !EMAIL_LOCAL.test(local)) return false;
  const labels = domain.split('.');
  if (labels.length < 2 || !labels.every((l) => DOMAIN_LABEL.test(l))) return false;
  // A top-level domain is never all digits, which also turns away bare IP addresses.
  return !/^\d+$/.test(labels[labels.length - 1]!);
}

/**
 * Validates and normalises billing details from an API input. Throws ObolError VALIDATION_FAILED
 * with `details.field` (such as `billingDetails.address.postalCode`) on the first problem, and
 * CARD_DATA_REFUSED if a field holds something shaped like a card number (invariant 6: these
 * details are stored, and card data never is).
 */
export function parseBillingDetails(input: unknown): BillingDetails {
  if (!isRecord(input)) throw invalid(ROOT, 'must be an object with name, email and address.');
  assertNoCardData(input, ROOT);
  refuseUnknownKeys(input, DETAILS_KEYS, ROOT);
  const name = text(input.name, `${ROOT}.name`, BILLING_LIMITS.name);
  const email = text(input.email, `${ROOT}.email`, BILLING_LIMITS.email);
  if (!isEmail(email)) throw invalid(`${ROOT}.email`, 'must be an email address such as name@example.com.');

  const path = `${ROOT}.address`;
  const address = input.address;
  if (address === undefined || address === null) throw invalid(path, 'is required.');
  if (!isRecord(address)) throw invalid(path, 'must be an object with line1, city, postalCode and country.');
  refuseUnknownKeys(address, ADDRESS_KEYS, path);
  const line1 = text(address.line1, `${path}.line1`, BILLING_LIMITS.line1);
  const line2 = text(address.line2, `${path}.line2`, BILLING_LIMITS.line2, true);
  const city = text(address.city, `${path}.city`, BILLING_LIMITS.city);
  const postalCode = text(address.postalCode, `${path}.postalCode`, BILLING_LIMITS.postalCode);
  if (!POSTAL_CODE.test(postalCode)) throw invalid(`${path}.postalCode`, 'may hold only letters, digits, spaces and dashes.');
  const region = text(address.region, `${path}.region`, BILLING_LIMITS.region, true);
  const country = text(address.country, `${path}.country`, 64).toUpperCase();
  if (!COUNTRIES.has(country)) throw invalid(`${path}.country`, 'must be an ISO 3166-1 alpha-2 country code such as "DE" or "IN".');

  return Object.freeze({
    name,
    email,
    address: Object.freeze({ line1, line2, city, postalCode, region, country }),
  });
}

/** The stored form, with a fixed key order; nothing but the fields, so nothing else is ever sealed. */
function serialise(details: BillingDetails): string {
  const { name, email, address } = details;
  const { line1, line2, city, postalCode, region, country } = address;
  return JSON.stringify({ name, email, address: { line1, line2, city, postalCode, region, country } });
}

/** Encrypts billing details for `checkout_sessions.billing_details` of this session. */
export function sealBillingDetails(args: { readonly keyring: Keyring; readonly sessionId: string; readonly details: BillingDetails }): string {
  return args.keyring.encrypt({ plaintext: serialise(args.details), context: checkoutSessionBillingDetailsContext(args.sessionId) });
}

function storedText(value: unknown): value is string {
  return typeof value === 'string';
}

function storedOptional(value: unknown): value is string | null {
  return value === null || typeof value === 'string';
}

/**
 * Decrypts the billing details of this session. A failure here is not the caller's fault (wrong
 * or missing key, or data that was tampered with), so it is a plain Error naming the key id.
 * What was stored is not re-validated against today's rules: details accepted yesterday stay
 * readable if a rule tightens.
 */
export function openBillingDetails(args: { readonly keyring: Keyring; readonly sessionId: string; readonly envelope: string }): BillingDetails {
  const plaintext = args.keyring.decrypt({ envelope: args.envelope, context: checkoutSessionBillingDetailsContext(args.sessionId) });
  let stored: unknown;
  try {
    stored = JSON.parse(plaintext);
  } catch {
    throw new Error(`Billing details of checkout session ${args.sessionId} decrypted to something that is not JSON`);
  }
  const s = isRecord(stored) ? stored : {};
  const a = isRecord(s.address) ? s.address : {};
  if (
    !storedText(s.name) || !storedText(s.email) ||
    !storedText(a.line1) || !storedOptional(a.line2) || !storedText(a.city) ||
    !storedText(a.postalCode) || !storedOptional(a.region) || !storedText(a.country)
  ) {
    throw new Error(`Billing details of checkout session ${args.sessionId} are not in the stored shape`);
  }
  return Object.freeze({
    name: s.name,
    email: s.email,
    address: Object.freeze({ line1: a.line1, line2: a.line2, city: a.city, postalCode: a.postalCode, region: a.region, country: a.country }),
  });
}
