import { describe, expect, it } from 'vitest';
import { grantsForPurchase, type LineTerms } from './purchase.js';

const AT = Date.parse('2026-01-31T12:00:00.000Z');
const terms = new Map<string, LineTerms>([
  ['price_cert', { productId: 'prod_cert', grants: 'course:ml', billingInterval: null }],
  ['price_plus_month', { productId: 'prod_plus', grants: 'catalog:all', billingInterval: 'month' }],
  ['price_plus_year', { productId: 'prod_plus', grants: 'catalog:all', billingInterval: 'year' }],
  ['price_gift', { productId: 'prod_gift', grants: null, billingInterval: null }],
  ['price_broken', { productId: 'prod_broken', grants: 'video:x', billingInterval: null }],
]);

describe('what a purchase grants', () => {
  it('grants each product’s resource for its price’s validity', () => {
    expect(grantsForPurchase([{ priceId: 'price_cert', productId: 'prod_cert' }, { priceId: 'price_plus_month', productId: 'prod_plus' }], terms, AT)).toEqual([
      { resource: 'catalog:all', productId: 'prod_plus', validFrom: AT, validUntil: Date.parse('2026-02-28T12:00:00.000Z') },
      { resource: 'course:ml', productId: 'prod_cert', validFrom: AT, validUntil: null },
    ]);
  });

  it('merges lines granting the same resource into the longest', () => {
    const grants = grantsForPurchase([{ priceId: 'price_plus_month', productId: 'prod_plus' }, { priceId: 'price_plus_year', productId: 'prod_plus' }], terms, AT);
    expect(grants).toEqual([{ resource: 'catalog:all', productId: 'prod_plus', validFrom: AT, validUntil: Date.parse('2027-01-31T12:00:00.000Z') }]);
  });

  it('skips products that grant nothing', () => {
    expect(grantsForPurchase([{ priceId: 'price_gift', productId: 'prod_gift' }], terms, AT)).toEqual([]);
  });

  it('refuses to guess when the catalog cannot say what a line grants', () => {
    expect(() => grantsForPurchase([{ priceId: 'price_missing', productId: 'prod_cert' }], terms, AT)).toThrow(/not in the catalog/);
    expect(() => grantsForPurchase([{ priceId: 'price_cert', productId: 'prod_other' }], terms, AT)).toThrow(/belongs to/);
    expect(() => grantsForPurchase([{ priceId: 'price_broken', productId: 'prod_broken' }], terms, AT)).toThrow(/not a resource/);
  });
});
