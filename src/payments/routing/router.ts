/**
 * The routing decision for one payment: which connectors to try, in order, and why.
 *
 *   rules (first match) ──▶ weighted split ──▶ health ──▶ authorization rate ──▶ ordered list
 *                           (hash of the      (open       (orders the failover
 *                            payment id)       breakers    candidates behind the
 *                                              go last)    weighted first choice)
 *
 * Pure and deterministic: the same config, request, health and `now` give the same plan, so a
 * retry of a payment lands on the same first choice and a plan can be re-derived when someone
 * asks "why did this payment go to X?". Every step appends a line to `explanation`.
 *
 * Planning does not take a half-open breaker's trial slot: the caller calls `allowRequest` when it
 * actually sends an attempt, and a refusal there is an `unavailable` outcome that fails over.
 */
import { peekStatus, type BreakerState, type BreakerStatus } from './circuit-breaker.js';
import { authorizationRate, type AuthRateState } from './auth-rate.js';
import { matchRule, type RouteRequest, type RoutingConfig, type RoutingRule } from './rules.js';

export interface ConnectorHealth {
  /** Absent: no calls seen yet, treated as closed. */
  readonly breaker?: BreakerState;
  /** Absent: no data, rate unknown. */
  readonly authRate?: AuthRateState;
}

export interface RoutePlan {
  /** Connectors in the order to try them; empty when no rule matched. */
  readonly connectors: readonly string[];
  /** Human-readable decision steps, in order. */
  readonly explanation: readonly string[];
  /** The matching rule, or null when none matched (the caller refuses the payment). */
  readonly ruleId: string | null;
}

export function planRoute(args: {
  readonly config: RoutingConfig;
  readonly request: RouteRequest;
  readonly health: ReadonlyMap<string, ConnectorHealth>;
  readonly now: number;
}): RoutePlan {
  const { config, request, health, now } = args;
  const explanation: string[] = [];

  const rule = firstMatchingRule(config, request, explanation);
  if (!rule) {
    explanation.push('no rule matched: no connector can take this payment');
    return Object.freeze({ connectors: Object.freeze([]), explanation: Object.freeze(explanation), ruleId: null });
  }

  const weighted = weightedOrder(rule, request.paymentId, explanation);
  const ordered = byHealth(weighted, health, now, explanation);
  explanation.push(`route: ${ordered.join(' → ')}`);
  return Object.freeze({ connectors: Object.freeze(ordered), explanation: Object.freeze(explanation), ruleId: rule.id });
}

function firstMatchingRule(config: RoutingConfig, request: RouteRequest, explanation: string[]): RoutingRule | undefined {
  for (const rule of config.rules) {
    const { matched, failed } = matchRule({ rule, request });
    if (matched) {
      explanation.push(`rule ${rule.id} matched`);
      return rule;
    }
    explanation.push(`rule ${rule.id} skipped: ${failed.join('; ')}`);
  }
  return undefined;
}

// ---- weighted split ---------------------------------------------------------------------------

/**
 * 32-bit FNV-1a with a murmur3 finalizer: FNV alone spreads similar ids (pay_001, pay_002) poorly
 * in its low bits, which the modulo below uses.
 */
export function stableHash(value: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < value.length; i++) {
    h ^= value.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Weighted sampling without replacement, each draw seeded by (rule, payment id, draw number):
 * the first draw honours the weights exactly in aggregate; later draws order the failover
 * candidates in the same proportions. Zero-weight connectors (failover only) come last, in
 * configured order.
 */
function weightedOrder(rule: RoutingRule, paymentId: string, explanation: string[]): string[] {
  let remaining = rule.connectors.filter((c) => c.weight > 0);
  const order: string[] = [];
  for (let draw = 0; remaining.length > 0; draw++) {
    const total = remaining.reduce((acc, c) => acc + c.weight, 0);
    const bucket = stableHash(`${rule.id}\u0000${paymentId}\u0000${draw}`) % total;
    let cumulative = 0;
    const picked = remaining.find((c) => (cumulative += c.weight) > bucket) ?? remaining[remaining.length - 1]!;
    if (draw === 0) {
      explanation.push(
        `weighted split ${rule.connectors.map((c) => `${c.connector}:${c.weight}`).join(', ')}: bucket ${bucket} of ${total} for payment ${paymentId} → ${picked.connector}`,
      );
    }
    order.push(picked.connector);
    remaining = remaining.filter((c) => c !== picked);
  }
  const failoverOnly = rule.connectors.filter((c) => c.weight === 0).map((c) => c.connector);
  if (failoverOnly.length > 0) explanation.push(`failover only (weight 0): ${failoverOnly.join(', ')}`);
  order.push(...failoverOnly);
  explanation.push(`weighted order: ${order.join(', ')}`);
  return order;
}

// ---- health -----------------------------------------------------------------------------------

interface Candidate {
  readonly connector: string;
  readonly index: number;
  readonly status: BreakerStatus;
  readonly available: boolean;
  readonly rateBps: number | null;
}

/**
 * Open breakers move to the end rather than out of the list: when every connector looks sick, an
 * attempt is still better than refusing the payment, and the caller's `allowRequest` has the
 * final word (a refusal fails over, nothing sent). Among available connectors the weighted first
 * choice keeps first place (weights are the operator's explicit intent, e.g. a volume
 * commitment); the failover candidates behind it are ordered by recent authorization rate,
 * unknown rates last, ties kept in weighted order.
 */
function byHealth(order: readonly string[], health: ReadonlyMap<string, ConnectorHealth>, now: number, explanation: string[]): string[] {
  const candidates: Candidate[] = order.map((connector, index) => {
    const h = health.get(connector);
    const peek = h?.breaker ? peekStatus(h.breaker, now) : { status: 'closed' as const, wouldAllow: true };
    const rateBps = h?.authRate ? authorizationRate({ state: h.authRate, now }).rateBps : null;
    const rate = rateBps === null ? 'unknown' : `${(rateBps / 100).toFixed(2)}%`;
    const note = peek.wouldAllow ? (peek.status === 'half_open' ? 'allowed as a trial' : 'allowed') : 'refusing requests, moved last';
    explanation.push(`${connector}: breaker ${peek.status} (${note}), recent authorization rate ${rate}`);
    return { connector, index, status: peek.status, available: peek.wouldAllow, rateBps };
  });
  const available = candidates.filter((c) => c.available);
  const unavailable = candidates.filter((c) => !c.available);
  const [first, ...rest] = available;
  const rateKey = (c: Candidate) => c.rateBps ?? -1;
  const sortedRest = [...rest].sort((a, b) => rateKey(b) - rateKey(a) || a.index - b.index);
  if (rest.length > 1 && sortedRest.some((c, i) => c !== rest[i])) {
    explanation.push(`failover candidates reordered by authorization rate: ${sortedRest.map((c) => c.connector).join(', ')}`);
  }
  if (first && first.index !== 0) explanation.push(`${first.connector} leads: the weighted first choice is not available`);
  if (available.length === 0 && unavailable.length > 0) explanation.push('every connector is refusing requests: keeping weighted order as a last resort');
  return [...(first ? [first] : []), ...sortedRest, ...unavailable].map((c) => c.connector);
}
