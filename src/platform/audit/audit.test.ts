import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, describeEachDatabase, type TestDatabase } from '../../../test/support/databases.js';
import { appendAudit, AUDIT_ACTIONS, EMAIL_REDACTED, isSensitiveKey, listAudit, MAX_SUMMARY_BYTES, scrubSummary, type AuditAction, type AuditActor } from './index.js';

const admin: AuditActor = { subject: 'staff:ada', roles: ['admin'], kind: 'staff' };
const service: AuditActor = { subject: 'svc:billing', roles: ['service'], kind: 'service' };
const T0 = 1_700_000_000_000;

function entry(over: { actor?: AuditActor; action?: AuditAction; targetId?: string; before?: Record<string, unknown> | null; after?: Record<string, unknown> | null; now?: number } = {}) {
  return {
    actor: over.actor ?? admin,
    action: over.action ?? 'payment.refund',
    target: { type: 'payment', id: over.targetId ?? 'pay_1' },
    before: over.before === undefined ? { amountRefunded: 0, currency: 'USD' } : over.before,
    after: over.after === undefined ? { amountRefunded: 500, currency: 'USD' } : over.after,
    requestId: 'req-1',
    now: over.now ?? T0,
  };
}

describe('audit summary scrubbing', () => {
  it('drops keys that look like secrets or personal data, at any depth', () => {
    const scrubbed = scrubSummary({
      status: 'succeeded',
      amountCaptured: 1200,
      shippingMethod: 'none',
      capacity: 3,
      company: 'Acme',
      accessToken: 't',
      client_secret: 's',
      password: 'p',
      email: 'a@b.c',
      'E-Mail': 'a@b.c',
      fullname: 'Ada',
      firstName: 'Ada',
      billingAddress: { line1: 'x' },
      ipAddress: '1.2.3.4',
      ip: '1.2.3.4',
      phone_number: '+1',
      cardLast4: '4242',
      card: { brand: 'visa' },
      nested: { ok: true, apiKey: 'k', list: [{ city: 'Paris', amount: 1 }] },
    });
    expect(scrubbed).toEqual({
      status: 'succeeded',
      amountCaptured: 1200,
      shippingMethod: 'none',
      capacity: 3,
      company: 'Acme',
      nested: { ok: true, list: [{ amount: 1 }] },
    });
  });

  it('redacts e-mail addresses and card numbers inside string values', () => {
    const scrubbed = scrubSummary({ note: 'asked by jane.doe@example.com', memo: 'paid with 4242 4242 4242 4242' });
    expect(scrubbed['note']).toBe(`asked by ${EMAIL_REDACTED}`);
    expect(String(scrubbed['memo'])).not.toMatch(/4242 4242/);
  });

  it('keeps the fields the payment use cases record', () => {
    for (const key of ['status', 'amountAuthorized', 'amountCaptured', 'amountRefunded', 'refundable', 'currency', 'operationId', 'refundId', 'requested', 'amount', 'reason']) {
      expect(isSensitiveKey(key), key).toBe(false);
    }
  });

  it('refuses values that are not JSON', () => {
    expect(() => scrubSummary({ at: new Date(0) })).toThrow(/not a JSON value/);
    expect(() => scrubSummary({ n: 10n })).toThrow(/not a JSON value/);
    expect(() => scrubSummary({ n: Number.NaN })).toThrow(/finite/);
  });
});

