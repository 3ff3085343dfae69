import { authorize, mayActFor, type Caller } from '../kernel/index.js';
import type { Keyring } from '../platform/crypto/keyring.js';
import type { Db, Executor } from '../platform/db/index.js';
import { openBillingDetails, type BillingDetails } from './billing-details.js';
import { loadSessionView, type CheckoutSessionView } from './records.js';

/** A checkout session, if the caller may see it; someone else's reads like none at all. */
export async function getCheckoutSession(db: Executor, props: { readonly caller: Caller; readonly sessionId: string }): Promise<CheckoutSessionView | null> {
  authorize(props.caller.actor, 'checkout.read');
  const view = await loadSessionView(db, props.sessionId);
  if (!view || !mayActFor(props.caller.actor, view.customerId)) return null;
  return view;
}

/** The payer's billing details, decrypted, for those who may see personal data. */
export async function getBillingDetails(deps: { readonly db: Db; readonly keyring: Keyring }, props: { readonly caller: Caller; readonly sessionId: string }): Promise<BillingDetails | null> {
  authorize(props.caller.actor, 'checkout.read_billing_details');
  const row = await deps.db.kysely.selectFrom('checkout_sessions').select(['customer_id', 'billing_details']).where('id', '=', props.sessionId).executeTakeFirst();
  if (!row || !mayActFor(props.caller.actor, row.customer_id) || row.billing_details === null) return null;
  return openBillingDetails({ keyring: deps.keyring, sessionId: props.sessionId, envelope: row.billing_details });
}
