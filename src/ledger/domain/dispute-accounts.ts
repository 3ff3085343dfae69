/**
 * Accounts the dispute posting rules use (see dispute-postings.ts). Kept apart from accounts.ts
 * so the disputes feature owns its part of the chart; accountKind() in accounts.ts maps them.
 */

/**
 * Contra-revenue: money a cardholder's bank has clawed back through a dispute. Booked when the
 * dispute opens — the gateway withdraws the funds at once, and most disputes are lost, so the
 * prudent reading is "revenue reversed until proven otherwise". A win moves it back; a loss
 * leaves it where it is, so the loss needs no posting of its own.
 */
export const CHARGEBACKS = 'chargebacks';

/** Expense: the gateway's dispute fee, charged when the dispute opens and usually kept either way. */
export const DISPUTE_FEES = 'dispute_fees';
