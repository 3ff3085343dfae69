export * from './outbox.js';
export * from './bus.js';
export * from './relay.js';
