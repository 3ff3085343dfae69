/**
 * Abuse limits shared by every Obol process through the database: per-customer and per-IP rate
 * limits on checkout, and the card-testing defence (repeated failed confirmations → a temporary
 * block). See each module for the algorithm and why it was chosen.
 */
export { consumeRateLimit } from './rate-limit.js';
export { ABUSE_BLOCK_REASONS, assertNotBlocked, recordFailedPayment, type AbuseBlockReason } from './card-testing.js';
export { ipSubject, subjectsFor, UNPARSEABLE_IP_SUBJECT } from './subjects.js';
export { purgeAbuseState, type AbusePurgeResult } from './purge.js';
export { ABUSE_KEY_MAX } from './keys.js';
