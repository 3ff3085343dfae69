export * from './database.js';
export * from './dialect.js';
export * from './migrate.js';
export type * from './schema.js';
