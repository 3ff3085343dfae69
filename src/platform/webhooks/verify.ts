/**
 * Signature verification of inbound gateway webhooks. Pure: node:crypto only, no I/O, and every
 * comparison of a signature is constant-time. A refusal is always the same WebhookSignatureError
 * (UNAUTHENTICATED, one generic message); the reason travels as a property for logs, never to the
 * caller, and no secret or expected signature ever appears in it.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { ObolError } from '../../kernel/index.js';
import { findCardNumber } from '../security/card-guard.js';

export const WEBHOOK_GATEWAYS = ['stripe', 'braintree', 'razorpay'] as const;
export type WebhookGateway = (typeof WEBHOOK_GATEWAYS)[number];

export const WEBHOOK_REFUSAL_REASONS = [
  'no_secret_configured',
  'missing_signature',
  'malformed_signature',
  'bad_signature',
  'timestamp_too_old',
  'timestamp_in_future',
] as const;
export type WebhookRefusalReason = (typeof WEBHOOK_REFUSAL_REASONS)[number];

export const WEBHOOK_UNAUTHENTICATED_MESSAGE = 'The webhook signature is missing or invalid.';

/** A refused webhook. `reason` is a property, not a detail, because details reach the caller. */
export class WebhookSignatureError extends ObolError {
  readonly reason: WebhookRefusalReason;
  constructor(reason: WebhookRefusalReason) {
    super('UNAUTHENTICATED', WEBHOOK_UNAUTHENTICATED_MESSAGE);
    this.name = 'WebhookSignatureError';
    this.reason = reason;
  }
}

export function isWebhookSignatureError(err: unknown): err is WebhookSignatureError {
  return err instanceof WebhookSignatureError;
}

/** A verified event, ready for the inbox. */
export interface VerifiedWebhook {
  readonly eventId: string;
  readonly type: string;
  /** When the gateway says the event happened (epoch ms), if it says; informational for ordering. */
  readonly occurredAt: number | null;
  /** The parsed event (JSON for Stripe and Razorpay, the notification XML's text for Braintree). */
  readonly payload: unknown;
}

type Bytes = string | Uint8Array;

