export * from './outbox.js';
export * from './bus.js';
export * from './relay.js';
export * from './consumer.js';
export * from './kafka.js';
