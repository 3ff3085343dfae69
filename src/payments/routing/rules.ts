/**
 * Routing configuration: an ordered list of rules; the first rule whose conditions all match a
 * payment decides which connectors may take it and in what proportion (weights).
 *
 * Pure: parsing is a function of its input, so configuration loading (platform/config) can call
 * `parseRoutingConfig` on whatever JSON it read and surface the typed error at start-up.
 *
 * A rule's condition left out means "any". Within a rule, every present condition must match
 * (AND); within one condition, any listed value matches (OR).
 */
import { z } from 'zod';
import { ObolError } from '../../kernel/index.js';
import { isCurrencyCode, type CurrencyCode } from '../../money/index.js';

/** The built-in sandbox connector's name (duplicated from connectors/sandbox to keep this module free of its I/O imports). */
export const DEFAULT_CONNECTOR = 'sandbox';

export interface AmountRange {
  /** The amounts are minor units of this currency; a payment in another currency never matches. */
  readonly currency: CurrencyCode;
  /** Inclusive. */
  readonly min?: number;
  /** Inclusive. */
  readonly max?: number;
}

export interface RuleMatch {
  /** ISO 3166-1 alpha-2, upper case (the customer's country). */
  readonly countries?: readonly string[];
  readonly currencies?: readonly CurrencyCode[];
  /** Exact payment-method kinds, e.g. `card`, `paypal`. */
  readonly paymentMethodKinds?: readonly string[];
  /** Prefixes of the payment-method kind or token, e.g. `card_` or `tok_`. Matches if either kinds or prefixes match. */
  readonly paymentMethodPrefixes?: readonly string[];
  readonly amount?: AmountRange;
}

export interface WeightedConnector {
  readonly connector: string;
  /**
   * Share of first attempts, relative to the rule's other weights. Zero is allowed: such a
   * connector is never the first choice but stays in the list as a failover target.
   */
  readonly weight: number;
}

export interface RoutingRule {
  readonly id: string;
  readonly match: RuleMatch;
  readonly connectors: readonly WeightedConnector[];
}

export interface RoutingConfig {
  readonly rules: readonly RoutingRule[];
}

/** Everything goes to the sandbox: what `obol serve` does with no configuration. */
export const DEFAULT_ROUTING_CONFIG: RoutingConfig = Object.freeze({
  rules: Object.freeze([
    Object.freeze({ id: 'default', match: Object.freeze({}), connectors: Object.freeze([Object.freeze({ connector: DEFAULT_CONNECTOR, weight: 1 })]) }),
  ]),
});

// ---- parsing ----------------------------------------------------------------------------------

const minor = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const nonEmptyList = <T extends z.ZodType>(item: T) => z.array(item).min(1);

const schema = z
  .object({
    rules: z
      .array(
        z
          .object({
            id: z.string().min(1).max(100),
            match: z
              .object({
                countries: nonEmptyList(z.string().regex(/^[A-Z]{2}$/, 'must be an upper-case ISO 3166-1 alpha-2 code')).optional(),
                currencies: nonEmptyList(z.string().refine(isCurrencyCode, 'must be an ISO 4217 currency code')).optional(),
                paymentMethodKinds: nonEmptyList(z.string().min(1)).optional(),
                paymentMethodPrefixes: nonEmptyList(z.string().min(1)).optional(),
                amount: z
                  .object({
                    currency: z.string().refine(isCurrencyCode, 'must be an ISO 4217 currency code'),
                    min: minor.optional(),
                    max: minor.optional(),
                  })
                  .strict()
                  .optional(),
              })
              .strict()
              .default({}),
            connectors: nonEmptyList(
              z
                .object({
                  connector: z.string().min(1),
                  weight: z.number().int().nonnegative().max(1_000_000),
                })
                .strict(),
            ),
          })
          .strict(),
      )
      .min(1),
  })
  .strict();

function invalid(field: string, issue: string): ObolError {
  return new ObolError('VALIDATION_FAILED', `routing config: ${field}: ${issue}`, { field, issue });
}

/**
 * Validates routing configuration from JSON (or any untrusted value). Throws `ObolError`
 * VALIDATION_FAILED whose details name the offending field as a path, e.g.
 * `rules.1.connectors.0.weight`, so an operator can find it.
 */
