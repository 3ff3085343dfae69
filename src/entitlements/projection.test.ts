/**
 * The entitlements projection on each database: events in (through deliverOnce, as every bus
 * delivers them), write side, history and read model out, and the access check on top.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, describeEachDatabase, type TestDatabase } from '../../test/support/databases.js';
import { seedDemoCatalog } from '../catalog/index.js';
import { ManualClock, newId, ObolError, type AccessRole, type Caller } from '../kernel/index.js';
import { deliverOnce, type CloudEvent, type EventType } from '../platform/events/index.js';
import { entitlementsConsumer } from './consumer.js';
import type { EntitlementsDeps } from './deps.js';
import { checkAccess, checkAccessBatch, listAccessibleResources, listEntitlements } from './read.js';
import { sqlEntitlementReadModel } from './read-model.js';
import { grantFromSource } from './project.js';

const T0 = Date.parse('2026-01-31T09:30:00.000Z');
const HOUR = 3_600_000;

function caller(roles: readonly AccessRole[], customerId: string | null = null): Caller {
  return { actor: { subject: customerId ?? `staff_${roles.join('_')}`, roles, customerId, kind: customerId ? 'customer' : roles.includes('service') ? 'service' : 'staff' }, requestId: null, ip: null };
}
const admin = caller(['admin']);

describeEachDatabase('entitlements projection', (dialect) => {
  let t: TestDatabase;
  let deps: EntitlementsDeps;
  let clock: ManualClock;
  let n = 0;

  beforeAll(async () => {
    t = await createTestDatabase(dialect);
    await seedDemoCatalog(t.db, T0);
    // A product that grants nothing (a gift card, say).
    await t.db.kysely.insertInto('products').values({ id: 'prod_gift', name: 'Gift', description: 'x', kind: 'one_time', resource: 'gift', grants: null, active: 1, created_at: T0 }).execute();
    await t.db.kysely.insertInto('prices').values({ id: 'price_gift_usd', product_id: 'prod_gift', currency: 'USD', unit_amount: 100, billing_interval: null, tax_behavior: 'exclusive', country: null, nickname: 'Gift', active: 1, created_at: T0 }).execute();
    clock = new ManualClock(T0);
    deps = { db: t.db, clock, readModel: sqlEntitlementReadModel(t.db) };
  });
  afterAll(async () => t?.drop());

  const consumer = () => entitlementsConsumer(deps);
  const customer = () => `cus_ent_${dialect}_${++n}`;

  function event(type: EventType, time: number, data: Record<string, unknown>): CloudEvent {
    return { specversion: '1.0', id: newId('event', time), source: '/obol/checkout', type, subject: String(data.checkoutSessionId ?? 'cs_x'), time: new Date(time).toISOString(), datacontenttype: 'application/json', partitionkey: 'cs_x', data };
  }
  const completed = (customerId: string, orderId: string, priceIds: readonly string[], time = T0) =>
    event('checkout.completed', time, { orderId, checkoutSessionId: `cs_${orderId}`, customerId, paymentId: null, total: 0, currency: 'USD', items: priceIds.map((priceId) => ({ priceId, productId: productOf(priceId), quantity: 1 })) });
  const revoked = (customerId: string, orderId: string, reason: 'refunded' | 'dispute_lost', time: number) =>
    event('order.access_revoked', time, { orderId, checkoutSessionId: `cs_${orderId}`, customerId, paymentId: null, reason, items: [] });
  const deliver = (e: CloudEvent) => deliverOnce({ db: t.db, consumer: consumer(), event: e, now: clock.now() });
  const allowed = async (customerId: string, resource: string, at: number) => (await checkAccess(deps, { caller: admin, customerId, resource, at })).allowed;
  const history = async (customerId: string) => (await listEntitlements(deps, { caller: admin, customerId })).map((e) => [e.resource, e.history.map((h) => h.action)]);

  function productOf(priceId: string): string {
    if (priceId.startsWith('price_ml_certificate')) return 'prod_ml_certificate';
    if (priceId.startsWith('price_data_science')) return 'prod_data_science_specialization';
    if (priceId.startsWith('price_plus')) return 'prod_obol_plus';
    return 'prod_gift';
  }

  it('grants a course forever on a one-time purchase', async () => {
    const c = customer();
    expect(await deliver(completed(c, 'ord_course', ['price_ml_certificate_usd']))).toBe('applied');
    const [e] = await listEntitlements(deps, { caller: admin, customerId: c });
    expect(e).toMatchObject({ resource: 'course:machine-learning', source: { kind: 'order', id: 'ord_course' }, productId: 'prod_ml_certificate', status: 'active', validFrom: T0, validUntil: null, activeNow: true });
    expect(await allowed(c, 'course:machine-learning', T0 + 10 * 365 * 24 * HOUR)).toBe(true);
    expect(await allowed(c, 'course:machine-learning', T0 - 1)).toBe(false);
    expect(await allowed(c, 'course:other', T0 + 1)).toBe(false);
    expect(await allowed(c, 'catalog:all', T0 + 1)).toBe(false);
  });

  it('grants a monthly specialization for one calendar month from completion (31 January → 28 February)', async () => {
    const c = customer();
    await deliver(completed(c, 'ord_spec', ['price_data_science_monthly_usd']));
    const end = Date.parse('2026-02-28T09:30:00.000Z');
    const [e] = await listEntitlements(deps, { caller: admin, customerId: c });
    expect(e).toMatchObject({ resource: 'specialization:data-science', validFrom: T0, validUntil: end });
    expect(await allowed(c, 'specialization:data-science', end - 1)).toBe(true);
    expect(await allowed(c, 'specialization:data-science', end)).toBe(false);
    expect(await checkAccess(deps, { caller: admin, customerId: c, resource: 'specialization:data-science', at: T0 })).toEqual({ resource: 'specialization:data-science', allowed: true, via: 'specialization:data-science', validUntil: end });
  });

  it('grants the all-access catalogue for a year, and it opens every course and specialization', async () => {
    const c = customer();
    await deliver(completed(c, 'ord_plus', ['price_plus_annual_usd']));
    const end = Date.parse('2027-01-31T09:30:00.000Z');
    const decisions = await checkAccessBatch(deps, { caller: admin, customerId: c, resources: ['course:machine-learning', 'course:never-sold', 'specialization:data-science', 'catalog:all'], at: end - 1 });
    expect(decisions).toEqual([
      { resource: 'course:machine-learning', allowed: true, via: 'catalog:all', validUntil: end },
      { resource: 'course:never-sold', allowed: true, via: 'catalog:all', validUntil: end },
      { resource: 'specialization:data-science', allowed: true, via: 'catalog:all', validUntil: end },
      { resource: 'catalog:all', allowed: true, via: 'catalog:all', validUntil: end },
    ]);
    expect((await checkAccessBatch(deps, { caller: admin, customerId: c, resources: ['course:machine-learning', 'catalog:all'], at: end })).map((d) => d.allowed)).toEqual([false, false]);
    expect(await listAccessibleResources(deps, { caller: admin, customerId: c, at: T0 })).toEqual([{ resource: 'catalog:all', validUntil: end }]);
  });

  it('grants one entitlement per resource for a mixed order, and nothing for a product that grants nothing', async () => {
    const c = customer();
    await deliver(completed(c, 'ord_mixed', ['price_ml_certificate_usd', 'price_plus_monthly_usd', 'price_gift_usd']));
    const held = await listEntitlements(deps, { caller: admin, customerId: c });
    expect(held.map((e) => [e.resource, e.validUntil])).toEqual([
      ['catalog:all', Date.parse('2026-02-28T09:30:00.000Z')],
      ['course:machine-learning', null],
    ]);
    const nothing = customer();
    expect(await deliver(completed(nothing, 'ord_gift', ['price_gift_usd']))).toBe('applied');
    expect(await listEntitlements(deps, { caller: admin, customerId: nothing })).toEqual([]);
  });

  for (const reason of ['refunded', 'dispute_lost'] as const) {
    it(`revokes everything an order granted when it is ${reason}, from that moment`, async () => {
      const c = customer();
      const order = `ord_revoke_${reason}`;
      await deliver(completed(c, order, ['price_ml_certificate_usd', 'price_plus_monthly_usd']));
      const at = T0 + 5 * HOUR;
      expect(await deliver(revoked(c, order, reason, at))).toBe('applied');
      const held = await listEntitlements(deps, { caller: admin, customerId: c });
      expect(held.map((e) => ({ resource: e.resource, status: e.status, revokeReason: e.revokeReason, revokedAt: e.revokedAt, validUntil: e.validUntil }))).toEqual([
        { resource: 'catalog:all', status: 'revoked', revokeReason: reason, revokedAt: at, validUntil: at },
        { resource: 'course:machine-learning', status: 'revoked', revokeReason: reason, revokedAt: at, validUntil: at },
      ]);
      expect(await allowed(c, 'course:machine-learning', at)).toBe(false);
      expect(await allowed(c, 'course:anything', at + 1)).toBe(false);
      // Access before the revocation stays true in the record.
      expect(await allowed(c, 'course:machine-learning', at - 1)).toBe(true);
      expect(await history(c)).toEqual([
        ['catalog:all', ['granted', 'revoked']],
        ['course:machine-learning', ['granted', 'revoked']],
      ]);
      const [first] = held;
      expect(first!.history[1]).toMatchObject({ action: 'revoked', status: 'revoked', reason, validUntil: at, occurredAt: at });
    });
  }

  it('a redelivered event is harmless, and so is a second revocation of the same order', async () => {
    const c = customer();
    const grant = completed(c, 'ord_dup', ['price_ml_certificate_usd']);
    expect(await deliver(grant)).toBe('applied');
    expect(await deliver(grant)).toBe('duplicate');
    // The same facts under a new event id (a re-emitted event): no second entitlement, no history.
    expect(await deliver({ ...grant, id: newId('event', T0) })).toBe('applied');
    const refund = revoked(c, 'ord_dup', 'refunded', T0 + HOUR);
    await deliver(refund);
    expect(await deliver(refund)).toBe('duplicate');
    await deliver(revoked(c, 'ord_dup', 'dispute_lost', T0 + 2 * HOUR));
    const [e, ...rest] = await listEntitlements(deps, { caller: admin, customerId: c });
    expect(rest).toEqual([]);
    expect(e).toMatchObject({ status: 'revoked', revokeReason: 'refunded', validUntil: T0 + HOUR });
    expect(e!.history.map((h) => h.action)).toEqual(['granted', 'revoked']);
  });

  it('a revocation that arrives before its grant leaves the grant born revoked', async () => {
    const c = customer();
    const at = T0 + HOUR;
    expect(await deliver(revoked(c, 'ord_early', 'dispute_lost', at))).toBe('applied');
    expect(await listEntitlements(deps, { caller: admin, customerId: c })).toEqual([]);
    await deliver(completed(c, 'ord_early', ['price_plus_annual_usd']));
    const [e] = await listEntitlements(deps, { caller: admin, customerId: c });
    expect(e).toMatchObject({ resource: 'catalog:all', status: 'revoked', revokeReason: 'dispute_lost', validUntil: at, activeNow: false });
    expect(e!.history.map((h) => [h.action, h.status, h.occurredAt])).toEqual([
      ['granted', 'active', T0],
      ['revoked', 'revoked', at],
    ]);
    expect(await allowed(c, 'course:machine-learning', at + 1)).toBe(false);
  });

  it('revoking one order leaves access another order granted', async () => {
    const c = customer();
    await deliver(completed(c, 'ord_a', ['price_ml_certificate_usd']));
    await deliver(completed(c, 'ord_b', ['price_ml_certificate_eur'], T0 + HOUR));
    await deliver(revoked(c, 'ord_a', 'refunded', T0 + 2 * HOUR));
    expect(await allowed(c, 'course:machine-learning', T0 + 3 * HOUR)).toBe(true);
    expect((await listEntitlements(deps, { caller: admin, customerId: c })).map((e) => [e.source.id, e.status])).toEqual([
      ['ord_a', 'revoked'],
      ['ord_b', 'active'],
    ]);
  });

  it('a malformed event is refused whole: nothing applied, not marked as seen, retried later', async () => {
    const c = customer();
    const bad = event('checkout.completed', T0, { orderId: 'ord_bad', customerId: c, items: [{ priceId: 'price_nope', productId: 'prod_ml_certificate' }] });
    await expect(deliver(bad)).rejects.toThrow(/not in the catalog/);
    await expect(deliver(event('order.access_revoked', T0, { orderId: 'ord_bad', customerId: c, reason: 'lost_interest' }))).rejects.toThrow(/malformed/);
    const inbox = await t.db.kysely.selectFrom('consumer_inbox').select('event_id').where('event_id', '=', bad.id).execute();
    expect(inbox).toEqual([]);
    expect(await t.db.kysely.selectFrom('entitlement_sources').select('source_id').where('source_id', '=', 'ord_bad').execute()).toEqual([]);
  });

  it('grants of the same customer and resource from concurrent orders all reach the read model', async () => {
    const c = customer();
    const orders = Array.from({ length: 6 }, (_, i) => completed(c, `ord_conc_${i}`, ['price_data_science_monthly_usd'], T0 + i * 40 * 24 * HOUR));
    await Promise.all(orders.map((o) => deliver(o)));
    const [record] = await deps.readModel.listForCustomer({ customerId: c });
    expect(record!.windows).toHaveLength(6);
    expect(record!.version).toBe(6);
    for (let i = 0; i < 6; i++) expect(await allowed(c, 'specialization:data-science', T0 + i * 40 * 24 * HOUR + HOUR)).toBe(true);
    expect(await allowed(c, 'specialization:data-science', T0 + 35 * 24 * HOUR)).toBe(false); // a gap between two months
  });

  it('a longer grant from the same source extends it, with history (the path subscription renewals take)', async () => {
    const c = customer();
    const source = { kind: 'subscription' as const, id: `sub_${c}` };
    const month = (from: number, until: number) => ({ resource: 'catalog:all' as const, productId: 'prod_obol_plus', validFrom: from, validUntil: until });
    const feb = Date.parse('2026-02-28T09:30:00.000Z');
    const mar = Date.parse('2026-03-28T09:30:00.000Z');
    const grant = (g: ReturnType<typeof month>, eventId: string) => t.db.transaction((tx) => grantFromSource(deps, tx, { customerId: c, source, grants: [g], eventId, occurredAt: g.validFrom, now: clock.now() }));
    expect((await grant(month(T0, feb), 'evt_sub_1')).changed).toHaveLength(1);
    expect((await grant(month(feb, mar), 'evt_sub_2')).changed).toHaveLength(1);
    expect((await grant(month(feb, mar), 'evt_sub_2_again')).changed).toEqual([]);
    const [e] = await listEntitlements(deps, { caller: admin, customerId: c });
    expect(e).toMatchObject({ source, validFrom: T0, validUntil: mar, status: 'active' });
    expect(e!.history.map((h) => [h.action, h.validUntil, h.eventId])).toEqual([
      ['granted', feb, 'evt_sub_1'],
      ['extended', mar, 'evt_sub_2'],
    ]);
    expect(await allowed(c, 'course:machine-learning', mar - 1)).toBe(true);
    expect(await allowed(c, 'course:machine-learning', mar)).toBe(false);
  });

  describe('subscriptions', () => {
    const DAY = 24 * HOUR;
    let subs = 0;
    /** A subscription event as src/subscriptions/events.ts emits it: the whole access window, every time. */
    const subEvent = (type: EventType, args: { readonly customerId: string; readonly subscriptionId: string; readonly time: number; readonly status: string; readonly accessUntil: number | null; readonly endedAt?: number; readonly reason?: string; readonly productId?: string }) =>
      event(type, args.time, {
        subscriptionId: args.subscriptionId,
        customerId: args.customerId,
        status: args.status,
        productId: args.productId ?? 'prod_data_science_specialization',
        priceId: 'price_data_science_monthly_usd',
        currentPeriodStart: new Date(T0).toISOString(),
        currentPeriodEnd: new Date(T0 + 28 * DAY).toISOString(),
        accessFrom: new Date(T0).toISOString(),
        accessUntil: args.accessUntil === null ? null : new Date(args.accessUntil).toISOString(),
        cancelAtPeriodEnd: false,
        endedAt: args.endedAt === undefined ? null : new Date(args.endedAt).toISOString(),
        testClockId: null,
        reason: args.reason ?? null,
        invoiceId: null,
        nextRetryAt: null,
      });
    const fresh = () => ({ customerId: customer(), subscriptionId: `sub_${dialect}_${++subs}` });
    const SPEC = 'specialization:data-science';

    it('grants the plan’s product while the subscription runs: activation, renewals and the grace of dunning extend it', async () => {
      const s = fresh();
      const feb = T0 + 28 * DAY;
      expect(await deliver(subEvent('subscription.activated', { ...s, time: T0, status: 'active', accessUntil: feb }))).toBe('applied');
      expect(await allowed(s.customerId, SPEC, T0)).toBe(true);
      expect(await allowed(s.customerId, SPEC, feb)).toBe(false);
      const mar = feb + 31 * DAY;
      await deliver(subEvent('subscription.renewed', { ...s, time: feb, status: 'active', accessUntil: mar }));
      expect(await allowed(s.customerId, SPEC, mar - 1)).toBe(true);
      // The next renewal fails: access stays for the grace period, then the card recovers.
      await deliver(subEvent('subscription.past_due', { ...s, time: mar, status: 'past_due', accessUntil: mar + 7 * DAY }));
      expect(await allowed(s.customerId, SPEC, mar + 6 * DAY)).toBe(true);
      await deliver(subEvent('subscription.recovered', { ...s, time: mar + 3 * DAY, status: 'active', accessUntil: mar + 30 * DAY }));
      expect(await allowed(s.customerId, SPEC, mar + 29 * DAY)).toBe(true);
      const [e] = await listEntitlements(deps, { caller: admin, customerId: s.customerId });
      expect(e).toMatchObject({ source: { kind: 'subscription', id: s.subscriptionId }, productId: 'prod_data_science_specialization', validFrom: T0, validUntil: mar + 30 * DAY });
      expect(e!.history.map((h) => h.action)).toEqual(['granted', 'extended', 'extended', 'extended']);
    });

    it('a plan’s trial grants access, and an event that grants nothing (a signup not yet paid) changes nothing', async () => {
      const s = fresh();
      expect(await deliver(subEvent('subscription.activated', { ...s, time: T0, status: 'incomplete', accessUntil: null }))).toBe('applied');
      expect(await listEntitlements(deps, { caller: admin, customerId: s.customerId })).toEqual([]);
      await deliver(subEvent('subscription.activated', { ...s, time: T0, status: 'trialing', accessUntil: T0 + 7 * DAY, productId: 'prod_obol_plus' }));
      expect(await allowed(s.customerId, 'course:machine-learning', T0 + 6 * DAY)).toBe(true);
      expect(await allowed(s.customerId, 'course:machine-learning', T0 + 7 * DAY)).toBe(false);
    });

    for (const [reason, expected] of [
      ['canceled_immediately', 'subscription_ended'],
      ['payment_failed', 'subscription_ended'],
      ['dispute_lost', 'dispute_lost'],
    ] as const) {
      it(`revokes what the subscription granted when it ends (${reason}), from its end`, async () => {
        const s = fresh();
        await deliver(subEvent('subscription.activated', { ...s, time: T0, status: 'active', accessUntil: T0 + 28 * DAY }));
        const end = T0 + 10 * DAY;
        await deliver(subEvent('subscription.canceled', { ...s, time: end + HOUR, status: 'canceled', accessUntil: end, endedAt: end, reason }));
        expect(await allowed(s.customerId, SPEC, end - 1)).toBe(true);
        expect(await allowed(s.customerId, SPEC, end)).toBe(false);
        const [e] = await listEntitlements(deps, { caller: admin, customerId: s.customerId });
        expect(e).toMatchObject({ status: 'revoked', revokeReason: expected, validUntil: end });
        expect(e!.history.map((h) => h.action)).toEqual(['granted', 'revoked']);
      });
    }

    it('out of order: a stale renewal grants no more than was held, and one arriving after the cancellation is born revoked', async () => {
      const s = fresh();
      const feb = T0 + 28 * DAY;
      await deliver(subEvent('subscription.renewed', { ...s, time: feb, status: 'active', accessUntil: feb + 31 * DAY }));
      expect(await deliver(subEvent('subscription.activated', { ...s, time: T0, status: 'active', accessUntil: feb }))).toBe('applied');
      expect((await listEntitlements(deps, { caller: admin, customerId: s.customerId }))[0]).toMatchObject({ validUntil: feb + 31 * DAY });

      const late = fresh();
      await deliver(subEvent('subscription.canceled', { ...late, time: T0 + DAY, status: 'canceled', accessUntil: T0 + DAY, endedAt: T0 + DAY, reason: 'canceled_immediately' }));
      await deliver(subEvent('subscription.activated', { ...late, time: T0, status: 'active', accessUntil: feb }));
      expect(await allowed(late.customerId, SPEC, T0 + DAY / 2)).toBe(true);
      expect(await allowed(late.customerId, SPEC, T0 + 2 * DAY)).toBe(false);
      expect((await listEntitlements(deps, { caller: admin, customerId: late.customerId }))[0]).toMatchObject({ status: 'revoked', revokeReason: 'subscription_ended' });
    });

    it('refuses a malformed subscription event whole', async () => {
      const s = fresh();
      const bad = subEvent('subscription.renewed', { ...s, time: T0, status: 'active', accessUntil: T0 + DAY });
      await expect(deliver({ ...bad, data: { ...(bad.data as object), accessFrom: 'yesterday' } })).rejects.toThrow(/accessFrom/);
      expect(await listEntitlements(deps, { caller: admin, customerId: s.customerId })).toEqual([]);
    });
  });

  describe('who may read', () => {
    it('a learner checks and lists only their own; someone else’s looks like nobody', async () => {
      const c = customer();
      await deliver(completed(c, 'ord_own', ['price_ml_certificate_usd']));
      const me = caller(['learner'], c);
      expect((await checkAccess(deps, { caller: me, customerId: null, resource: 'course:machine-learning', at: T0 + 1 })).allowed).toBe(true);
      expect(await listEntitlements(deps, { caller: me, customerId: null })).toHaveLength(1);
      const other = caller(['learner'], 'cus_someone_else');
      await expect(checkAccess(deps, { caller: other, customerId: c, resource: 'course:machine-learning', at: null })).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(listEntitlements(deps, { caller: other, customerId: c })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    });

    it('services and support check anyone; finance may not', async () => {
      const c = customer();
      await deliver(completed(c, 'ord_roles', ['price_ml_certificate_usd']));
      for (const roles of [['service'], ['support']] as const) expect((await checkAccess(deps, { caller: caller(roles), customerId: c, resource: 'course:machine-learning', at: T0 + 1 })).allowed).toBe(true);
      await expect(checkAccess(deps, { caller: caller(['finance']), customerId: c, resource: 'course:machine-learning', at: null })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    });

    it('refuses bad input with typed errors', async () => {
      const bad = (props: Partial<Parameters<typeof checkAccessBatch>[1]>) => checkAccessBatch(deps, { caller: admin, customerId: 'cus_x', resources: ['course:x'], at: null, ...props });
      await expect(bad({ resources: ['video:x'] })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
      await expect(bad({ resources: [] })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
      await expect(bad({ resources: Array.from({ length: 101 }, (_, i) => `course:c${i}`) })).rejects.toMatchObject({ code: 'INPUT_TOO_LARGE' });
      await expect(bad({ customerId: 'not a customer' })).rejects.toMatchObject({ code: 'INVALID_ID' });
      await expect(bad({ customerId: null })).rejects.toBeInstanceOf(ObolError);
    });
  });
});
