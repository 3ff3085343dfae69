/**
 * A local test double of Braintree's server-to-server API, so the real `braintree` Node SDK can be
 * exercised without internet. It speaks what the SDK speaks: requests are JSON with underscored
 * keys (the SDK sends `Content-Type: application/json` even though it asks for XML back), and
 * responses are XML in Braintree's shapes (`<transaction>`, `<api-error-response>`,
 * `<search-results>`, `<credit-card-transactions type="collection">`), which the SDK parses with
 * xml2js. State is in memory and belongs to this process only: it is Braintree's side of the
 * wire, not Obol's storage.
 *
 * Behaviour follows Braintree's sandbox where it can:
 * - `fake-valid-nonce` (and the vault's tokens) approve; an amount of 2000.00–2999.99 is
 *   processor-declined with the amount's integer part as the processor response code (so 2099.00
 *   is 2099 "Cardholder Authentication Required"), and 3000.00–3000.99 fails with 3000 "Processor
 *   Network Unavailable – Try Again".
 * - `fake-processor-declined-visa-nonce` (and its -mastercard, -amex, -discover siblings) are
 *   declined by the processor with 2000 "Do Not Honor", in a sale and in a card verification.
 * - The vault: `customer.create` (an ID in use is refused with 91609), `paymentMethod.create` with
 *   `options.verifyCard` (a declined verification stores nothing and answers with the
 *   `<verification>`; a merchant-chosen token already in use is refused with 91719),
 *   `paymentMethod.find`, and sales by `paymentMethodToken` (an unknown token is 91518), which
 *   behave as the nonce the method was vaulted from. `options.storeInVaultOnSuccess` vaults the
 *   sale's nonce under the sale's `customerId` when it is approved. A fixture customer holds the
 *   token `token-visa`.
 * - `options.threeDSecure.required`: Braintree then refuses a sale whose nonce carries no 3-D
 *   Secure authentication. Here an approvable nonce stands for a card whose client-side 3DS2
 *   lookup came back frictionless (issuer answer `Y`, liability shifted): the sale goes on with
 *   `threeDSecureInfo.status` `authenticate_successful` and `lookup.transStatus` `Y`. Nonces that
 *   require 3-D Secure keep being rejected as below.
 * - `scaExemption` (`low_value`, `transaction_risk_analysis`) and `transactionSource` are
 *   validated (915213, 915133) and recorded; the exemption is echoed as `scaExemptionRequested`.
 * - Simulator-only nonces force an outcome whatever the amount, because Obol's conformance battery
 *   drives outcomes by payment method: `fake-processor-declined-<code>-nonce`,
 *   `fake-gateway-rejected-<reason>-nonce` (fraud, cvv, avs, duplicate, ...),
 *   `fake-three-d-secure-required-nonce`, `fake-three-d-secure-failed-nonce`, and
 *   `fake-timeout-nonce` (the sale executes, then the socket is destroyed without an answer).
 * - Submitting for settlement settles at once (like calling `testing.settle` in the sandbox), so a
 *   captured sale can be refunded straight away; a partial amount may be submitted once.
 * - A refund is a new `credit` transaction pointing at the sale, limited to what is left.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { currencyExponent, parseCurrency, type CurrencyCode } from '../../src/money/index.js';

export const SIMULATOR_MERCHANT_ID = 'obol_merchant';
export const SIMULATOR_PUBLIC_KEY = 'obol_public_key';
export const SIMULATOR_PRIVATE_KEY = 'obol_private_key';

export interface BraintreeSimulator {
  readonly port: number;
  close(): Promise<void>;
  /** The next write (sale, submit for settlement, void, refund) is executed, then its connection is destroyed without an answer; reads are answered. */
  dropNextResponse(): void;
  /** Every transaction the simulator holds (test inspection only). */
  transactions(): readonly SimTransaction[];
  /** Every vaulted payment method (test inspection only). */
  vaultedMethods(): readonly SimVaultedMethod[];
  /** Every request received, with its JSON body as the SDK sent it (underscored keys). */
  requests(): readonly SimRequest[];
}

