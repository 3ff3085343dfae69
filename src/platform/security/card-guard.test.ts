import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ObolError } from '../../kernel/index.js';
import { assertNoCardData, CARD_DATA_MESSAGE, findCardNumber, passesLuhn, redactCardNumbers } from './card-guard.js';

const TEST_PANS = [
  '4242424242424242', // Visa
  '4000056655665556', // Visa debit
  '5555555555554444', // Mastercard
  '2223003122003222', // Mastercard 2-series
  '378282246310005', // American Express (15)
  '6011111111111117', // Discover
  '3056930009020004', // Diners Club (16)
  '36227206271667', // Diners Club (14)
  '6200000000000005', // UnionPay
  '3566002020360505', // JCB
];

function luhnCheckDigit(payload: string): string {
  for (let d = 0; d <= 9; d++) if (passesLuhn(payload + d)) return String(d);
  throw new Error('unreachable');
}

/** Luhn-valid numbers of 13–19 digits. */
const luhnValidNumber = fc
  .integer({ min: 13, max: 19 })
  .chain((length) => fc.array(fc.integer({ min: 0, max: 9 }), { minLength: length - 1, maxLength: length - 1 }))
  .map((digits) => {
    const payload = digits.join('');
    return payload + luhnCheckDigit(payload);
  });

/**
 * The number as a person might type it: contiguous, or in groups of 3–6 digits (the last one may
 * be shorter) split by single spaces or dashes.
 */
const typedForm = (digits: string) =>
  fc.oneof(
    fc.constant(digits),
    fc.tuple(fc.array(fc.integer({ min: 3, max: 6 }), { minLength: 2, maxLength: 6 }), fc.constantFrom(' ', '-')).map(([sizes, sep]) => {
      const groups: string[] = [];
      for (let at = 0, k = 0; at < digits.length; k++) {
        const size = sizes[k % sizes.length]!;
        groups.push(digits.slice(at, at + size));
        at += size;
      }
      return groups.join(sep);
    }),
  );

function captureRefusal(fn: () => void): ObolError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ObolError) return err;
    throw err;
  }
  throw new Error('expected CARD_DATA_REFUSED, nothing was thrown');
}

describe('findCardNumber', () => {
  it.each(TEST_PANS)('finds the test card %s', (pan) => {
    expect(findCardNumber(pan)).toBe(true);
    expect(findCardNumber(`my card is ${pan}, thanks`)).toBe(true);
  });

  it.each(TEST_PANS)('finds %s typed in groups with spaces or dashes', (pan) => {
    const groups = pan.match(/.{1,4}/g)!;
    expect(findCardNumber(groups.join(' '))).toBe(true);
    expect(findCardNumber(groups.join('-'))).toBe(true);
  });

  it('finds the usual printed layouts', () => {
    expect(findCardNumber('4242 4242 4242 4242')).toBe(true);
    expect(findCardNumber('4242-4242-4242-4242')).toBe(true);
    expect(findCardNumber('3782 822463 10005')).toBe(true);
    expect(findCardNumber('3622 720627 1667')).toBe(true);
  });

  it('finds a number followed by an expiry date and CVC typed in the same way', () => {
    expect(findCardNumber('4242 4242 4242 4242 12 27 123')).toBe(true);
    expect(findCardNumber('99 4242-4242-4242-4242')).toBe(true);
  });

  it('accepts 16-digit numbers that fail the Luhn check', () => {
    expect(findCardNumber('4242424242424241')).toBe(false);
    expect(findCardNumber('1234567812345678')).toBe(false);
    expect(findCardNumber('4242 4242 4242 4243')).toBe(false);
  });

  it('accepts runs too short or too long to be a card', () => {
    expect(findCardNumber('424242424242')).toBe(false); // 12 digits
    expect(passesLuhn('42424242424242424242')).toBe(true);
    expect(findCardNumber('42424242424242424242')).toBe(false); // 20 digits, Luhn-valid
  });

  it('accepts a Luhn-valid number inside a longer unbroken digit run', () => {
    expect(findCardNumber('00004242424242424242')).toBe(false);
    expect(findCardNumber('ref 4242424242424242000000 ok')).toBe(false);
  });

  it('does not join groups across double spaces, other punctuation or letters', () => {
    expect(findCardNumber('4242  4242  4242  4242')).toBe(false);
    expect(findCardNumber('4242.4242.4242.4242')).toBe(false);
    expect(findCardNumber('4242 - 4242 - 4242 - 4242')).toBe(false);
  });

  it('accepts ordinary payment data', () => {
    for (const text of ['pm_card_visa', 'tok_1NnVqz2eZvKYlo2C', 'cs_01HZX3K9Q2W8E5R7T6Y4U1I0OP', '+44 20 7946 0958', '2024-11-25', 'EUR 1999']) {
      expect(findCardNumber(text)).toBe(false);
    }
  });

  it('refuses any Luhn-valid 13–19 digit number embedded in text, however it is typed', () => {
    fc.assert(
      fc.property(
        luhnValidNumber.chain(typedForm),
        fc.string({ maxLength: 30 }),
        fc.string({ maxLength: 30 }),
        (card, before, after) => {
          // An adjacent digit would make it part of a longer run, and an adjacent letter glues a
          // grouped number into a word (how UUIDs stay clear of the guard): keep a space between.
          const prefix = /[A-Za-z0-9]$/.test(before) ? `${before} ` : before;
          const suffix = /^[A-Za-z0-9]/.test(after) ? ` ${after}` : after;
          expect(findCardNumber(prefix + card + suffix)).toBe(true);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('never mistakes a UUID for a card, even one made mostly of digits', () => {
    expect(findCardNumber('12345678-1234-1234-1234-123456789012')).toBe(false);
    expect(findCardNumber('41111111-1111-4111-8111-111111111111')).toBe(false);
    fc.assert(
      fc.property(fc.uuid(), (uuid) => {
        expect(findCardNumber(uuid)).toBe(false);
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 32, maxLength: 32 }), (d) => {
        const hex = d.join('');
        const uuid = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
        expect(findCardNumber(uuid)).toBe(false);
      }),
    );
  });

  it('accepts any isolated 13–19 digit number that fails the Luhn check', () => {
    fc.assert(
      fc.property(luhnValidNumber, fc.integer({ min: 1, max: 9 }), (valid, delta) => {
        const last = (Number(valid.at(-1)) + delta) % 10;
        const invalid = valid.slice(0, -1) + String(last);
        expect(findCardNumber(`number ${invalid} here`)).toBe(false);
      }),
    );
  });

  it('never finds a card in text without digits', () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        expect(findCardNumber(text.replace(/\d/g, ''))).toBe(false);
      }),
    );
  });
});

