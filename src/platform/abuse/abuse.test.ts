import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, describeEachDatabase, type TestDatabase } from '../../../test/support/databases.js';
import { isObolError } from '../../kernel/index.js';
import { assertNotBlocked, consumeRateLimit, purgeAbuseState, recordFailedPayment, subjectsFor, UNPARSEABLE_IP_SUBJECT } from './index.js';

/** A minute boundary, so 60 s windows start here. */
const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);
const MINUTE = 60_000;

/** The ObolError a promise rejects with, or undefined when it resolves. */
async function refusal(p: Promise<unknown>): Promise<{ code: string; retryAfterSeconds: unknown } | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    if (!isObolError(err)) throw err;
    return { code: err.code, retryAfterSeconds: err.details?.retryAfterSeconds };
  }
}

describe('abuse subjects', () => {
  it('name the customer and the IP, skipping what is unknown', () => {
    expect(subjectsFor({ customerId: 'cus_1', ip: '203.0.113.7' })).toEqual(['customer:cus_1', 'ip:203.0.113.7']);
    expect(subjectsFor({ customerId: null, ip: '203.0.113.7' })).toEqual(['ip:203.0.113.7']);
    expect(subjectsFor({ customerId: 'cus_1', ip: null })).toEqual(['customer:cus_1']);
    expect(subjectsFor({ customerId: '', ip: ' ' })).toEqual([]);
  });

  it('treat IPv4-mapped IPv6 as the IPv4 address', () => {
    for (const mapped of ['::ffff:1.2.3.4', '::FFFF:1.2.3.4', '0:0:0:0:0:ffff:1.2.3.4', '::ffff:0102:0304', '[::ffff:1.2.3.4]:443']) {
      expect(subjectsFor({ customerId: null, ip: mapped })).toEqual(['ip:1.2.3.4']);
    }
  });

  it('group IPv6 addresses by /64, whatever their spelling', () => {
    const a = subjectsFor({ customerId: null, ip: '2001:db8:0:1::1' });
    expect(a).toEqual(['ip:2001:db8:0:1::/64']);
    for (const same of ['2001:0DB8:0000:0001:ffff:ffff:ffff:ffff', '[2001:db8:0:1:a:b:c:d]', '2001:db8::1:0:0:0:2', '2001:db8:0:1::9%eth0']) {
      expect(subjectsFor({ customerId: null, ip: same })).toEqual(a);
    }
    expect(subjectsFor({ customerId: null, ip: '2001:db8:0:2::1' })).not.toEqual(a);
    expect(subjectsFor({ customerId: null, ip: '::1' })).toEqual(['ip:0:0:0:0::/64']);
  });

  it('put every unparseable address in one subject, so garbage cannot be rotated', () => {
    for (const junk of ['not-an-ip', '1.2.3', '999.1.1.1', '01.2.3.4', '2001:db8::1::2', 'gggg::1']) {
      expect(subjectsFor({ customerId: null, ip: junk })).toEqual([UNPARSEABLE_IP_SUBJECT]);
    }
  });
});

