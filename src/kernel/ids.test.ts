import { describe, expect, it } from 'vitest';
import { isCatalogId, isId, newId } from './ids.js';

describe('ids', () => {
  it('are well-formed and carry their kind', () => {
    const id = newId('payment');
    expect(isId('payment', id)).toBe(true);
    expect(isId('refund', id)).toBe(false);
  });

  it('sort in creation order even when the clock stands still', () => {
    const ids = Array.from({ length: 500 }, () => newId('payment', 1_700_000_000_000));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('sort in creation order when the clock goes backwards', () => {
    const a = newId('payment', 1_800_000_000_000);
    const b = newId('payment', 1_700_000_000_000);
    expect(b > a).toBe(true);
  });

  it('refuse malformed ids', () => {
    for (const bad of ['pay_', 'pay_123', 'pay_01JDZZZZZZZZZZZZZZZZZZZZZ!', 'cs_01JDZZZZZZZZZZZZZZZZZZZZZZ', ' pay_01JDZZZZZZZZZZZZZZZZZZZZZZ']) {
      expect(isId('payment', bad)).toBe(false);
    }
    expect(isCatalogId('price', 'price_plus_monthly_eur')).toBe(true);
    expect(isCatalogId('price', 'price_../etc')).toBe(false);
  });
});
