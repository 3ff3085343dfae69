/**
 * Checkout's abuse limits (the CheckoutLimits port) on the shared, database-backed counters, so
 * every Obol process behind the load balancer enforces the same limits.
 */
import type { CheckoutLimits } from '../../checkout/index.js';
import type { Clock } from '../../kernel/index.js';
import type { Config } from '../config.js';
import type { Db } from '../db/index.js';
import { assertNotBlocked, consumeRateLimit, recordFailedPayment, subjectsFor } from './index.js';

const MINUTE_MS = 60_000;

export function checkoutLimits(args: { readonly db: Db; readonly clock: Clock; readonly config: Config }): CheckoutLimits {
  const { db, clock, config } = args;
  return {
    async beforeCheckoutMutation({ caller, customerId }) {
      const now = clock.now();
      await consumeRateLimit(db, { bucket: `checkout:customer:${customerId}`, limit: config.rateLimitCheckoutPerCustomerPerMinute, windowMs: MINUTE_MS, now });
      if (caller.ip !== null) {
        await consumeRateLimit(db, { bucket: `checkout:ip:${subjectsFor({ customerId: null, ip: caller.ip })[0] ?? caller.ip}`, limit: config.rateLimitCheckoutPerIpPerMinute, windowMs: MINUTE_MS, now });
      }
    },
    async beforeConfirm({ caller, customerId }) {
      await assertNotBlocked(db, { subjects: subjectsFor({ customerId, ip: caller.ip }), now: clock.now() });
    },
    async afterDeclined({ caller, customerId }) {
      await recordFailedPayment(db, {
        subjects: subjectsFor({ customerId, ip: caller.ip }),
        maxFailures: config.cardTestingMaxFailures,
        windowMs: config.cardTestingWindowSeconds * 1000,
        blockMs: config.cardTestingBlockSeconds * 1000,
        now: clock.now(),
      });
    },
  };
}
