/**
 * Key rotation as an operator does it: data written under k1, ENCRYPTION_KEYS changed to
 * "k2,k1", `obol reencrypt`, and then k1 can go.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { openDatabase, migrateToLatest } from '../../src/platform/db/index.js';
import { createKeyring } from '../../src/platform/crypto/keyring.js';
import { sealBillingDetails, openBillingDetails } from '../../src/checkout/billing-details.js';

const BIN = new URL('../../bin/obol.js', import.meta.url).pathname;

it('obol reencrypt moves every envelope to the active key', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'obol-reencrypt-'));
  try {
    const file = join(dir, 'obol.db');
    const k1 = randomBytes(32);
    const k2 = randomBytes(32);
    const db = openDatabase({ kind: 'sqlite', file });
    await migrateToLatest(db);
    const details = { name: 'R', email: 'r@example.com', address: { line1: '1 St', line2: null, city: 'C', postalCode: '1', region: null, country: 'US' } };
    const envelope = sealBillingDetails({ keyring: createKeyring({ keys: new Map([['k1', k1]]) }), sessionId: 'cs_1', details });
    const now = Date.now();
    await db.kysely
      .insertInto('checkout_sessions')
      .values({ id: 'cs_1', customer_id: 'cus_r', country: 'US', currency: 'USD', status: 'open', capture_method: 'automatic', coupon_id: null, subtotal: 0, discount_total: 0, tax_total: 0, total: 0, payment_id: null, order_id: null, confirm_request_key: null, billing_details: envelope, expires_at: now, completed_at: null, created_at: now, updated_at: now, version: 0 })
      .execute();
    await db.close();

    const env = { ...process.env, DATABASE_URL: `sqlite:${file}`, ENCRYPTION_KEYS: `k2:${k2.toString('base64')},k1:${k1.toString('base64')}`, AUTH_DEV_KEY_FILE: join(dir, 'sk.json'), LOG_LEVEL: 'info' };
    const run = spawnSync(process.execPath, [BIN, 'reencrypt'], { encoding: 'utf8', env });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain('"reencrypted":1');
    expect(run.stdout).not.toContain(k1.toString('base64'));

    const after = openDatabase({ kind: 'sqlite', file });
    const row = await after.kysely.selectFrom('checkout_sessions').select('billing_details').where('id', '=', 'cs_1').executeTakeFirstOrThrow();
    await after.close();
    expect(row.billing_details).toMatch(/^v1\.k2\./);
    // k1 is no longer needed
    expect(openBillingDetails({ keyring: createKeyring({ keys: new Map([['k2', k2]]) }), sessionId: 'cs_1', envelope: row.billing_details! }).email).toBe('r@example.com');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
