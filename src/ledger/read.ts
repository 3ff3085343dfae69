import { authorize, type Caller } from '../kernel/index.js';
import type { Executor } from '../platform/db/index.js';
import { trialBalance, type TrialBalance } from './store.js';

/** The trial balance, for finance and admins. */
export async function getTrialBalance(db: Executor, props: { readonly caller: Caller }): Promise<TrialBalance> {
  authorize(props.caller.actor, 'ledger.read');
  return trialBalance(db);
}
