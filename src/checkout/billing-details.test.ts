import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ObolError } from '../kernel/index.js';
import { createKeyring, parseEnvelope, parseKeySpec } from '../platform/crypto/keyring.js';
import { COUNTRY_CODES, openBillingDetails, parseBillingDetails, sealBillingDetails, type BillingDetails } from './billing-details.js';

const VALID = {
  name: 'Ada Lovelace',
  email: 'ada.lovelace@example.com',
  address: { line1: '12 Analytical Engine Row', line2: null, city: 'London', postalCode: 'SW1A 1AA', region: null, country: 'GB' },
} as const;

function withAddress(patch: Record<string, unknown>): unknown {
  return { ...VALID, address: { ...VALID.address, ...patch } };
}

function refusal(input: unknown): ObolError {
  try {
    parseBillingDetails(input);
  } catch (err) {
    if (err instanceof ObolError) return err;
    throw err;
  }
  throw new Error('expected parseBillingDetails to refuse the input');
}

function keyring(...kids: string[]) {
  return createKeyring({ keys: parseKeySpec(kids.map((k) => `${k}:${KEYS[k]}`).join(',')) });
}

const KEYS: Record<string, string> = { k1: randomBytes(32).toString('base64'), k2: randomBytes(32).toString('base64') };

describe('parseBillingDetails', () => {
  it('accepts valid details and normalises them: trimmed, blank optional fields null, country upper case', () => {
    const details = parseBillingDetails({
      name: '  Ada Lovelace ',
      email: ' ada.lovelace@example.com',
      address: { line1: '12 Analytical Engine Row ', line2: '  ', city: 'London', postalCode: 'SW1A 1AA', country: 'gb' },
    });
    expect(details).toEqual(VALID);
    expect(Object.isFrozen(details) && Object.isFrozen(details.address)).toBe(true);
  });

  it('keeps names and addresses in any script, normalised to NFC', () => {
    const details = parseBillingDetails({
      name: 'Zoe\u0308 Ørsted',
      email: 'zoë@bücher.example',
      address: { line1: '千代田1-1', line2: 'Apt 4', city: '東京都', postalCode: '100-0001', region: 'Tōkyō', country: 'JP' },
    });
    expect(details.name).toBe('Zoë Ørsted');
    expect(details.address.region).toBe('Tōkyō');
  });

  it.each([
    ['a string', 'Ada Lovelace', 'billingDetails'],
    ['an array', [VALID], 'billingDetails'],
    ['no name', { ...VALID, name: undefined }, 'billingDetails.name'],
    ['a blank name', { ...VALID, name: '   ' }, 'billingDetails.name'],
    ['a name that is not text', { ...VALID, name: 42 }, 'billingDetails.name'],
    ['a name too long', { ...VALID, name: 'A'.repeat(201) }, 'billingDetails.name'],
    ['a line break in the name', { ...VALID, name: 'Ada\nLovelace' }, 'billingDetails.name'],
    ['a NUL in the city', withAddress({ city: 'Lon\u0000don' }), 'billingDetails.address.city'],
    ['no email', { ...VALID, email: null }, 'billingDetails.email'],
    ['no address', { ...VALID, address: undefined }, 'billingDetails.address'],
    ['an address that is text', { ...VALID, address: '12 Analytical Engine Row, London' }, 'billingDetails.address'],
    ['no line1', withAddress({ line1: undefined }), 'billingDetails.address.line1'],
    ['a line2 too long', withAddress({ line2: 'x'.repeat(201) }), 'billingDetails.address.line2'],
    ['no city', withAddress({ city: '' }), 'billingDetails.address.city'],
    ['no postal code', withAddress({ postalCode: undefined }), 'billingDetails.address.postalCode'],
    ['a postal code too long', withAddress({ postalCode: '1'.repeat(21) }), 'billingDetails.address.postalCode'],
    ['a postal code with punctuation', withAddress({ postalCode: 'SW1A;1AA' }), 'billingDetails.address.postalCode'],
    ['a region that is not text', withAddress({ region: 7 }), 'billingDetails.address.region'],
    ['no country', withAddress({ country: undefined }), 'billingDetails.address.country'],
    ['an unassigned country code', withAddress({ country: 'XX' }), 'billingDetails.address.country'],
    ['a country name', withAddress({ country: 'Germany' }), 'billingDetails.address.country'],
    ['an alpha-3 country code', withAddress({ country: 'DEU' }), 'billingDetails.address.country'],
    ['an unknown field', { ...VALID, phone: '+44 20 7946 0000' }, 'billingDetails.phone'],
    ['an unknown address field', withAddress({ postcode: 'SW1A 1AA' }), 'billingDetails.address.postcode'],
    ['an unknown field with an odd name', { ...VALID, 'ada.lovelace@example.com': 1 }, 'billingDetails'],
  ])('refuses %s, naming the field', (_case, input, field) => {
    const err = refusal(input);
    expect(err.code).toBe('VALIDATION_FAILED');
    expect(err.details).toEqual({ field });
    expect(err.message.startsWith(field)).toBe(true);
  });

  it.each([
    'plainaddress',
    '@mail.example.net',
    'ada@',
    'ada@example',
    'ada@@example.com',
    'ada lovelace@example.com',
    'ada..lovelace@example.com',
    '.ada@example.com',
    'ada@-example.com',
    'ada@example..com',
    'ada@127.0.0.1',
    `${'a'.repeat(65)}@example.com`,
    `ada@${'a'.repeat(250)}.com`,
  ])('refuses the email %j without echoing it', (email) => {
    const err = refusal({ ...VALID, email });
    expect(err.details).toEqual({ field: 'billingDetails.email' });
    expect(err.message).not.toContain(email);
  });

  it.each(['ada@example.com', 'ada.lovelace+billing@mail.example.co.uk', "o'brien@example.ie", 'user_1@xn--bcher-kva.example', 'zoë@bücher.de'])(
    'accepts the email %j',
    (email) => {
      expect(parseBillingDetails({ ...VALID, email }).email).toBe(email);
    },
  );

  it('accepts every ISO 3166-1 alpha-2 country, in either case', () => {
    expect(COUNTRY_CODES).toHaveLength(250); // 249 assigned + XK
    for (const country of COUNTRY_CODES) expect(parseBillingDetails(withAddress({ country: country.toLowerCase() })).address.country).toBe(country);
  });

  it('never echoes a value in an error message', () => {
    const inputs = [
      { ...VALID, name: `Ada Lovelace${'e'.repeat(200)}` },
      { ...VALID, email: 'Ada Lovelace' },
      withAddress({ line1: `12 Analytical Engine Row\r\n` + 'x' }),
      withAddress({ postalCode: 'Ada Lovelace!' }),
      withAddress({ country: 'Ada Lovelace' }),
    ];
    for (const input of inputs) {
      const err = refusal(input);
      expect(err.message).not.toMatch(/Ada|Lovelace|Analytical/);
      expect(JSON.stringify(err.details)).not.toMatch(/Ada|Lovelace|Analytical/);
    }
  });

  it('refuses a card number in any field (invariant 6), naming the field only', () => {
    const err = refusal(withAddress({ line2: '4242 4242 4242 4242' }));
    expect(err.code).toBe('CARD_DATA_REFUSED');
    expect(err.details).toEqual({ field: 'billingDetails.address.line2' });
    expect(err.message).not.toContain('4242');
  });
});

