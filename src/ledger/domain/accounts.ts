import { CHARGEBACKS, DISPUTE_FEES } from './dispute-accounts.js';

/**
 * The chart of accounts. Codes are strings so per-connector and per-country accounts need no
 * set-up: the first posting creates them. Balances are kept as debits − credits, so assets and
 * contra-revenue carry positive balances, liabilities and revenue negative ones.
 */
export const ACCOUNT_KINDS = ['asset', 'liability', 'revenue', 'contra_revenue', 'expense', 'memo'] as const;
export type AccountKind = (typeof ACCOUNT_KINDS)[number];

export function isAccountKind(value: unknown): value is AccountKind {
  return typeof value === 'string' && (ACCOUNT_KINDS as readonly string[]).includes(value);
}

// Codes must fit ledger_accounts.code (varchar(100)) and stay readable in reports, so the
// variable parts are constrained instead of trusting whatever a caller passes.
const CONNECTOR = /^[a-z][a-z0-9_-]{0,39}$/;
const COUNTRY = /^[A-Z]{2}$/;

function connectorPart(connector: string): string {
  if (!CONNECTOR.test(connector)) throw new Error(`not a connector name usable in an account code: ${JSON.stringify(connector)}`);
  return connector;
}

function countryPart(country: string): string {
  const cc = country.toUpperCase();
  if (!COUNTRY.test(cc)) throw new Error(`not an ISO 3166-1 alpha-2 country for a tax account: ${JSON.stringify(country)}`);
  return cc;
}

const GATEWAY_CLEARING_PREFIX = 'gateway_clearing:';
const TAX_PAYABLE_PREFIX = 'tax_payable:';
const AUTHORIZATION_HOLDS_PREFIX = 'authorization_holds:';

/** Asset: money the gateway has collected for us and not yet paid out. */
export const gatewayClearing = (connector: string): string => `${GATEWAY_CLEARING_PREFIX}${connectorPart(connector)}`;
/** Earned revenue (one-time sales such as certificates), gross of discounts. */
export const REVENUE = 'revenue';
/** Liability: paid but not yet earned (subscription periods), recognised over the service period. */
export const DEFERRED_REVENUE = 'deferred_revenue';
/** Liability: tax collected on behalf of a country's tax authority. */
export const taxPayable = (country: string): string => `${TAX_PAYABLE_PREFIX}${countryPart(country)}`;
/** Contra-revenue: coupons, kept apart from revenue so reports show gross sales and the giveaway. */
export const DISCOUNTS = 'discounts';
/** Contra-revenue: money returned to learners, net of the tax given back. */
export const REFUNDS = 'refunds';
/**
 * Memo accounts: an authorization is a hold, not money. Booking it off-balance gives void and
 * capture something visible to release, and the open holds at a connector read in O(1).
 */
export const authorizationHolds = (connector: string): string => `${AUTHORIZATION_HOLDS_PREFIX}${connectorPart(connector)}`;
export const AUTHORIZATION_HOLDS_CONTRA = 'authorization_holds_contra';

/** The kind of an account, derived from its code; an unknown code is a bug in a posting rule. */
export function accountKind(code: string): AccountKind {
  const parameterized = (prefix: string, valid: RegExp): boolean => code.startsWith(prefix) && valid.test(code.slice(prefix.length));
  if (parameterized(GATEWAY_CLEARING_PREFIX, CONNECTOR)) return 'asset';
  if (parameterized(TAX_PAYABLE_PREFIX, COUNTRY)) return 'liability';
  if (parameterized(AUTHORIZATION_HOLDS_PREFIX, CONNECTOR)) return 'memo';
  switch (code) {
    case REVENUE:
      return 'revenue';
    case DEFERRED_REVENUE:
      return 'liability';
    case DISCOUNTS:
    case REFUNDS:
    case CHARGEBACKS:
      return 'contra_revenue';
    case DISPUTE_FEES:
      return 'expense';
    case AUTHORIZATION_HOLDS_CONTRA:
      return 'memo';
    default:
      throw new Error(`unknown ledger account ${JSON.stringify(code)}`);
  }
}