function toBuffer(data: Bytes): Buffer {
  return typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** Constant-time equality of a computed digest with a hex string the caller sent. */
function hexDigestEquals(expected: Buffer, givenHex: string): boolean {
  if (!/^[0-9a-fA-F]+$/.test(givenHex) || givenHex.length !== expected.length * 2) return false;
  return timingSafeEqual(expected, Buffer.from(givenHex, 'hex'));
}

/** Event ids are stored, logged and used as keys: bounded, printable, no card-shaped content. */
const EVENT_ID = /^[A-Za-z0-9._:-]{1,255}$/;
const EVENT_TYPE = /^[A-Za-z0-9._:-]{1,100}$/;

function malformed(message: string): ObolError {
  return new ObolError('VALIDATION_FAILED', message);
}

function parseJsonObject(text: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw malformed('The webhook body is not valid JSON.');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw malformed('The webhook body is not a JSON object.');
  return parsed as Record<string, unknown>;
}

function requireId(value: unknown, what: string): string {
  if (typeof value !== 'string' || !EVENT_ID.test(value) || findCardNumber(value)) throw malformed(`The webhook ${what} is missing or malformed.`);
  return value;
}

function requireType(value: unknown, what: string): string {
  if (typeof value !== 'string' || !EVENT_TYPE.test(value)) throw malformed(`The webhook ${what} is missing or malformed.`);
  return value;
}

function usableSecrets<T>(secrets: readonly T[], usable: (s: T) => boolean): readonly T[] {
  const out = secrets.filter(usable);
  // Verifying against no secret would be "accept nothing" at best and a misconfiguration always.
  if (out.length === 0) throw new WebhookSignatureError('no_secret_configured');
  return out;
}

// ---------------------------------------------------------------------------------------------
// Stripe

export interface VerifyStripeArgs {
  /** The exact request body bytes (a string is taken as its UTF-8 encoding). */
  readonly rawBody: Bytes;
  /** The `Stripe-Signature` header. */
  readonly header: string | undefined;
  /** Every active endpoint secret (`whsec_…`): more than one while a secret is being rolled. */
  readonly secrets: readonly string[];
  /** How far the signed timestamp may be from now, either way. Stripe's own default is 300. */
  readonly toleranceSeconds: number;
  /** Now, in epoch milliseconds (Clock.now()). */
  readonly now: number;
}

const MAX_SIGNATURE_HEADER = 4096;

/**
 * Stripe's scheme: `t=<unix seconds>,v1=<hex>[,v1=<hex>…]`; v1 is HMAC-SHA256 over `${t}.${body}`
 * keyed by the endpoint secret. Stripe sends several v1 values while a secret is being rolled, and
 * we may hold several secrets ourselves, so any (signature, secret) pair matching is enough.
 */
export function verifyStripeSignature(args: VerifyStripeArgs): VerifiedWebhook {
  const secrets = usableSecrets(args.secrets, (s) => s.trim().length > 0);
  const header = args.header;
  if (header === undefined || header.length === 0) throw new WebhookSignatureError('missing_signature');
  if (header.length > MAX_SIGNATURE_HEADER) throw new WebhookSignatureError('malformed_signature');
  let timestamp: string | undefined;
  const v1: string[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't') timestamp = value;
    // Other schemes (v0 is Stripe's test-only scheme) are ignored, as Stripe's SDK does.
    else if (key === 'v1') v1.push(value);
  }
  if (timestamp === undefined || !/^\d{1,12}$/.test(timestamp) || v1.length === 0) throw new WebhookSignatureError('malformed_signature');

  const body = toBuffer(args.rawBody);
  const signed = Buffer.concat([Buffer.from(`${timestamp}.`, 'utf8'), body]);
  let matched = false;
  for (const secret of secrets) {
    const expected = createHmac('sha256', secret).update(signed).digest();
    // No early exit on a match: the time taken does not tell which secret or signature matched.
    for (const given of v1) if (hexDigestEquals(expected, given)) matched = true;
  }
  if (!matched) throw new WebhookSignatureError('bad_signature');

  // Checked after the signature so that the timestamp is known to be Stripe's, not an attacker's.
  const ageSeconds = args.now / 1000 - Number(timestamp);
  if (ageSeconds > args.toleranceSeconds) throw new WebhookSignatureError('timestamp_too_old');
  if (-ageSeconds > args.toleranceSeconds) throw new WebhookSignatureError('timestamp_in_future');

  const event = parseJsonObject(body.toString('utf8'));
  const eventId = requireId(event.id, 'event id');
  const type = requireType(event.type, 'event type');
  const occurredAt = typeof event.created === 'number' && Number.isSafeInteger(event.created) ? event.created * 1000 : null;
  return { eventId, type, occurredAt, payload: event };
}

// ---------------------------------------------------------------------------------------------
// Braintree

export interface BraintreeKey {
  readonly publicKey: string;
  readonly privateKey: string;
}

export interface VerifyBraintreeArgs {
  /** The `bt_signature` form field: `publicKey|hexdigest` pairs joined by `&`. */
  readonly btSignature: string | undefined;
  /** The `bt_payload` form field: base64 of the notification XML. */
  readonly btPayload: string | undefined;
  /** Every active API key pair: more than one while keys are being rotated. */
  readonly keys: readonly BraintreeKey[];
}

export interface BraintreeNotification extends VerifiedWebhook {
  /** The notification's kind, e.g. `subscription_charged_successfully` (also `type`). */
  readonly kind: string;
  /** The subject's id (transaction, subscription, dispute…), when the notification has one. */
  readonly subjectId: string | null;
  /** The decoded notification XML, which is what the inbox stores. */
  readonly xml: string;
}

const MAX_BT_PAYLOAD = 1_000_000;

/**
 * Braintree's scheme: the signature field lists `publicKey|hex` pairs; hex is HMAC-SHA1 over the
 * payload keyed by SHA1(privateKey). The SDK also accepts the payload with a trailing newline
 * (Braintree's sample payloads end in one, sent either way), so we do too.
 */