export interface SimRequest {
  readonly method: string;
  readonly path: string;
  readonly body: Readonly<Record<string, unknown>>;
}

export interface SimVaultedMethod {
  readonly token: string;
  readonly customerId: string;
  /** The nonce the method was vaulted from: sales on the token behave as that nonce would. */
  readonly sourceNonce: string;
  readonly createdAt: string;
}

export interface SimTransaction {
  readonly id: string;
  readonly type: 'sale' | 'credit';
  status: 'authorized' | 'submitted_for_settlement' | 'settled' | 'voided' | 'processor_declined' | 'gateway_rejected' | 'failed';
  /** In minor units of `currency`. */
  amount: bigint;
  readonly currency: CurrencyCode;
  readonly merchantAccountId: string;
  orderId: string | null;
  readonly processorResponseCode: string;
  readonly processorResponseText: string;
  readonly processorResponseType: 'approved' | 'soft_declined' | 'hard_declined';
  readonly gatewayRejectionReason: string | null;
  readonly threeDSecureStatus: string | null;
  /** `threeDSecureInfo.lookup.transStatus`. */
  readonly threeDSecureLookupTransStatus: string | null;
  readonly scaExemptionRequested: string | null;
  /** As sent; Braintree does not echo it in the transaction. */
  readonly transactionSource: string | null;
  /** The vaulted token the sale used or stored. */
  readonly creditCardToken: string | null;
  readonly customerId: string | null;
  readonly refundIds: string[];
  readonly refundedTransactionId: string | null;
  readonly createdAt: string;
}

const PROCESSOR_TEXTS: Readonly<Record<number, string>> = {
  2000: 'Do Not Honor',
  2001: 'Insufficient Funds',
  2002: 'Limit Exceeded',
  2003: "Cardholder's Activity Limit Exceeded",
  2004: 'Expired Card',
  2005: 'Invalid Credit Card Number',
  2010: 'Card Issuer Declined CVV',
  2014: 'Processor Declined - Fraud Suspected',
  2015: 'Transaction Not Allowed',
  2038: 'Processor Declined',
  2044: 'Declined - Call Issuer',
  2046: 'Declined',
  2047: 'Call Issuer. Pick Up Card',
  2057: 'Issuer or Cardholder has put a restriction on the card',
  2099: 'Cardholder Authentication Required',
  3000: 'Processor Network Unavailable - Try Again',
};
const SOFT_CODES = new Set([2000, 2001, 2002, 2003, 2038, 2046, 2057, 2099, 3000]);
const SCA_EXEMPTIONS = new Set(['low_value', 'transaction_risk_analysis']);
const TRANSACTION_SOURCES = new Set(['recurring_first', 'recurring', 'unscheduled', 'moto', 'installment', 'installment_first']);
const BRAINTREE_ID = /^[A-Za-z0-9_-]+$/;

class HttpFailure extends Error {
  constructor(readonly status: number) {
    super(`http ${status}`);
  }
}

/** A Braintree validation error: HTTP 422 with an `<api-error-response>`, nested under the resource it is about. */
class ValidationFailure extends Error {
  constructor(
    readonly code: string,
    readonly attribute: string,
    message: string,
    readonly scope: 'transaction' | 'customer' | 'payment-method' | 'credit-card' = 'transaction',
  ) {
    super(message);
  }
}

/** What a test nonce (or the nonce a vaulted method came from) does at the processor. */
type NonceBehaviour =
  | { readonly kind: 'approve' }
  | { readonly kind: 'processor'; readonly code: number }
  | { readonly kind: 'reject'; readonly reason: string; readonly threeDs: string | null };

