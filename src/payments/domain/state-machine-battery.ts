/**
 * The battery every state machine in payments passes: the whole transition table written out by
 * hand, every other (status, event) pair refused with ILLEGAL_STATE_TRANSITION, terminal states
 * inert, and every status reachable from the initial one. Test-only (imports vitest).
 */
import { expect, it } from 'vitest';
import { ObolError } from '../../kernel/index.js';

export interface StateMachineSpec<S extends string, E extends string> {
  readonly statuses: readonly S[];
  readonly events: readonly E[];
  readonly initial: S;
  readonly terminal: readonly S[];
  /** Every allowed transition; any pair missing here must be refused. */
  readonly expected: Readonly<Record<S, Partial<Record<E, S>>>>;
  readonly next: (from: S, event: E) => S | undefined;
  readonly transition: (from: S, event: E) => S;
  readonly isStatus: (value: unknown) => value is S;
  /** Values that must not be recognised as statuses. */
  readonly notStatuses: readonly unknown[];
}

export function stateMachineBattery<S extends string, E extends string>(spec: StateMachineSpec<S, E>): void {
  const pairs = spec.statuses.flatMap((from) => spec.events.map((event) => ({ from, event, to: spec.expected[from][event] })));

  it.each(pairs.filter((p) => p.to !== undefined))('$from --$event--> $to', ({ from, event, to }) => {
    expect(spec.next(from, event)).toBe(to);
    expect(spec.transition(from, event)).toBe(to);
  });

  it.each(pairs.filter((p) => p.to === undefined))('refuses $event in $from with ILLEGAL_STATE_TRANSITION', ({ from, event }) => {
    expect(spec.next(from, event)).toBeUndefined();
    let thrown: unknown;
    try {
      spec.transition(from, event);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ObolError);
    expect((thrown as ObolError).code).toBe('ILLEGAL_STATE_TRANSITION');
    expect((thrown as ObolError).details).toEqual({ from, event });
  });

  it('terminal statuses accept no event at all, and only they', () => {
    for (const from of spec.statuses) {
      const moves = spec.events.some((event) => spec.next(from, event) !== undefined);
      expect(moves).toBe(!spec.terminal.includes(from));
    }
  });

  it('reaches every status from the initial one', () => {
    const seen = new Set<S>([spec.initial]);
    const queue: S[] = [spec.initial];
    while (queue.length > 0) {
      const from = queue.shift()!;
      for (const event of spec.events) {
        const to = spec.next(from, event);
        if (to !== undefined && !seen.has(to)) {
          seen.add(to);
          queue.push(to);
        }
      }
    }
    expect([...seen].sort()).toEqual([...spec.statuses].sort());
  });

  it('recognises its statuses and nothing else', () => {
    for (const s of spec.statuses) expect(spec.isStatus(s)).toBe(true);
    for (const v of spec.notStatuses) expect(spec.isStatus(v)).toBe(false);
  });
}
