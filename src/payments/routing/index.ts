export * from './rules.js';
export * from './router.js';
export * from './failover.js';
export * from './circuit-breaker.js';
export * from './auth-rate.js';
