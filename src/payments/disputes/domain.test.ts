import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { money, parseCurrency, type CurrencyCode } from '../../money/index.js';
import { accountKind, assertBalanced, gatewayClearing, type JournalDraft } from '../../ledger/index.js';
import { CHARGEBACKS, DISPUTE_FEES } from '../../ledger/domain/dispute-accounts.js';
import { disputeOpenedPosting, disputeWonPosting } from '../../ledger/domain/dispute-postings.js';
import { stateMachineBattery } from '../domain/state-machine-battery.js';
import {
  DISPUTE_EVENT_KINDS,
  DISPUTE_EVENTS,
  DISPUTE_STATUSES,
  INITIAL_DISPUTE_STATUS,
  TERMINAL_DISPUTE_STATUSES,
  disputeLegs,
  isDisputeEventKind,
  isDisputeStatus,
  nextDisputeStatus,
  statusAfter,
  transitionDispute,
  type DisputeEventKind,
  type DisputeStatus,
} from './domain.js';

describe('dispute state machine', () => {
  stateMachineBattery({
    statuses: DISPUTE_STATUSES,
    events: DISPUTE_EVENTS,
    initial: INITIAL_DISPUTE_STATUS,
    terminal: TERMINAL_DISPUTE_STATUSES,
    expected: {
      opened: { won: 'won', lost: 'lost' },
      won: {},
      lost: {},
    },
    next: nextDisputeStatus,
    transition: transitionDispute,
    isStatus: isDisputeStatus,
    notStatuses: ['', 'open', 'OPENED', 'closed', null, undefined, 1, {}],
  });

  it('recognises gateway event kinds', () => {
    for (const k of DISPUTE_EVENT_KINDS) expect(isDisputeEventKind(k)).toBe(true);
    expect(isDisputeEventKind('closed')).toBe(false);
  });
});

describe('disputeLegs: at-least-once, out-of-order delivery', () => {
  const table: ReadonlyArray<[DisputeStatus | null, DisputeEventKind, readonly string[]]> = [
    [null, 'opened', ['opened']],
    [null, 'won', ['opened', 'won']],
    [null, 'lost', ['opened', 'lost']],
    ['opened', 'opened', []],
    ['opened', 'won', ['won']],
    ['opened', 'lost', ['lost']],
    ['won', 'opened', []],
    ['won', 'won', []],
    ['won', 'lost', []],
    ['lost', 'opened', []],
    ['lost', 'won', []],
    ['lost', 'lost', []],
  ];
  it.each(table)('stored %s + %s → %j', (stored, kind, legs) => {
    expect(disputeLegs(stored, kind)).toEqual(legs);
  });

  const EUR = parseCurrency('EUR') as CurrencyCode;
  const USD = parseCurrency('USD') as CurrencyCode;

  /**
   * Any delivery sequence (repeats, reorderings, contradictions) of one dispute's events: the
   * first outcome seen wins, every posting balances per currency, and the books end as that
   * outcome says — clearing down by amount + fee (lost, or still open) or by the fee only (won).
   */
  it('any event sequence books exactly one consistent life of the dispute', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom<DisputeEventKind>('opened', 'won', 'lost'), { minLength: 1, maxLength: 10 }),
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.option(fc.integer({ min: 0, max: 3_000 }), { nil: null }),
        fc.constantFrom(EUR, USD),
        (events, amount, fee, feeCurrency) => {
          let status: DisputeStatus | null = null;
          const posted: JournalDraft[] = [];
          const emitted: string[] = [];
          const args = { paymentId: 'pay_1', disputeId: 'dp_1', connector: 'stripe', amount: money(amount, EUR) };
          for (const e of events) {
            const legs = disputeLegs(status, e);
            for (const leg of legs) {
              if (leg === 'opened') posted.push(disputeOpenedPosting({ ...args, fee: fee === null ? null : money(fee, feeCurrency) }));
              if (leg === 'won') posted.push(disputeWonPosting(args));
              emitted.push(leg);
            }
            status = statusAfter(status, legs);
          }
          for (const d of posted) {
            assertBalanced(d);
            for (const l of d.lines) accountKind(l.account);
          }
          const firstOutcome = events.find((e) => e !== 'opened');
          expect(status).toBe(firstOutcome ?? 'opened');
          expect(emitted).toEqual(firstOutcome === undefined ? ['opened'] : ['opened', firstOutcome]);
          const bal = (acct: string, c: CurrencyCode): number => posted.flatMap((d) => d.lines).filter((l) => l.account === acct && l.amount.currency === c).reduce((a, l) => a + l.amount.amount, 0);
          const feeIn = (c: CurrencyCode): number => (fee !== null && feeCurrency === c ? fee : 0);
          const kept = firstOutcome === 'won' ? 0 : amount;
          expect(bal(CHARGEBACKS, EUR)).toBe(kept);
          expect(bal(DISPUTE_FEES, feeCurrency)).toBe(fee ?? 0);
          expect(bal(gatewayClearing('stripe'), EUR)).toBe(0 - kept - feeIn(EUR) || 0);
          expect(bal(gatewayClearing('stripe'), USD)).toBe(0 - feeIn(USD) || 0);
        },
      ),
      { numRuns: 300 },
    );
  });
});
