export * from './store.js';
export * from './domain/coupon.js';
export * from './domain/price.js';
export { DEMO_PRODUCTS, DEMO_PRICES, DEMO_COUPONS, DEMO_TAX_RATES } from './demo.js';
