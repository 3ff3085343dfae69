/** The subscriptions domain: pure rules, no I/O. */
export * from './lifecycle.js';
export * from './invoice.js';
export * from './period.js';
export * from './proration.js';
export * from './coupon-duration.js';
export * from './dunning.js';
export * from './recognition.js';