function nonceBehaviour(nonce: string): NonceBehaviour | null {
  if (nonce === 'fake-valid-nonce' || nonce === 'fake-timeout-nonce') return { kind: 'approve' };
  const forced = /^fake-processor-declined-(\d{4})-nonce$/.exec(nonce);
  if (forced) return { kind: 'processor', code: Number(forced[1]) };
  if (/^fake-processor-declined-(visa|mastercard|amex|discover)-nonce$/.test(nonce)) return { kind: 'processor', code: 2000 };
  const rejected = /^fake-gateway-rejected-([a-z_]+)-nonce$/.exec(nonce);
  if (rejected) return { kind: 'reject', reason: rejected[1] ?? 'fraud', threeDs: null };
  if (nonce === 'fake-three-d-secure-required-nonce') return { kind: 'reject', reason: 'three_d_secure', threeDs: 'challenge_required' };
  if (nonce === 'fake-three-d-secure-failed-nonce') return { kind: 'reject', reason: 'three_d_secure', threeDs: 'authenticate_failed' };
  return null;
}

// ---- XML ------------------------------------------------------------------------------------

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const el = (name: string, value: string | null, attrs = ''): string => (value === null ? `<${name} nil="true"/>` : `<${name}${attrs}>${esc(value)}</${name}>`);

function decimal(amount: bigint, currency: CurrencyCode): string {
  const exp = currencyExponent(currency);
  const digits = amount.toString().padStart(exp + 1, '0');
  return exp === 0 ? digits : `${digits.slice(0, -exp)}.${digits.slice(-exp)}`;
}

function transactionXml(t: SimTransaction): string {
  return [
    '<transaction>',
    el('id', t.id),
    el('status', t.status),
    el('type', t.type),
    el('currency-iso-code', t.currency),
    el('amount', decimal(t.amount, t.currency)),
    el('merchant-account-id', t.merchantAccountId),
    el('order-id', t.orderId),
    el('created-at', t.createdAt, ' type="datetime"'),
    el('updated-at', new Date().toISOString(), ' type="datetime"'),
    el('processor-response-code', t.processorResponseCode),
    el('processor-response-text', t.processorResponseText),
    el('processor-response-type', t.processorResponseType),
    el('gateway-rejection-reason', t.gatewayRejectionReason),
    `<refund-ids type="array">${t.refundIds.map((id) => el('item', id)).join('')}</refund-ids>`,
    el('refunded-transaction-id', t.refundedTransactionId),
    el('sca-exemption-requested', t.scaExemptionRequested),
    `<credit-card>${el('token', t.creditCardToken)}${el('bin', '411111')}${el('last-4', '1111')}${el('card-type', 'Visa')}${el('expiration-month', '12')}${el('expiration-year', '2030')}</credit-card>`,
    `<customer>${el('id', t.customerId)}</customer>`,
    t.threeDSecureStatus === null
      ? '<three-d-secure-info nil="true"/>'
      : `<three-d-secure-info>${el('status', t.threeDSecureStatus)}${el('liability-shifted', String(t.threeDSecureLookupTransStatus === 'Y'), ' type="boolean"')}${el('liability-shift-possible', String(t.threeDSecureLookupTransStatus === 'Y'), ' type="boolean"')}${
          t.threeDSecureLookupTransStatus === null ? '' : `<lookup>${el('trans-status', t.threeDSecureLookupTransStatus)}</lookup>`
        }</three-d-secure-info>`,
    '</transaction>',
  ].join('');
}

interface SimVerification {
  readonly id: string;
  readonly status: 'verified' | 'processor_declined' | 'gateway_rejected';
  readonly processorResponseCode: string;
  readonly processorResponseText: string;
  readonly processorResponseType: 'approved' | 'soft_declined' | 'hard_declined';
  readonly gatewayRejectionReason: string | null;
  readonly createdAt: string;
}

function verificationXml(v: SimVerification, token: string | null): string {
  return [
    '<verification>',
    el('id', v.id),
    el('status', v.status),
    el('processor-response-code', v.processorResponseCode),
    el('processor-response-text', v.processorResponseText),
    el('processor-response-type', v.processorResponseType),
    el('gateway-rejection-reason', v.gatewayRejectionReason),
    el('created-at', v.createdAt, ' type="datetime"'),
    `<credit-card>${el('token', token)}${el('bin', '411111')}${el('last-4', '1111')}</credit-card>`,
    '</verification>',
  ].join('');
}