describeEachDatabase('abuse limits', (dialect) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase(dialect);
  });
  afterAll(async () => {
    await t?.drop();
  });

  describe('rate limits', () => {
    it('let `limit` requests through in a window, refuse the rest, and reset in the next window', async () => {
      const bucket = 'test:window';
      for (let i = 0; i < 3; i++) await consumeRateLimit(t.db, { bucket, limit: 3, windowMs: MINUTE, now: T0 + i * 1000 });
      expect(await refusal(consumeRateLimit(t.db, { bucket, limit: 3, windowMs: MINUTE, now: T0 + 5000 }))).toMatchObject({ code: 'RATE_LIMITED' });
      expect(await refusal(consumeRateLimit(t.db, { bucket, limit: 3, windowMs: MINUTE, now: T0 + MINUTE - 1 }))).toMatchObject({ code: 'RATE_LIMITED' });
      // another bucket is unaffected
      await consumeRateLimit(t.db, { bucket: 'test:window-other', limit: 3, windowMs: MINUTE, now: T0 + 5000 });
      // the next window starts from zero
      for (let i = 0; i < 3; i++) await consumeRateLimit(t.db, { bucket, limit: 3, windowMs: MINUTE, now: T0 + MINUTE + i });
      expect(await refusal(consumeRateLimit(t.db, { bucket, limit: 3, windowMs: MINUTE, now: T0 + MINUTE + 10 }))).toMatchObject({ code: 'RATE_LIMITED' });
    });

    it('let exactly `limit` of 50 concurrent requests through', async () => {
      const bucket = 'test:concurrent';
      const results = await Promise.all(Array.from({ length: 50 }, () => refusal(consumeRateLimit(t.db, { bucket, limit: 20, windowMs: MINUTE, now: T0 + 1 }))));
      expect(results.filter((r) => r === undefined)).toHaveLength(20);
      expect(results.filter((r) => r?.code === 'RATE_LIMITED')).toHaveLength(30);
    });

    it('say how many seconds remain in the window, rounded up', async () => {
      const bucket = 'test:retry';
      await consumeRateLimit(t.db, { bucket, limit: 1, windowMs: MINUTE, now: T0 + 100 });
      const first = await refusal(consumeRateLimit(t.db, { bucket, limit: 1, windowMs: MINUTE, now: T0 + 100 }));
      expect(first).toEqual({ code: 'RATE_LIMITED', retryAfterSeconds: 60 }); // 59.9 s → 60
      const later = await refusal(consumeRateLimit(t.db, { bucket, limit: 1, windowMs: MINUTE, now: T0 + 45_000 }));
      expect(later).toEqual({ code: 'RATE_LIMITED', retryAfterSeconds: 15 });
      const last = await refusal(consumeRateLimit(t.db, { bucket, limit: 1, windowMs: MINUTE, now: T0 + MINUTE - 1 }));
      expect(last).toEqual({ code: 'RATE_LIMITED', retryAfterSeconds: 1 });
    });

    it('stop counting refused requests at limit + 1', async () => {
      const bucket = 'test:cap';
      for (let i = 0; i < 10; i++) await refusal(consumeRateLimit(t.db, { bucket, limit: 2, windowMs: MINUTE, now: T0 }));
      const row = await t.db.kysely.selectFrom('abuse_rate_counters').select('hits').where('bucket', '=', bucket).executeTakeFirstOrThrow();
      expect(Number(row.hits)).toBe(3);
    });

    it('refuse malformed arguments as bugs, writing nothing', async () => {
      await expect(consumeRateLimit(t.db, { bucket: '', limit: 1, windowMs: MINUTE, now: T0 })).rejects.toThrow(/bucket/);
      await expect(consumeRateLimit(t.db, { bucket: 'x'.repeat(192), limit: 1, windowMs: MINUTE, now: T0 })).rejects.toThrow(/bucket/);
      await expect(consumeRateLimit(t.db, { bucket: 'test:bad', limit: 0, windowMs: MINUTE, now: T0 })).rejects.toThrow(/limit/);
      await expect(consumeRateLimit(t.db, { bucket: 'test:bad', limit: 1, windowMs: 0, now: T0 })).rejects.toThrow(/window/);
      const rows = await t.db.kysely.selectFrom('abuse_rate_counters').select('bucket').where('bucket', '=', 'test:bad').execute();
      expect(rows).toEqual([]);
    });
  });

  describe('card-testing defence', () => {
    const policy = { maxFailures: 3, windowMs: 10 * MINUTE, blockMs: 30 * MINUTE } as const;

    it('do not block below the threshold', async () => {
      const subjects = subjectsFor({ customerId: 'cus_below', ip: '198.51.100.1' });
      for (let i = 0; i < 2; i++) expect(await recordFailedPayment(t.db, { ...policy, subjects, now: T0 + i })).toEqual({ blocked: [] });
      await assertNotBlocked(t.db, { subjects, now: T0 + 10 });
    });

    it('block both the customer and the IP for blockMs once the threshold is reached, then let them go', async () => {
      const subjects = subjectsFor({ customerId: 'cus_tester', ip: '198.51.100.2' });
      await recordFailedPayment(t.db, { ...policy, subjects, now: T0 });
      await recordFailedPayment(t.db, { ...policy, subjects, now: T0 + 1000 });
      const third = await recordFailedPayment(t.db, { ...policy, subjects, now: T0 + 2000 });
      expect([...third.blocked].sort()).toEqual(['customer:cus_tester', 'ip:198.51.100.2']);

      // each subject alone is blocked: the same customer elsewhere, anyone on the same IP
      for (const alone of [['customer:cus_tester'], ['ip:198.51.100.2'], subjectsFor({ customerId: 'cus_tester', ip: '192.0.2.99' }), subjectsFor({ customerId: 'cus_bystander', ip: '198.51.100.2' })]) {
        expect(await refusal(assertNotBlocked(t.db, { subjects: alone, now: T0 + 2000 }))).toEqual({ code: 'CARD_TESTING_BLOCKED', retryAfterSeconds: 1800 });
      }
      expect(await refusal(assertNotBlocked(t.db, { subjects, now: T0 + 2000 + 30 * MINUTE - 500 }))).toEqual({ code: 'CARD_TESTING_BLOCKED', retryAfterSeconds: 1 });
      // the block expires, and the failures that earned it do not immediately earn another
      await assertNotBlocked(t.db, { subjects, now: T0 + 2000 + 30 * MINUTE });
      expect(await recordFailedPayment(t.db, { ...policy, subjects, now: T0 + 2000 + 30 * MINUTE })).toEqual({ blocked: [] });
    });

    it('do not reveal which subject is blocked', async () => {
      await recordFailedPayment(t.db, { ...policy, maxFailures: 1, subjects: ['ip:192.0.2.200'], now: T0 });
      let caught: unknown;
      try {
        await assertNotBlocked(t.db, { subjects: ['customer:cus_innocent', 'ip:192.0.2.200'], now: T0 });
      } catch (err) {
        caught = err;
      }
      expect(isObolError(caught)).toBe(true);
      expect(String((caught as Error).message)).toBe('Too many failed payment attempts; try again later.');
      expect(JSON.stringify(caught)).not.toContain('192.0.2.200');
      expect((caught as { details: unknown }).details).toEqual({ retryAfterSeconds: 1800 });
    });

    it('count only failures within the window', async () => {
      const subjects = subjectsFor({ customerId: 'cus_slow', ip: '198.51.100.3' });
      await recordFailedPayment(t.db, { ...policy, subjects, now: T0 });
      await recordFailedPayment(t.db, { ...policy, subjects, now: T0 + 5 * MINUTE });
      // the first failure is exactly one window old: it no longer counts
      expect(await recordFailedPayment(t.db, { ...policy, subjects, now: T0 + 10 * MINUTE })).toEqual({ blocked: [] });
      await assertNotBlocked(t.db, { subjects, now: T0 + 10 * MINUTE });
      // the second and third are within the window of a fourth
      expect((await recordFailedPayment(t.db, { ...policy, subjects, now: T0 + 14 * MINUTE })).blocked).toHaveLength(2);
    });

    it("keep one customer's block from reaching another customer on a different IP", async () => {
      const tester = subjectsFor({ customerId: 'cus_a', ip: '203.0.113.10' });
      for (let i = 0; i < 3; i++) await recordFailedPayment(t.db, { ...policy, subjects: tester, now: T0 + i });
      expect((await refusal(assertNotBlocked(t.db, { subjects: tester, now: T0 + 10 })))?.code).toBe('CARD_TESTING_BLOCKED');
      await assertNotBlocked(t.db, { subjects: subjectsFor({ customerId: 'cus_b', ip: '203.0.113.11' }), now: T0 + 10 });
    });

    it('block a whole IPv6 /64 when a tester rotates addresses inside it', async () => {
      const addresses = ['2001:db8:aa:1::1', '2001:db8:aa:1::2', '2001:db8:aa:1:ffff::3'];
      let last: readonly string[] = [];
      for (const [i, ip] of addresses.entries()) {
        last = (await recordFailedPayment(t.db, { ...policy, subjects: subjectsFor({ customerId: `cus_v6_${i}`, ip }), now: T0 + i })).blocked;
      }
      expect(last).toEqual(['ip:2001:db8:aa:1::/64']);
      expect((await refusal(assertNotBlocked(t.db, { subjects: subjectsFor({ customerId: 'cus_new', ip: '2001:db8:aa:1:1234::99' }), now: T0 + 10 })))?.code).toBe('CARD_TESTING_BLOCKED');
      await assertNotBlocked(t.db, { subjects: subjectsFor({ customerId: 'cus_new', ip: '2001:db8:aa:2::1' }), now: T0 + 10 });
    });

    it('block when concurrent failures reach the threshold together', async () => {
      const subjects = ['customer:cus_burst'];
      const results = await Promise.all(Array.from({ length: 6 }, () => recordFailedPayment(t.db, { ...policy, subjects, now: T0 })));
      expect(results.some((r) => r.blocked.length === 1)).toBe(true);
      expect((await refusal(assertNotBlocked(t.db, { subjects, now: T0 })))?.code).toBe('CARD_TESTING_BLOCKED');
    });

    it('extend a block but never shorten it', async () => {
      const subjects = ['customer:cus_extend'];
      await recordFailedPayment(t.db, { ...policy, maxFailures: 1, subjects, now: T0 });
      await recordFailedPayment(t.db, { ...policy, maxFailures: 1, blockMs: MINUTE, subjects, now: T0 + 1000 });
      expect(await refusal(assertNotBlocked(t.db, { subjects, now: T0 + 1000 }))).toMatchObject({ retryAfterSeconds: 1799 });
      await recordFailedPayment(t.db, { ...policy, maxFailures: 1, subjects, now: T0 + 10 * MINUTE });
      expect(await refusal(assertNotBlocked(t.db, { subjects, now: T0 + 10 * MINUTE }))).toMatchObject({ retryAfterSeconds: 1800 });
    });
  });

  describe('purge', () => {
    it('removes expired windows, failures and blocks, and nothing still in force, in bounded batches', async () => {
      const p = await createTestDatabase(dialect);
      try {
        const db = p.db;
        const now = T0 + 60 * MINUTE;
        // rate windows: one ended exactly at `now`, one still open
        await consumeRateLimit(db, { bucket: 'p:old', limit: 5, windowMs: MINUTE, now: now - MINUTE });
        await consumeRateLimit(db, { bucket: 'p:new', limit: 5, windowMs: MINUTE, now });
        // failures: one out of its window, one inside
        const window = { maxFailures: 100, windowMs: 10 * MINUTE, blockMs: MINUTE } as const;
        await recordFailedPayment(db, { ...window, subjects: ['customer:p_old'], now: now - 10 * MINUTE });
        await recordFailedPayment(db, { ...window, subjects: ['customer:p_new'], now: now - 10 * MINUTE + 1 });
        // blocks: one expired, one in force
        await recordFailedPayment(db, { maxFailures: 1, windowMs: MINUTE, blockMs: MINUTE, subjects: ['ip:192.0.2.1'], now: now - MINUTE });
        await recordFailedPayment(db, { maxFailures: 1, windowMs: MINUTE, blockMs: MINUTE, subjects: ['ip:192.0.2.2'], now: now - MINUTE + 1 });

        expect(await purgeAbuseState(db, { now })).toEqual({ rateCounters: 1, paymentFailures: 1, blocks: 1 });
        expect((await db.kysely.selectFrom('abuse_rate_counters').select('bucket').execute()).map((r) => r.bucket)).toEqual(['p:new']);
        expect((await db.kysely.selectFrom('abuse_payment_failures').select('subject').execute()).map((r) => r.subject)).toEqual(['customer:p_new']);
        expect((await db.kysely.selectFrom('abuse_blocks').select('subject').execute()).map((r) => r.subject)).toEqual(['ip:192.0.2.2']);
        expect((await refusal(assertNotBlocked(db, { subjects: ['ip:192.0.2.2'], now })))?.code).toBe('CARD_TESTING_BLOCKED');
        expect(await purgeAbuseState(db, { now })).toEqual({ rateCounters: 0, paymentFailures: 0, blocks: 0 });

        // bounded: many windows sharing one expiry go a batch at a time
        for (let i = 0; i < 5; i++) await consumeRateLimit(db, { bucket: `p:many-${i}`, limit: 5, windowMs: MINUTE, now });
        const later = now + MINUTE;
        expect((await purgeAbuseState(db, { now: later, limit: 2 })).rateCounters).toBe(2);
        expect((await purgeAbuseState(db, { now: later, limit: 2 })).rateCounters).toBe(2);
        expect((await purgeAbuseState(db, { now: later, limit: 2 })).rateCounters).toBe(2);
        expect(await db.kysely.selectFrom('abuse_rate_counters').select('bucket').execute()).toEqual([]);
      } finally {
        await p.drop();
      }
    });
  });
});