describe('sealBillingDetails / openBillingDetails', () => {
  const details: BillingDetails = parseBillingDetails(VALID);
  const sessionId = 'cs_01J00000000000000000000000';

  it('round-trips, and the envelope holds none of the details', () => {
    const ring = keyring('k1');
    const envelope = sealBillingDetails({ keyring: ring, sessionId, details });
    expect(envelope.startsWith('v1.k1.')).toBe(true);
    // Long values only: a short one ("GB") turns up in random base64 text now and then.
    const ciphertext = Buffer.from(envelope.split('.')[3]!, 'base64url').toString('latin1');
    for (const value of ['Lovelace', 'ada.lovelace', 'example.com', 'Analytical', 'London']) {
      expect(envelope).not.toContain(value);
      expect(ciphertext).not.toContain(value);
    }
    expect(openBillingDetails({ keyring: ring, sessionId, envelope })).toEqual(details);
  });

  it('will not open details sealed for another checkout session', () => {
    const ring = keyring('k1');
    const envelope = sealBillingDetails({ keyring: ring, sessionId, details });
    expect(() => openBillingDetails({ keyring: ring, sessionId: 'cs_01J00000000000000000000001', envelope })).toThrow(/"k1" failed authentication/);
  });

  it('opens details sealed under an older key after rotation, and seals new ones under the new key', () => {
    const old = sealBillingDetails({ keyring: keyring('k1'), sessionId, details });
    const rotated = keyring('k2', 'k1');
    expect(openBillingDetails({ keyring: rotated, sessionId, envelope: old })).toEqual(details);
    expect(parseEnvelope(sealBillingDetails({ keyring: rotated, sessionId, details }))?.keyId).toBe('k2');
  });

  it('reports a decryption failure as a plain error naming the key, not the data', () => {
    const envelope = sealBillingDetails({ keyring: keyring('k1'), sessionId, details });
    let caught: unknown;
    try {
      openBillingDetails({ keyring: keyring('k2'), sessionId, envelope });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(Error);
    expect(caught).not.toBeInstanceOf(ObolError);
    expect((caught as Error).message).toContain('"k1"');
  });
});