describeEachDatabase('audit log', (dialect) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase(dialect);
  });
  afterAll(async () => {
    await t?.drop();
  });

  it('appends entries and lists them newest first, filtered and paginated', async () => {
    const a = await appendAudit(t.db.kysely, entry({ targetId: 'pay_list_a', action: 'payment.capture', now: T0 }));
    const b = await appendAudit(t.db.kysely, entry({ targetId: 'pay_list_b', action: 'payment.refund', now: T0 }));
    const c = await appendAudit(t.db.kysely, entry({ targetId: 'pay_list_a', action: 'payment.refund', actor: service, now: T0 + 1 }));
    const d = await appendAudit(t.db.kysely, entry({ targetId: 'pay_list_a', action: 'payment.void', actor: service, now: T0 + 2, before: null }));

    expect(a.id).toMatch(/^aud_[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(new Set([a.id, b.id, c.id, d.id]).size).toBe(4);

    const all = await listAudit(t.db.kysely, { first: 100, after: null });
    expect(all.entries.map((e) => e.id)).toEqual([d.id, c.id, b.id, a.id]);
    expect(all.hasNextPage).toBe(false);
    expect(all.entries[0]).toEqual({
      id: d.id,
      occurredAt: T0 + 2,
      actor: { subject: 'svc:billing', roles: ['service'], kind: 'service' },
      action: 'payment.void',
      target: { type: 'payment', id: 'pay_list_a' },
      before: null,
      after: { amountRefunded: 500, currency: 'USD' },
      requestId: 'req-1',
    });
    expect(all.entries[0]).toEqual(d);

    const byTarget = await listAudit(t.db.kysely, { first: 10, after: null, targetId: 'pay_list_a' });
    expect(byTarget.entries.map((e) => e.id)).toEqual([d.id, c.id, a.id]);
    const byAction = await listAudit(t.db.kysely, { first: 10, after: null, action: 'payment.refund' });
    expect(byAction.entries.map((e) => e.id)).toEqual([c.id, b.id]);
    const byActor = await listAudit(t.db.kysely, { first: 10, after: null, actorSubject: 'svc:billing' });
    expect(byActor.entries.map((e) => e.id)).toEqual([d.id, c.id]);
    const combined = await listAudit(t.db.kysely, { first: 10, after: null, actorSubject: 'svc:billing', action: 'payment.refund', targetId: 'pay_list_a' });
    expect(combined.entries.map((e) => e.id)).toEqual([c.id]);

    const seen: string[] = [];
    let after: string | null = null;
    for (;;) {
      const page = await listAudit(t.db.kysely, { first: 3, after, targetId: 'pay_list_a' });
      seen.push(...page.entries.map((e) => e.id));
      if (!page.hasNextPage) break;
      expect(page.endCursor).not.toBeNull();
      after = page.endCursor;
    }
    expect(seen).toEqual([d.id, c.id, a.id]);

    const p1 = await listAudit(t.db.kysely, { first: 2, after: null });
    expect(p1.hasNextPage).toBe(true);
    const p2 = await listAudit(t.db.kysely, { first: 2, after: p1.endCursor });
    expect([...p1.entries, ...p2.entries].map((e) => e.id)).toEqual([d.id, c.id, b.id, a.id]);
    expect(p2.hasNextPage).toBe(false);

    const none = await listAudit(t.db.kysely, { first: 5, after: null, targetId: 'pay_nothing' });
    expect(none).toEqual({ entries: [], endCursor: null, hasNextPage: false });
  });

  it('refuses bad page sizes, foreign cursors and unknown actions as validation errors', async () => {
    for (const first of [0, 101, 1.5]) {
      await expect(listAudit(t.db.kysely, { first, after: null })).rejects.toMatchObject({ code: 'VALIDATION_FAILED', details: { field: 'first' } });
    }
    for (const cursor of ['', 'not-a-cursor', Buffer.from('audit:v1:-3').toString('base64url'), 'pay_123']) {
      await expect(listAudit(t.db.kysely, { first: 5, after: cursor })).rejects.toMatchObject({ code: 'VALIDATION_FAILED', details: { field: 'after' } });
    }
    await expect(listAudit(t.db.kysely, { first: 5, after: null, action: 'payment.steal' as AuditAction })).rejects.toMatchObject({ code: 'VALIDATION_FAILED', details: { field: 'action' } });
  });

  it('is append-only: the database refuses UPDATE and DELETE', async () => {
    const e = await appendAudit(t.db.kysely, entry({ targetId: 'pay_immutable' }));
    await expect(t.db.kysely.updateTable('audit_log').set({ after_summary: '{}' }).where('id', '=', e.id).execute()).rejects.toThrow(/append-only/);
    await expect(t.db.kysely.deleteFrom('audit_log').where('id', '=', e.id).execute()).rejects.toThrow(/append-only/);
    await expect(sql`DELETE FROM audit_log`.execute(t.db.kysely)).rejects.toThrow(/append-only/);
    const still = await listAudit(t.db.kysely, { first: 5, after: null, targetId: 'pay_immutable' });
    expect(still.entries).toEqual([e]);
  });

  it('commits with the action and vanishes with its rollback', async () => {
    await expect(
      t.db.transaction(async (tx) => {
        await appendAudit(tx, entry({ targetId: 'pay_rolled_back' }));
        throw new Error('the action failed after auditing');
      }),
    ).rejects.toThrow(/action failed/);
    expect((await listAudit(t.db.kysely, { first: 5, after: null, targetId: 'pay_rolled_back' })).entries).toEqual([]);

    const kept = await t.db.transaction((tx) => appendAudit(tx, entry({ targetId: 'pay_committed' })));
    expect((await listAudit(t.db.kysely, { first: 5, after: null, targetId: 'pay_committed' })).entries).toEqual([kept]);
  });

  it('stores summaries scrubbed of personal data and secrets', async () => {
    const e = await appendAudit(
      t.db.kysely,
      entry({
        targetId: 'pay_scrubbed',
        action: 'entitlement.grant',
        before: { status: 'none', customerEmail: 'ada@example.com', name: 'Ada Lovelace' },
        after: { status: 'granted', resource: 'course:ml-101', grantedBy: { token: 'secret-token', note: 'mail ada@example.com' } },
      }),
    );
    const [stored] = (await listAudit(t.db.kysely, { first: 1, after: null, targetId: 'pay_scrubbed' })).entries;
    expect(stored).toEqual(e);
    expect(stored?.before).toEqual({ status: 'none' });
    expect(stored?.after).toEqual({ status: 'granted', resource: 'course:ml-101', grantedBy: { note: `mail ${EMAIL_REDACTED}` } });
    const raw = await t.db.kysely.selectFrom('audit_log').select(['before_summary', 'after_summary']).where('id', '=', e.id).executeTakeFirstOrThrow();
    expect(`${raw.before_summary}${raw.after_summary}`).not.toMatch(/ada@example\.com|Lovelace|secret-token/);
  });

  it('refuses an oversized summary as a bug and writes nothing', async () => {
    const big = { items: 'x'.repeat(MAX_SUMMARY_BYTES) };
    await expect(appendAudit(t.db.kysely, entry({ targetId: 'pay_big', after: big }))).rejects.toThrow(/at most 4096/);
    await expect(appendAudit(t.db.kysely, entry({ targetId: 'pay_big', before: big }))).rejects.not.toHaveProperty('code');
    expect((await listAudit(t.db.kysely, { first: 5, after: null, targetId: 'pay_big' })).entries).toEqual([]);
    // Exactly at the limit is fine: the limit is on the stored JSON, in UTF-8 bytes.
    const overhead = JSON.stringify({ items: '' }).length;
    const fits = await appendAudit(t.db.kysely, entry({ targetId: 'pay_big', after: { items: 'x'.repeat(MAX_SUMMARY_BYTES - overhead) } }));
    expect(fits.after).toEqual({ items: 'x'.repeat(MAX_SUMMARY_BYTES - overhead) });
    await expect(appendAudit(t.db.kysely, entry({ targetId: 'pay_big', after: { items: 'é'.repeat(MAX_SUMMARY_BYTES / 2) } }))).rejects.toThrow(/bytes/);
  });

  it('refuses malformed entries as bugs', async () => {
    await expect(appendAudit(t.db.kysely, { ...entry(), action: 'payment.steal' as AuditAction })).rejects.toThrow(/Unknown audit action/);
    await expect(appendAudit(t.db.kysely, entry({ actor: { subject: 'x', roles: ['a,b'], kind: 'staff' } }))).rejects.toThrow(/comma/);
    await expect(appendAudit(t.db.kysely, entry({ targetId: 'p'.repeat(65) }))).rejects.toThrow(/targetId/);
    await expect(appendAudit(t.db.kysely, entry({ actor: { subject: '', roles: [], kind: 'staff' } }))).rejects.toThrow(/subject/);
  });

  it('knows every action it lists', () => {
    expect(AUDIT_ACTIONS).toContain('admin.override');
  });
});