export function parseRoutingConfig(json: unknown): RoutingConfig {
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    const field = first && first.path.length > 0 ? first.path.map(String).join('.') : '(root)';
    throw invalid(field, first?.message ?? 'invalid');
  }
  const seen = new Set<string>();
  const rules = parsed.data.rules.map((rule, i): RoutingRule => {
    if (seen.has(rule.id)) throw invalid(`rules.${i}.id`, `duplicate rule id ${rule.id}`);
    seen.add(rule.id);
    // Weights decide first choices: a rule with only zero weights could never pick one.
    if (rule.connectors.every((c) => c.weight === 0)) throw invalid(`rules.${i}.connectors`, 'at least one weight must be positive');
    const names = new Set<string>();
    rule.connectors.forEach((c, j) => {
      if (names.has(c.connector)) throw invalid(`rules.${i}.connectors.${j}.connector`, `duplicate connector ${c.connector}`);
      names.add(c.connector);
    });
    const { amount } = rule.match;
    if (amount?.min !== undefined && amount.max !== undefined && amount.min > amount.max) {
      throw invalid(`rules.${i}.match.amount`, 'min must not exceed max');
    }
    const match: RuleMatch = Object.freeze({
      ...(rule.match.countries ? { countries: Object.freeze([...rule.match.countries]) } : {}),
      ...(rule.match.currencies ? { currencies: Object.freeze([...rule.match.currencies] as CurrencyCode[]) } : {}),
      ...(rule.match.paymentMethodKinds ? { paymentMethodKinds: Object.freeze([...rule.match.paymentMethodKinds]) } : {}),
      ...(rule.match.paymentMethodPrefixes ? { paymentMethodPrefixes: Object.freeze([...rule.match.paymentMethodPrefixes]) } : {}),
      ...(amount
        ? {
            amount: Object.freeze({
              currency: amount.currency as CurrencyCode,
              ...(amount.min !== undefined ? { min: amount.min } : {}),
              ...(amount.max !== undefined ? { max: amount.max } : {}),
            }),
          }
        : {}),
    });
    return Object.freeze({ id: rule.id, match, connectors: Object.freeze(rule.connectors.map((c) => Object.freeze({ ...c }))) });
  });
  return Object.freeze({ rules: Object.freeze(rules) });
}

// ---- matching ---------------------------------------------------------------------------------

export interface RouteRequest {
  /** Stable across retries of the same payment, so the weighted split sends a retry to the same first choice. */
  readonly paymentId: string;
  /** The customer's country (ISO alpha-2), or null when unknown: country conditions then never match. */
  readonly country: string | null;
  readonly currency: string;
  /** Minor units of `currency`. */
  readonly amount: number;
  readonly paymentMethodKind: string;
}

/** Why a rule did or did not match, one line per condition, for the route explanation. */
export function matchRule(args: { readonly rule: RoutingRule; readonly request: RouteRequest }): { readonly matched: boolean; readonly failed: readonly string[] } {
  const { rule, request } = args;
  const m = rule.match;
  const failed: string[] = [];
  if (m.countries && (request.country === null || !m.countries.includes(request.country))) {
    failed.push(`country ${request.country ?? 'unknown'} not in [${m.countries.join(', ')}]`);
  }
  if (m.currencies && !(m.currencies as readonly string[]).includes(request.currency)) {
    failed.push(`currency ${request.currency} not in [${m.currencies.join(', ')}]`);
  }
  if (m.paymentMethodKinds || m.paymentMethodPrefixes) {
    const kindOk = m.paymentMethodKinds?.includes(request.paymentMethodKind) ?? false;
    const prefixOk = m.paymentMethodPrefixes?.some((p) => request.paymentMethodKind.startsWith(p)) ?? false;
    if (!kindOk && !prefixOk) failed.push(`payment method ${request.paymentMethodKind} not matched`);
  }
  if (m.amount) {
    const { currency, min, max } = m.amount;
    if (request.currency !== currency) failed.push(`amount range is in ${currency}, payment is in ${request.currency}`);
    else if ((min !== undefined && request.amount < min) || (max !== undefined && request.amount > max)) {
      failed.push(`amount ${request.amount} outside [${min ?? '-'}, ${max ?? '-'}] ${currency} minor units`);
    }
  }
  return { matched: failed.length === 0, failed };
}