describe('redactCardNumbers', () => {
  it('replaces each card with a marker and keeps the surrounding text', () => {
    expect(redactCardNumbers('paid with 4242 4242 4242 4242 exp 12/27, and 5555555555554444.')).toBe(
      'paid with [card-redacted] exp 12/27, and [card-redacted].',
    );
  });

  it('leaves text without cards untouched', () => {
    expect(redactCardNumbers('order 42 for 1999 EUR')).toBe('order 42 for 1999 EUR');
  });

  it('leaves no card behind for any embedded card', () => {
    fc.assert(
      fc.property(luhnValidNumber.chain(typedForm), fc.string({ maxLength: 20 }), (card, before) => {
        const prefix = /\d$/.test(before) ? `${before}x` : before;
        expect(findCardNumber(redactCardNumbers(`${prefix}${card} end`))).toBe(false);
      }),
    );
  });
});

describe('assertNoCardData', () => {
  it('refuses a card number in a nested field, naming the field but never the value', () => {
    const err = captureRefusal(() =>
      assertNoCardData({ customer: { email: 'ada@example.com' }, items: [{ note: 'ok' }, { note: 'card 4242 4242 4242 4242' }] }, 'input'),
    );
    expect(err.code).toBe('CARD_DATA_REFUSED');
    expect(err.message).toBe(CARD_DATA_MESSAGE);
    expect(err.details).toEqual({ field: 'input.items[1].note' });
    expect(JSON.stringify({ message: err.message, details: err.details, stack: err.stack })).not.toMatch(/4242/);
  });

  it('refuses integers with 13–19 digits that pass the Luhn check', () => {
    expect(captureRefusal(() => assertNoCardData({ pan: 4242424242424242 })).details).toEqual({ field: 'pan' });
    expect(() => assertNoCardData({ pan: 4242424242424242n })).toThrow(ObolError);
    expect(() => assertNoCardData({ pan: -4242424242424242 })).toThrow(ObolError);
  });

  it('accepts ordinary numbers, including Luhn-invalid long ones and fractions', () => {
    expect(() => assertNoCardData({ amount: 1999, at: 1732500000000, big: 4242424242424241, ratio: 0.4242424242424242 })).not.toThrow();
  });

  it('refuses a card number used as an object key, reporting the parent field', () => {
    const err = captureRefusal(() => assertNoCardData({ metadata: { '4242424242424242': 'x' } }));
    expect(err.details).toEqual({ field: 'metadata' });
  });

  it('reports a card at the root as (root)', () => {
    expect(captureRefusal(() => assertNoCardData('4242424242424242')).details).toEqual({ field: '(root)' });
  });

  it('uses the caller path for a bare string', () => {
    expect(captureRefusal(() => assertNoCardData('4242424242424242', 'paymentMethodToken')).details).toEqual({
      field: 'paymentMethodToken',
    });
  });

  it('accepts gateway tokens and ordinary checkout input', () => {
    expect(() =>
      assertNoCardData({
        paymentMethodToken: 'pm_card_visa',
        customer: { email: 'ada@example.com', name: 'Ada Lovelace', country: 'GB' },
        items: [{ priceId: 'price_01HZX3K9Q2W8E5R7T6Y4U1I0OP', quantity: 2 }],
        nothing: null,
        flag: true,
        missing: undefined,
      }),
    ).not.toThrow();
  });

  it('walks cyclic and very deep input without failing', () => {
    const cyclic: Record<string, unknown> = { a: 'fine' };
    cyclic.self = cyclic;
    expect(() => assertNoCardData(cyclic)).not.toThrow();

    let deep: unknown = '4242424242424242';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(() => assertNoCardData(deep)).toThrow(ObolError);
  });

  it('refuses a random card anywhere in a random JSON document', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 3 }), luhnValidNumber.chain(typedForm), fc.nat(), (doc, card, seed) => {
        const holder = { doc, nested: [{ deep: { value: seed % 2 === 0 ? card : ` ${card} ` } }] };
        expect(() => assertNoCardData(holder)).toThrow(ObolError);
      }),
    );
  });
});
