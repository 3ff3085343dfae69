/** The ledger context's public face: other contexts import from here, never from its files. */
export * from './domain/accounts.js';
export * from './domain/journal.js';
export * from './domain/postings.js';
export * from './domain/dispute-accounts.js';
export * from './domain/dispute-postings.js';
export * from './store.js';
export { getTrialBalance } from './read.js';
