/**
 * The chart of accounts. Codes are strings so per-connector and per-country accounts need no
 * set-up: the first posting creates them. Balances are kept as debits − credits, so assets and
 * contra-revenue carry positive balances, liabilities and revenue negative ones.
 */
export const ACCOUNT_KINDS = ['asset', 'liability', 'revenue', 'contra_revenue', 'memo'] as const;
export type AccountKind = (typeof ACCOUNT_KINDS)[number];

/** Money the gateway has collected for us and not yet paid out. */
export const gatewayClearing = (connector: string): string => `gateway_clearing:${connector}`;
/** Earned revenue (one-time sales such as certificates), gross of discounts. */
export const REVENUE = 'revenue';
/** Paid but not yet earned (subscription periods): recognised over the service period. */
export const DEFERRED_REVENUE = 'deferred_revenue';
/** Tax collected on behalf of a country's tax authority. */
export const taxPayable = (country: string): string => `tax_payable:${country}`;
/** Coupons: revenue given away, shown separately from the revenue itself. */
export const DISCOUNTS = 'discounts';
/** Money returned to learners (net of the tax given back). */
export const REFUNDS = 'refunds';
/**
 * Memo accounts: an authorization is a hold, not money. Booking it off-balance lets void and
 * capture release something visible, and the open holds at a connector read in O(1).
 */
export const authorizationHolds = (connector: string): string => `authorization_holds:${connector}`;
export const AUTHORIZATION_HOLDS_CONTRA = 'authorization_holds_contra';

export function accountKind(code: string): AccountKind {
  if (code.startsWith('gateway_clearing:')) return 'asset';
  if (code.startsWith('tax_payable:')) return 'liability';
  if (code.startsWith('authorization_holds:') || code === AUTHORIZATION_HOLDS_CONTRA) return 'memo';
  switch (code) {
    case REVENUE:
      return 'revenue';
    case DEFERRED_REVENUE:
      return 'liability';
    case DISCOUNTS:
    case REFUNDS:
      return 'contra_revenue';
    default:
      throw new Error(`unknown ledger account ${code}`);
  }
}
