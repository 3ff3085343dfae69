/** The ledger context's public face. */
export * from './domain/accounts.js';
export * from './domain/journal.js';
export * from './domain/postings.js';
export * from './store.js';