function creditCardXml(m: SimVaultedMethod, verification: SimVerification | null): string {
  return [
    '<credit-card>',
    el('token', m.token),
    el('customer-id', m.customerId),
    el('bin', '411111'),
    el('last-4', '1111'),
    el('card-type', 'Visa'),
    el('expiration-month', '12'),
    el('expiration-year', '2030'),
    el('default', 'true', ' type="boolean"'),
    el('created-at', m.createdAt, ' type="datetime"'),
    el('updated-at', m.createdAt, ' type="datetime"'),
    `<verifications type="array">${verification ? verificationXml(verification, m.token) : ''}</verifications>`,
    '</credit-card>',
  ].join('');
}

function customerXml(id: string, createdAt: string): string {
  return `<customer>${el('id', id)}${el('merchant-id', SIMULATOR_MERCHANT_ID)}${el('first-name', null)}${el('last-name', null)}${el('created-at', createdAt, ' type="datetime"')}${el('updated-at', createdAt, ' type="datetime"')}<credit-cards type="array"/><addresses type="array"/></customer>`;
}

const XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n';

function errorXml(props: { readonly message: string; readonly validation?: ValidationFailure; readonly transaction?: SimTransaction; readonly verification?: SimVerification }): string {
  const v = props.validation;
  const scope = v?.scope ?? 'transaction';
  const errors = v
    ? `<errors><errors type="array"/><${scope}><errors type="array"><error>${el('code', v.code)}${el('attribute', v.attribute, ' type="symbol"')}${el('message', v.message)}</error></errors></${scope}></errors>`
    : '<errors><errors type="array"/></errors>';
  return `${XML_HEAD}<api-error-response>${errors}<params></params>${el('message', props.message)}${props.transaction ? transactionXml(props.transaction) : ''}${
    props.verification ? verificationXml(props.verification, null) : ''
  }</api-error-response>`;
}

// ---- requests -------------------------------------------------------------------------------

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {});
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

function parseAmount(value: unknown, currency: CurrencyCode): bigint {
  const s = str(value);
  const m = s === undefined ? null : /^(\d+)(?:\.(\d+))?$/.exec(s);
  if (!m) throw new ValidationFailure('81503', 'amount', 'Amount is an invalid format.');
  const exp = currencyExponent(currency);
  const fraction = m[2] ?? '';
  if (fraction.length > exp && /[^0]/.test(fraction.slice(exp))) throw new ValidationFailure('81503', 'amount', 'Amount is an invalid format.');
  const minor = BigInt(`${m[1]}${fraction.slice(0, exp).padEnd(exp, '0')}`);
  if (minor <= 0n) throw new ValidationFailure('81531', 'amount', 'Amount must be greater than zero.');
  return minor;
}

/** Merchant accounts are named `<anything>_<currency>` (e.g. `obol_jpy`); none given means the USD default. */
function currencyOfMerchantAccount(id: string | undefined): CurrencyCode {
  const code = id === undefined ? 'USD' : /_([a-z]{3})$/i.exec(id)?.[1]?.toUpperCase();
  const currency = code === undefined ? undefined : parseCurrency(code);
  if (currency === undefined) throw new ValidationFailure('91513', 'merchant_account_id', 'Merchant account ID is invalid.');
  return currency;
}

function matchesText(value: string | null, criteria: Json): boolean {
  if (value === null) return false;
  const is = str(criteria.is);
  const startsWith = str(criteria.starts_with);
  const endsWith = str(criteria.ends_with);
  const contains = str(criteria.contains);
  return (is === undefined || value === is) && (startsWith === undefined || value.startsWith(startsWith)) && (endsWith === undefined || value.endsWith(endsWith)) && (contains === undefined || value.includes(contains));
}

