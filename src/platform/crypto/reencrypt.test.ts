import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { createTestDatabase, describeEachDatabase, type TestDatabase } from '../../../test/support/databases.js';
import { newId } from '../../kernel/index.js';
import { createKeyring, parseEnvelope, parseKeySpec, type Keyring } from './keyring.js';
import { checkoutSessionBillingDetailsContext, ENCRYPTED_COLUMNS } from './personal-data.js';
import { reencryptPersonalData } from './reencrypt.js';

const KEYS: Record<string, string> = {
  k1: randomBytes(32).toString('base64'),
  k2: randomBytes(32).toString('base64'),
  stranger: randomBytes(32).toString('base64'),
};

function keyring(...kids: string[]): Keyring {
  return createKeyring({ keys: parseKeySpec(kids.map((k) => `${k}:${KEYS[k]}`).join(',')) });
}

const column = ENCRYPTED_COLUMNS['checkout_sessions.billing_details'];

describeEachDatabase('reencryptPersonalData', (dialect) => {
  let t: TestDatabase;

  beforeAll(async () => {
    t = await createTestDatabase(dialect);
  });
  afterAll(async () => {
    await t?.drop();
  });
  beforeEach(async () => {
    await t.db.kysely.deleteFrom('checkout_sessions').execute();
  });

  /** A session with only the columns 0001 requires, plus the billing details under `ring`. */
  async function insertSession(ring: Keyring | null): Promise<{ id: string; plaintext: string; envelope: string | null }> {
    const id = newId('checkoutSession');
    const plaintext = `{"name":"Learner ${id}"}`;
    const envelope = ring === null ? null : ring.encrypt({ plaintext, context: checkoutSessionBillingDetailsContext(id) });
    await t.db.kysely
      .insertInto('checkout_sessions')
      .values({
        id,
        customer_id: 'cus_reencrypt',
        country: 'GB',
        currency: 'GBP',
        status: 'open',
        capture_method: 'automatic',
        coupon_id: null,
        subtotal: 1000,
        discount_total: 0,
        tax_total: 0,
        total: 1000,
        payment_id: null,
        order_id: null,
        confirm_request_key: null,
        billing_details: envelope,
        expires_at: 2_000_000_000_000,
        completed_at: null,
        created_at: 1_700_000_000_000,
        updated_at: 1_700_000_000_000,
        version: 1,
      })
      .execute();
    return { id, plaintext, envelope };
  }

  async function storedEnvelopes(): Promise<Map<string, string | null>> {
    const rows = await t.db.kysely.selectFrom('checkout_sessions').select(['id', 'billing_details', 'version', 'updated_at']).execute();
    for (const r of rows) {
      // Re-encryption is not a business change: no version bump to trip optimistic checks.
      expect(Number(r.version)).toBe(1);
      expect(Number(r.updated_at)).toBe(1_700_000_000_000);
    }
    return new Map(rows.map((r) => [r.id, r.billing_details]));
  }

  it('moves every envelope onto the new key, in batches, after which the old key can be removed', async () => {
    const old = keyring('k1');
    const sessions = [];
    for (let i = 0; i < 7; i++) sessions.push(await insertSession(old));
    sessions.push(await insertSession(null));

    // Rotation: k2 first (encrypts), k1 kept (decrypts).
    const rotated = keyring('k2', 'k1');
    const written = await insertSession(rotated);
    sessions.push(written);
    for (const s of sessions) if (s.envelope !== null) expect(rotated.decrypt({ envelope: s.envelope, context: checkoutSessionBillingDetailsContext(s.id) })).toBe(s.plaintext);

    const result = await reencryptPersonalData({ db: t.db, keyring: rotated, batchSize: 3 });
    expect(result).toEqual({ examined: 8, reencrypted: 7 });

    const after = await storedEnvelopes();
    expect(after.get(written.id)).toBe(written.envelope); // already under k2: left alone
    const onlyNew = keyring('k2');
    for (const s of sessions) {
      const envelope = after.get(s.id) ?? null;
      if (s.envelope === null) {
        expect(envelope).toBeNull();
        continue;
      }
      expect(parseEnvelope(envelope!)?.keyId).toBe('k2');
      expect(onlyNew.decrypt({ envelope: envelope!, context: checkoutSessionBillingDetailsContext(s.id) })).toBe(s.plaintext);
    }

    // Idempotent: a second run finds nothing left to do.
    expect(await reencryptPersonalData({ db: t.db, keyring: onlyNew })).toEqual({ examined: 8, reencrypted: 0 });
  });

  it('handles an empty table and a batch size equal to the row count', async () => {
    expect(await reencryptPersonalData({ db: t.db, keyring: keyring('k2', 'k1') })).toEqual({ examined: 0, reencrypted: 0 });
    const old = keyring('k1');
    await insertSession(old);
    await insertSession(old);
    expect(await reencryptPersonalData({ db: t.db, keyring: keyring('k2', 'k1'), batchSize: 2 })).toEqual({ examined: 2, reencrypted: 2 });
  });

  it('lets a concurrent writer win: the swap only replaces the envelope it read', async () => {
    const s = await insertSession(keyring('k1'));
    const rotated = keyring('k2', 'k1');
    const context = checkoutSessionBillingDetailsContext(s.id);
    // A use case stores new details after re-encryption read the row, before it wrote.
    const fromUseCase = rotated.encrypt({ plaintext: 'newer details', context });
    await t.db.kysely.updateTable('checkout_sessions').set({ billing_details: fromUseCase }).where('id', '=', s.id).execute();
    const stale = rotated.encrypt({ plaintext: s.plaintext, context });
    expect(await column.swap({ db: t.db.kysely, id: s.id, from: s.envelope!, to: stale })).toBe(false);
    expect((await storedEnvelopes()).get(s.id)).toBe(fromUseCase);
  });

  it('stops at an envelope it cannot open, naming the row and key but not the data, and keeps what it did', async () => {
    await insertSession(keyring('k1'));
    const unknown = await insertSession(keyring('stranger'));
    const err = await reencryptPersonalData({ db: t.db, keyring: keyring('k2', 'k1'), batchSize: 1 }).then(
      () => {
        throw new Error('expected a failure');
      },
      (e: unknown) => e as Error,
    );
    expect(err.message).toContain(unknown.id);
    expect(err.message).toContain('"stranger"');
    expect(err.message).not.toContain('Learner');
    const moved = [...(await storedEnvelopes()).values()].filter((e) => e !== null && parseEnvelope(e)?.keyId === 'k2');
    expect(moved).toHaveLength(1); // ids sort by creation, so the k1 row came first and was moved
  });

  it('refuses a batch size that is not a positive whole number', async () => {
    await expect(reencryptPersonalData({ db: t.db, keyring: keyring('k1'), batchSize: 0 })).rejects.toThrow(/batchSize/);
  });
});
