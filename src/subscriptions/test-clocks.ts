/**
 * Test clocks as use cases: admins only, and only where test clocks are enabled (test mode or
 * an explicit setting), because advancing one runs renewals, retries and charges for every
 * subscription on it.
 */
import { authorize, ObolError, type Caller } from '../kernel/index.js';
import { assertCustomerId } from '../checkout/index.js';
import { advanceTestClock, attachCustomerToClock, createTestClock, getTestClock, type JobRunner, type TestClockView } from '../platform/jobs/index.js';
import type { SubscriptionsDeps } from './deps.js';

function allowed(deps: SubscriptionsDeps, caller: Caller): void {
  authorize(caller.actor, 'test_clock.manage');
  if (!deps.testClocksEnabled) throw new ObolError('FORBIDDEN', 'Test clocks are disabled here (set TEST_CLOCKS=true in test or staging environments).');
}

export async function createClock(deps: SubscriptionsDeps, props: { readonly caller: Caller; readonly name: string; readonly frozenTime: number }): Promise<TestClockView> {
  allowed(deps, props.caller);
  if (!Number.isSafeInteger(props.frozenTime) || props.frozenTime < 0) throw new ObolError('VALIDATION_FAILED', 'frozenTime must be a time (milliseconds since the epoch).', { field: 'frozenTime' });
  return createTestClock(deps.db, { name: props.name, frozenTime: props.frozenTime, now: deps.payments.clock.now() });
}

export async function getClock(deps: SubscriptionsDeps, props: { readonly caller: Caller; readonly clockId: string }): Promise<TestClockView> {
  allowed(deps, props.caller);
  const clock = await getTestClock(deps.db.kysely, props.clockId);
  if (!clock) throw new ObolError('TEST_CLOCK_NOT_FOUND', 'No test clock with this id.', { field: 'clockId' });
  return clock;
}

export async function attachCustomer(deps: SubscriptionsDeps, props: { readonly caller: Caller; readonly clockId: string; readonly customerId: string }): Promise<TestClockView> {
  allowed(deps, props.caller);
  assertCustomerId(props.customerId);
  const clock = await getTestClock(deps.db.kysely, props.clockId);
  if (!clock) throw new ObolError('TEST_CLOCK_NOT_FOUND', 'No test clock with this id.', { field: 'clockId' });
  const subscribed = await deps.db.kysely.selectFrom('subscriptions').select('id').where('customer_id', '=', props.customerId).executeTakeFirst();
  // Moving a customer with history onto another timeline would make that history contradict itself.
  if (subscribed) throw new ObolError('TEST_CLOCK_IN_USE', 'Only a customer without subscriptions can be attached to a test clock.', { field: 'customerId' });
  await attachCustomerToClock(deps.db, { clockId: props.clockId, customerId: props.customerId, now: deps.payments.clock.now() });
  return clock;
}

export async function advanceClock(deps: SubscriptionsDeps & { readonly jobs: JobRunner }, props: { readonly caller: Caller; readonly clockId: string; readonly to: number }): Promise<TestClockView> {
  allowed(deps, props.caller);
  return advanceTestClock({ db: deps.db, runner: deps.jobs, system: deps.payments.clock }, { clockId: props.clockId, to: props.to });
}
