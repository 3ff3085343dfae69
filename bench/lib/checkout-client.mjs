// @ts-check
/** One checkout as a learner's app makes it: the two GraphQL mutations of the README quickstart. */
import { randomUUID } from 'node:crypto';

export const PRICE_ID = 'price_ml_certificate_usd';
export const PAYMENT_TOKEN = 'tok_visa';

const CREATE = JSON.stringify(
  'mutation($input: CreateCheckoutSessionInput!) { createCheckoutSession(input: $input) { checkoutSession { id status total { amount currency } } } }',
);
const CONFIRM = JSON.stringify(
  'mutation($input: ConfirmCheckoutSessionInput!) { confirmCheckoutSession(input: $input) { checkoutSession { status orderId } payment { id status } } }',
);

/**
 * @typedef {{ request(path: string, body: string | undefined, headers?: Record<string, string>): Promise<{ status: number, body: string }> }} GraphQLTransport
 */

/**
 * Creates and confirms one session; resolves with the payment id once it has succeeded, and
 * throws on anything else, so an error is never counted as a checkout.
 * @param {GraphQLTransport} transport
 * @param {string} token
 * @param {(name: string, ms: number) => void} [phase]
 */
export async function checkout(transport, token, phase) {
  const headers = { authorization: `Bearer ${token}` };
  let t = performance.now();
  const created = parse(
    await transport.request(
      '/graphql',
      `{"query":${CREATE},"variables":{"input":{"country":"US","items":[{"priceId":"${PRICE_ID}","quantity":1}],"idempotencyKey":"bench-create-${randomUUID()}"}}}`,
      headers,
    ),
  );
  const sessionId = created.data?.createCheckoutSession?.checkoutSession?.id;
  if (typeof sessionId !== 'string') throw new Error(`createCheckoutSession: ${describe(created)}`);
  phase?.('create', performance.now() - t);
  t = performance.now();
  const confirmed = parse(
    await transport.request(
      '/graphql',
      `{"query":${CONFIRM},"variables":{"input":{"sessionId":"${sessionId}","paymentMethodToken":"${PAYMENT_TOKEN}","idempotencyKey":"bench-confirm-${randomUUID()}"}}}`,
      headers,
    ),
  );
  const payment = confirmed.data?.confirmCheckoutSession?.payment;
  if (payment?.status !== 'succeeded') throw new Error(`confirmCheckoutSession: ${describe(confirmed)}`);
  phase?.('confirm', performance.now() - t);
  return /** @type {string} */ (payment.id);
}

/** @param {{ status: number, body: string }} res */
function parse(res) {
  try {
    return { status: res.status, ...JSON.parse(res.body) };
  } catch {
    return { status: res.status, errors: [{ message: res.body.slice(0, 200) }] };
  }
}

/** @param {any} result */
function describe(result) {
  return `HTTP ${result.status} ${JSON.stringify(result.errors ?? result.data).slice(0, 300)}`;
}
