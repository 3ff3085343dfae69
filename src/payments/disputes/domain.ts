/**
 * The dispute (chargeback) state machine, and how a gateway's dispute event maps onto it.
 *
 *              ┌── won ───▶ won
 *   opened ────┤
 *              └── lost ──▶ lost
 *
 *   Terminal: won, lost. `opened` is not an event of the machine: it creates the dispute.
 *
 * Gateways deliver webhooks at least once and in no guaranteed order, so the use case does not
 * feed raw events to the machine. It asks disputeLegs() which steps an event still has to
 * perform given the stored status (null = no dispute yet):
 *
 *   stored \ event │ opened      │ won              │ lost
 *   ───────────────┼─────────────┼──────────────────┼──────────────────
 *   (none)         │ [opened]    │ [opened, won]    │ [opened, lost]
 *   opened         │ []  repeat  │ [won]            │ [lost]
 *   won | lost     │ []  late    │ []  repeat/late  │ []  repeat/late
 *
 * An outcome arriving before its `opened` creates the dispute directly in the outcome and
 * performs both legs, so the ledger and the event stream read as if `opened` had come first (the
 * money was withdrawn either way). A late `opened`, or a repeat, is a no-op ([]). A terminal
 * dispute never changes: an outcome contradicting the stored one ('lost' after 'won') is also a
 * no-op here, and the use case reports it as an incident for a person to look at.
 */
import { ObolError } from '../../kernel/index.js';

export const DISPUTE_STATUSES = ['opened', 'won', 'lost'] as const;
export type DisputeStatus = (typeof DISPUTE_STATUSES)[number];

/** Events of the state machine proper (the outcomes). */
export const DISPUTE_EVENTS = ['won', 'lost'] as const;
export type DisputeEvent = (typeof DISPUTE_EVENTS)[number];

/** What a gateway webhook reports. */
export const DISPUTE_EVENT_KINDS = ['opened', 'won', 'lost'] as const;
export type DisputeEventKind = (typeof DISPUTE_EVENT_KINDS)[number];

/** A step the use case performs: a ledger posting (opened, won) and an event (all three). */
export type DisputeLeg = DisputeEventKind;

export const INITIAL_DISPUTE_STATUS: DisputeStatus = 'opened';
export const TERMINAL_DISPUTE_STATUSES: readonly DisputeStatus[] = ['won', 'lost'];

export function isDisputeStatus(value: unknown): value is DisputeStatus {
  return typeof value === 'string' && (DISPUTE_STATUSES as readonly string[]).includes(value);
}

export function isDisputeEventKind(value: unknown): value is DisputeEventKind {
  return typeof value === 'string' && (DISPUTE_EVENT_KINDS as readonly string[]).includes(value);
}

/** The next status, or undefined when `event` is not allowed in `from`. */
export function nextDisputeStatus(from: DisputeStatus, event: DisputeEvent): DisputeStatus | undefined {
  switch (from) {
    case 'opened':
      switch (event) {
        case 'won':
          return 'won';
        case 'lost':
          return 'lost';
        default: {
          const unreachable: never = event;
          throw new Error(`unknown dispute event ${String(unreachable)}`);
        }
      }
    case 'won':
    case 'lost':
      return undefined;
    default: {
      const unreachable: never = from;
      throw new Error(`unknown dispute status ${String(unreachable)}`);
    }
  }
}

/** Applies `event`, or throws the typed ILLEGAL_STATE_TRANSITION error a caller can handle. */
export function transitionDispute(from: DisputeStatus, event: DisputeEvent): DisputeStatus {
  const to = nextDisputeStatus(from, event);
  if (to === undefined) {
    throw new ObolError('ILLEGAL_STATE_TRANSITION', `a dispute in status ${from} cannot take event ${event}`, { from, event });
  }
  return to;
}

/** The legs a gateway event still has to perform, in order (see the table above); [] = no-op. */
export function disputeLegs(stored: DisputeStatus | null, kind: DisputeEventKind): readonly DisputeLeg[] {
  if (stored === null) return kind === 'opened' ? ['opened'] : ['opened', kind];
  if (kind === 'opened') return [];
  return nextDisputeStatus(stored, kind) === undefined ? [] : [kind];
}

/** The status after performing `legs` from `stored`. */
export function statusAfter(stored: DisputeStatus | null, legs: readonly DisputeLeg[]): DisputeStatus | null {
  let status = stored;
  for (const leg of legs) {
    switch (leg) {
      case 'opened':
        status = INITIAL_DISPUTE_STATUS;
        break;
      case 'won':
      case 'lost':
        if (status === null) throw new Error(`dispute leg ${leg} before opened`);
        status = transitionDispute(status, leg);
        break;
      default: {
        const unreachable: never = leg;
        throw new Error(`unknown dispute leg ${String(unreachable)}`);
      }
    }
  }
  return status;
}
