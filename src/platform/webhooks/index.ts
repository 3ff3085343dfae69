/** Inbound gateway webhooks: verification, the inbox, and the HTTP intake routes. */
export * from './verify.js';
export * from './inbox.js';
export * from './routes.js';
export { processWebhooksOnce } from './process.js';