export async function startBraintreeSimulator(): Promise<BraintreeSimulator> {
  const store = new Map<string, SimTransaction>();
  let dropNext = false;
  const expectedAuth = `Basic ${Buffer.from(`${SIMULATOR_PUBLIC_KEY}:${SIMULATOR_PRIVATE_KEY}`).toString('base64')}`;
  const newId = (): string => randomBytes(4).toString('hex');

  const find = (id: string): SimTransaction => {
    const t = store.get(id);
    if (!t) throw new HttpFailure(404);
    return t;
  };

  const customers = new Map<string, string>([['obol_fixture', new Date().toISOString()]]);
  const vault = new Map<string, SimVaultedMethod>([['token-visa', { token: 'token-visa', customerId: 'obol_fixture', sourceNonce: 'fake-valid-nonce', createdAt: new Date().toISOString() }]]);
  const log: SimRequest[] = [];

  function sale(body: Json): { status: number; xml: string; drop: boolean } {
    const tx = obj(body.transaction);
    const options = obj(tx.options);
    const currency = currencyOfMerchantAccount(str(tx.merchant_account_id));
    const amount = parseAmount(tx.amount, currency);
    const nonce = str(tx.payment_method_nonce);
    const token = str(tx.payment_method_token);
    if (nonce === undefined && token === undefined) throw new ValidationFailure('91508', 'base', 'Cannot determine payment method.');
    const vaulted = token === undefined ? undefined : vault.get(token);
    if (token !== undefined && vaulted === undefined) throw new ValidationFailure('91518', 'payment_method_token', 'Payment method token is invalid.');
    const behaviour = nonceBehaviour(nonce ?? vaulted?.sourceNonce ?? '');
    if (behaviour === null) throw new ValidationFailure('91565', 'payment_method_nonce', 'Unknown or expired payment_method_nonce.');
    const customerId = str(tx.customer_id) ?? vaulted?.customerId ?? null;
    if (customerId !== null && !customers.has(customerId)) throw new ValidationFailure('91510', 'customer_id', 'Customer ID is invalid.');
    const orderId = str(tx.order_id) ?? null;
    if (orderId !== null && orderId.length > 255) throw new ValidationFailure('81733', 'order_id', 'Order ID is too long.');
    const scaExemption = str(tx.sca_exemption) ?? null;
    if (scaExemption !== null && !SCA_EXEMPTIONS.has(scaExemption)) throw new ValidationFailure('915213', 'sca_exemption', 'SCA exemption is invalid.');
    const transactionSource = str(tx.transaction_source) ?? null;
    if (transactionSource !== null && !TRANSACTION_SOURCES.has(transactionSource)) throw new ValidationFailure('915133', 'transaction_source', 'Transaction source is invalid.');
    const submit = options.submit_for_settlement === true;
    const threeDSecureRequired = obj(options.three_d_secure).required === true;

    let code = 1000;
    let rejection: string | null = null;
    let threeDs: string | null = null;
    let lookup: string | null = null;
    const whole = Number(amount / 10n ** BigInt(currencyExponent(currency)));
    if (behaviour.kind === 'processor') code = behaviour.code;
    else if (behaviour.kind === 'reject') [rejection, threeDs] = [behaviour.reason, behaviour.threeDs];
    else if (whole >= 2000 && whole <= 3000) code = whole;
    // See the header: required 3-D Secure on an approvable nonce is a frictionless 3DS2 authentication.
    if (threeDSecureRequired && rejection === null) [threeDs, lookup] = ['authenticate_successful', 'Y'];

    const approved = code < 2000 && rejection === null;
    let creditCardToken = token ?? null;
    let owner = customerId;
    if (approved && token === undefined && nonce !== undefined && options.store_in_vault_on_success === true) {
      // Without a customerId Braintree creates a customer to hold the new payment method.
      if (owner === null) {
        owner = `c${newId()}`;
        customers.set(owner, new Date().toISOString());
      }
      creditCardToken = `v${newId()}`;
      vault.set(creditCardToken, { token: creditCardToken, customerId: owner, sourceNonce: nonce, createdAt: new Date().toISOString() });
    }
    const t: SimTransaction = {
      id: newId(),
      type: 'sale',
      status: rejection !== null ? 'gateway_rejected' : code === 3000 ? 'failed' : approved ? (submit ? 'settled' : 'authorized') : 'processor_declined',
      amount,
      currency,
      merchantAccountId: str(tx.merchant_account_id) ?? `${SIMULATOR_MERCHANT_ID}_usd`,
      orderId,
      processorResponseCode: rejection !== null ? '' : String(code),
      processorResponseText: rejection !== null ? 'Unknown ()' : approved ? 'Approved' : (PROCESSOR_TEXTS[code] ?? 'Processor Declined'),
      processorResponseType: approved || rejection !== null ? 'approved' : SOFT_CODES.has(code) ? 'soft_declined' : 'hard_declined',
      gatewayRejectionReason: rejection,
      threeDSecureStatus: threeDs,
      threeDSecureLookupTransStatus: lookup,
      scaExemptionRequested: scaExemption,
      transactionSource,
      creditCardToken,
      customerId: owner,
      refundIds: [],
      refundedTransactionId: null,
      createdAt: new Date().toISOString(),
    };
    store.set(t.id, t);
    const drop = nonce === 'fake-timeout-nonce';
    if (approved) return { status: 201, xml: XML_HEAD + transactionXml(t), drop };
    const message = rejection !== null ? `Gateway Rejected: ${rejection}` : t.processorResponseText;
    return { status: 422, xml: errorXml({ message, transaction: t }), drop };
  }

  function createCustomer(body: Json): { status: number; xml: string } {
    const c = obj(body.customer);
    const id = str(c.id) ?? `c${newId()}`;
    if (id.length > 36) throw new ValidationFailure('91612', 'id', 'Customer ID is too long.', 'customer');
    if (!BRAINTREE_ID.test(id)) throw new ValidationFailure('91610', 'id', 'Customer ID is invalid.', 'customer');
    if (customers.has(id)) throw new ValidationFailure('91609', 'id', 'Customer ID has already been taken.', 'customer');
    const createdAt = new Date().toISOString();
    customers.set(id, createdAt);
    return { status: 201, xml: XML_HEAD + customerXml(id, createdAt) };
  }

  /** Verification as Braintree runs it for `verifyCard`: the processor's answer to a zero- or low-amount authorization. */
  function verify(behaviour: NonceBehaviour): SimVerification {
    const base = { id: newId(), createdAt: new Date().toISOString() };
    switch (behaviour.kind) {
      case 'approve':
        return { ...base, status: 'verified', processorResponseCode: '1000', processorResponseText: 'Approved', processorResponseType: 'approved', gatewayRejectionReason: null };
      case 'processor':
        return {
          ...base,
          status: 'processor_declined',
          processorResponseCode: String(behaviour.code),
          processorResponseText: PROCESSOR_TEXTS[behaviour.code] ?? 'Processor Declined',
          processorResponseType: SOFT_CODES.has(behaviour.code) ? 'soft_declined' : 'hard_declined',
          gatewayRejectionReason: null,
        };
      case 'reject':
        return { ...base, status: 'gateway_rejected', processorResponseCode: '', processorResponseText: 'Unknown ()', processorResponseType: 'approved', gatewayRejectionReason: behaviour.reason };
      default: {
        const unreachable: never = behaviour;
        throw new Error(`unknown behaviour ${JSON.stringify(unreachable)}`);
      }
    }
  }

  function createPaymentMethod(body: Json): { status: number; xml: string; drop: boolean } {
    const pm = obj(body.payment_method);
    const customerId = str(pm.customer_id);
    if (customerId === undefined) throw new ValidationFailure('93104', 'customer_id', 'Customer ID is required.', 'payment-method');
    if (!customers.has(customerId)) throw new ValidationFailure('93105', 'customer_id', 'Customer ID is invalid.', 'payment-method');
    const nonce = str(pm.payment_method_nonce);
    if (nonce === undefined) throw new ValidationFailure('93103', 'payment_method_nonce', 'A payment method nonce must be provided.', 'payment-method');
    const behaviour = nonceBehaviour(nonce);
    if (behaviour === null) throw new ValidationFailure('93108', 'payment_method_nonce', 'Unknown payment_method_nonce.', 'payment-method');
    const token = str(pm.token) ?? `v${newId()}`;
    if (token.length > 36) throw new ValidationFailure('91720', 'token', 'Credit card token is too long.', 'credit-card');
    if (!BRAINTREE_ID.test(token)) throw new ValidationFailure('91718', 'token', 'Token is invalid.', 'credit-card');
    if (vault.has(token)) throw new ValidationFailure('91719', 'token', 'Credit card token is taken.', 'credit-card');
    const drop = nonce === 'fake-timeout-nonce';
    const verification = obj(pm.options).verify_card === true ? verify(behaviour) : null;
    if (verification !== null && verification.status !== 'verified') {
      const message = verification.status === 'gateway_rejected' ? `Gateway Rejected: ${verification.gatewayRejectionReason ?? ''}` : verification.processorResponseText;
      return { status: 422, xml: errorXml({ message, verification }), drop };
    }
    const method: SimVaultedMethod = { token, customerId, sourceNonce: nonce, createdAt: new Date().toISOString() };
    vault.set(token, method);
    return { status: 201, xml: XML_HEAD + creditCardXml(method, verification), drop };
  }

  function submitForSettlement(id: string, body: Json): SimTransaction {
    const t = find(id);
    const tx = obj(body.transaction);
    if (t.status !== 'authorized') throw new ValidationFailure('91507', 'base', 'Cannot submit for settlement unless status is authorized.');
    const amount = tx.amount === undefined || tx.amount === null ? t.amount : parseAmount(tx.amount, t.currency);
    if (amount > t.amount) throw new ValidationFailure('91522', 'amount', 'Settlement amount is too large.');
    const orderId = str(tx.order_id);
    t.amount = amount;
    if (orderId !== undefined) t.orderId = orderId;
    t.status = 'settled';
    return t;
  }

  function voidTransaction(id: string): SimTransaction {
    const t = find(id);
    if (t.status !== 'authorized' && t.status !== 'submitted_for_settlement') throw new ValidationFailure('91504', 'base', 'Transaction can only be voided if status is authorized, submitted_for_settlement, or - for PayPal - settlement_pending.');
    t.status = 'voided';
    return t;
  }

  function refund(id: string, body: Json): SimTransaction {
    const t = find(id);
    const tx = obj(body.transaction);
    if (t.type !== 'sale') throw new ValidationFailure('91505', 'base', 'Cannot refund credit');
    if (t.status !== 'settled') throw new ValidationFailure('91506', 'base', 'Cannot refund transaction unless it is settled.');
    const refunded = t.refundIds.reduce((a, rid) => a + (store.get(rid)?.amount ?? 0n), 0n);
    const amount = tx.amount === undefined || tx.amount === null ? t.amount - refunded : parseAmount(tx.amount, t.currency);
    if (amount <= 0n || refunded + amount > t.amount) throw new ValidationFailure('91521', 'amount', 'Refund amount is too large.');
    const credit: SimTransaction = {
      ...t,
      id: newId(),
      type: 'credit',
      status: 'submitted_for_settlement',
      amount,
      orderId: str(tx.order_id) ?? null,
      processorResponseCode: '1002',
      processorResponseText: 'Processed',
      processorResponseType: 'approved',
      gatewayRejectionReason: null,
      threeDSecureStatus: null,
      threeDSecureLookupTransStatus: null,
      scaExemptionRequested: null,
      transactionSource: null,
      refundIds: [],
      refundedTransactionId: t.id,
      createdAt: new Date().toISOString(),
    };
    store.set(credit.id, credit);
    t.refundIds.push(credit.id);
    return credit;
  }

  function search(body: Json): SimTransaction[] {
    const criteria = obj(body.search);
    const ids = Array.isArray(criteria.ids) ? criteria.ids.filter((x): x is string => typeof x === 'string') : undefined;
    return [...store.values()].filter((t) => {
      if (ids && !ids.includes(t.id)) return false;
      if (criteria.order_id !== undefined && !matchesText(t.orderId, obj(criteria.order_id))) return false;
      if (criteria.id !== undefined && !matchesText(t.id, obj(criteria.id))) return false;
      return true;
    });
  }

  function route(method: string, path: string, body: Json): { status: number; xml: string; drop?: boolean } {
    const merchant = `/merchants/${SIMULATOR_MERCHANT_ID}`;
    if (method === 'POST' && path === `${merchant}/customers`) return createCustomer(body);
    if (method === 'POST' && path === `${merchant}/payment_methods`) return createPaymentMethod(body);
    const vaultPath = `${merchant}/payment_methods/any/`;
    if (method === 'GET' && path.startsWith(vaultPath)) {
      const found = vault.get(decodeURIComponent(path.slice(vaultPath.length)));
      if (!found) throw new HttpFailure(404);
      return { status: 200, xml: XML_HEAD + creditCardXml(found, null) };
    }
    const prefix = `${merchant}/transactions`;
    if (!path.startsWith(prefix)) throw new HttpFailure(404);
    const rest = path.slice(prefix.length);
    const ok = (t: SimTransaction, status = 200) => ({ status, xml: XML_HEAD + transactionXml(t) });
    if (method === 'POST' && rest === '') return sale(body);
    if (method === 'POST' && rest === '/advanced_search_ids') {
      const found = search(body);
      return { status: 200, xml: `${XML_HEAD}<search-results><page-size type="integer">50</page-size><ids type="array">${found.map((t) => el('item', t.id)).join('')}</ids></search-results>` };
    }
    if (method === 'POST' && rest === '/advanced_search') {
      const found = search(body);
      return {
        status: 200,
        xml: `${XML_HEAD}<credit-card-transactions type="collection"><current-page-number type="integer">1</current-page-number><page-size type="integer">50</page-size><total-items type="integer">${found.length}</total-items>${found.map(transactionXml).join('')}</credit-card-transactions>`,
      };
    }
    const m = /^\/([a-z0-9]+)(?:\/(submit_for_settlement|void|refund))?$/.exec(rest);
    if (!m?.[1]) throw new HttpFailure(404);
    const id = m[1];
    if (method === 'GET' && m[2] === undefined) return ok(find(id));
    if (method === 'PUT' && m[2] === 'submit_for_settlement') return ok(submitForSettlement(id, body));
    if (method === 'PUT' && m[2] === 'void') return ok(voidTransaction(id));
    if (method === 'POST' && m[2] === 'refund') return ok(refund(id, body), 201);
    throw new HttpFailure(404);
  }

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const send = (status: number, xml: string, drop: boolean): void => {
        // Dropping after the work is done is the case that matters: the gateway acted, Obol never heard.
        if (drop) {
          req.socket.destroy();
          return;
        }
        res.writeHead(status, { 'Content-Type': 'application/xml; charset=utf-8' });
        res.end(xml);
      };
      if (req.headers.authorization !== expectedAuth) return send(401, '', false);
      let body: Json = {};
      try {
        const text = Buffer.concat(chunks).toString('utf8');
        body = text.length > 0 ? obj(JSON.parse(text)) : {};
      } catch {
        return send(400, '', false);
      }
      // Searches are POSTs too, but they change nothing: a lost search answer proves nothing about idempotency.
      const isWrite = req.method === 'PUT' || (req.method === 'POST' && !(req.url ?? '').includes('/advanced_search'));
      const dropThis = dropNext && isWrite;
      if (dropThis) dropNext = false;
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      log.push({ method: req.method ?? 'GET', path, body });
      try {
        const out = route(req.method ?? 'GET', path, body);
        send(out.status, out.xml, dropThis || out.drop === true);
      } catch (err) {
        if (err instanceof HttpFailure) return send(err.status, '', dropThis);
        if (err instanceof ValidationFailure) return send(422, errorXml({ message: err.message, validation: err }), dropThis);
        send(500, '', dropThis);
      }
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    dropNextResponse: () => {
      dropNext = true;
    },
    transactions: () => [...store.values()],
    vaultedMethods: () => [...vault.values()],
    requests: () => [...log],
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