export function verifyBraintreeNotification(args: VerifyBraintreeArgs): BraintreeNotification {
  const keys = usableSecrets(args.keys, (k) => k.publicKey.length > 0 && k.privateKey.length > 0);
  const { btSignature, btPayload } = args;
  if (btSignature === undefined || btSignature.length === 0 || btPayload === undefined || btPayload.length === 0) {
    throw new WebhookSignatureError('missing_signature');
  }
  if (btSignature.length > MAX_SIGNATURE_HEADER || btPayload.length > MAX_BT_PAYLOAD || /[^A-Za-z0-9+=/\n]/.test(btPayload)) {
    throw new WebhookSignatureError('malformed_signature');
  }
  const pairs = btSignature
    .split('&')
    .map((pair) => pair.split('|'))
    .filter((p): p is [string, string] => p.length === 2);
  if (pairs.length === 0) throw new WebhookSignatureError('malformed_signature');

  const candidates = [btPayload, `${btPayload}\n`];
  let matched = false;
  for (const [publicKey, given] of pairs) {
    for (const key of keys) {
      if (key.publicKey !== publicKey) continue;
      const hmacKey = createHash('sha1').update(key.privateKey, 'utf8').digest();
      for (const data of candidates) {
        const expected = createHmac('sha1', hmacKey).update(data, 'utf8').digest();
        if (hexDigestEquals(expected, given)) matched = true;
      }
    }
  }
  if (!matched) throw new WebhookSignatureError('bad_signature');

  const xml = Buffer.from(btPayload, 'base64').toString('utf8');
  const kind = requireType(xmlText(xml, 'kind'), 'notification kind');
  const timestampText = xmlText(xml, 'timestamp');
  const timestamp = timestampText === undefined ? NaN : Date.parse(timestampText);
  if (!Number.isFinite(timestamp)) throw malformed('The webhook notification timestamp is missing or malformed.');
  const subject = xmlText(xml, 'subject', true);
  const subjectIdText = subject === undefined ? undefined : xmlText(subject, 'id');
  const subjectId = subjectIdText !== undefined && EVENT_ID.test(subjectIdText) ? subjectIdText : null;
  // Braintree notifications carry no event id. A retry re-sends the same payload, so the digest of
  // the notification is a stable id for deduplication; kind and subject stay readable beside it.
  const eventId = `bt_${createHash('sha256').update(xml, 'utf8').digest('hex')}`;
  return { eventId, type: kind, kind, occurredAt: timestamp, subjectId, xml, payload: xml };
}

/**
 * The text of the first `<tag …>…</tag>` element. A deliberately small reader: the fields we need
 * are plain text (or, for `subject`, an element whose own first `<id>` we read); the worker reads
 * the stored notification with a strict XML reader (payments/braintree-xml.ts) when it maps it.
 */
function xmlText(xml: string, tag: string, inner = false): string | undefined {
  const open = new RegExp(`<${tag}(?:\\s[^>]*)?>`).exec(xml);
  if (!open) return undefined;
  const start = open.index + open[0].length;
  const end = xml.indexOf(`</${tag}>`, start);
  if (end < 0) return undefined;
  const body = xml.slice(start, end);
  if (inner) return body;
  const text = body.trim();
  return text.includes('<') ? undefined : decodeXmlEntities(text);
}

function decodeXmlEntities(text: string): string {
  return text.replace(/&(lt|gt|amp|quot|apos);/g, (_m, e: string) => ({ lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" })[e] ?? '');
}

// ---------------------------------------------------------------------------------------------
// Razorpay

export interface VerifyRazorpayArgs {
  readonly rawBody: Bytes;
  /** The `X-Razorpay-Signature` header: hex HMAC-SHA256 of the raw body. */
  readonly signature: string | undefined;
  /** The `X-Razorpay-Event-Id` header, Razorpay's id for deduplicating redeliveries. */
  readonly eventId: string | undefined;
  /** Every active webhook secret: more than one while a secret is being rotated. */
  readonly secrets: readonly string[];
}

export function verifyRazorpaySignature(args: VerifyRazorpayArgs): VerifiedWebhook {
  const secrets = usableSecrets(args.secrets, (s) => s.length > 0);
  const signature = args.signature;
  if (signature === undefined || signature.length === 0) throw new WebhookSignatureError('missing_signature');
  if (signature.length > MAX_SIGNATURE_HEADER) throw new WebhookSignatureError('malformed_signature');
  const body = toBuffer(args.rawBody);
  let matched = false;
  for (const secret of secrets) {
    if (hexDigestEquals(createHmac('sha256', secret).update(body).digest(), signature.trim())) matched = true;
  }
  if (!matched) throw new WebhookSignatureError('bad_signature');

  const event = parseJsonObject(body.toString('utf8'));
  const eventId = requireId(args.eventId, 'event id header (x-razorpay-event-id)');
  const type = requireType(event.event, 'event type');
  const occurredAt = typeof event.created_at === 'number' && Number.isSafeInteger(event.created_at) ? event.created_at * 1000 : null;
  return { eventId, type, occurredAt, payload: event };
}
