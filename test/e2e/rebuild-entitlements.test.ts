/**
 * The entitlement read model rebuilt by an operator: the read model lost rows (a restored
 * database, a DynamoDB write lost to a crash), checks wrongly answer no, and `obol
 * rebuild-entitlements` rewrites them from the recorded grants.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { key, startHarness, type Harness } from '../support/harness.js';
import { CONFIRM, CREATE } from '../integration/fragments.js';
import { OBOL_BIN } from '../support/processes.js';

const CHECK = `query($c: ID, $r: String!) { checkAccess(customerId: $c, resource: $r) { allowed } }`;

let h: Harness;
beforeAll(async () => {
  h = await startHarness('sqlite');
});
afterAll(async () => h?.close());

async function buyCertificate(customerId: string): Promise<void> {
  const created = await h.gql(CREATE, { input: { customerId, country: 'US', items: [{ priceId: 'price_ml_certificate_usd', quantity: 1 }], idempotencyKey: key('create') } });
  const sessionId = created.data!.createCheckoutSession.checkoutSession.id as string;
  const confirmed = await h.gql(CONFIRM, { input: { sessionId, paymentMethodToken: 'tok_visa', idempotencyKey: key('confirm') } });
  expect(confirmed.data!.confirmCheckoutSession.payment.status).toBe('succeeded');
}

const allowed = async (customerId: string) => (await h.gql(CHECK, { c: customerId, r: 'course:machine-learning' })).data!.checkAccess.allowed as boolean;

it('obol rebuild-entitlements restores lost read-model rows from the recorded grants, for one customer or for all', async () => {
  const [ada, grace] = ['cus_rebuild_ada', 'cus_rebuild_grace'];
  await buyCertificate(ada);
  await buyCertificate(grace);
  await h.runWorker();
  expect(await allowed(ada)).toBe(true);
  await h.app.db.kysely.deleteFrom('entitlement_access').execute();
  expect(await allowed(ada)).toBe(false);

  const env = { ...process.env, DATABASE_URL: h.database.url, NODE_ENV: 'test', LOG_LEVEL: 'info', AUTH_DEV_KEY_FILE: `${h.database.url.slice('sqlite:'.length)}.sk.json`, DEV_ENCRYPTION_KEY_FILE: `${h.database.url.slice('sqlite:'.length)}.ek.json` };
  const one = spawnSync(process.execPath, [OBOL_BIN, 'rebuild-entitlements', '--customer', ada], { encoding: 'utf8', env });
  expect(one.status, one.stderr).toBe(0);
  expect(one.stdout).toContain('"rebuilt":1');
  expect(await allowed(ada)).toBe(true);
  expect(await allowed(grace)).toBe(false);

  const all = spawnSync(process.execPath, [OBOL_BIN, 'rebuild-entitlements'], { encoding: 'utf8', env });
  expect(all.status, all.stderr).toBe(0);
  expect(all.stdout).toContain('"rebuilt":2');
  expect(await allowed(grace)).toBe(true);

  const bad = spawnSync(process.execPath, [OBOL_BIN, 'rebuild-entitlements', '--customer', '4242 4242'], { encoding: 'utf8', env });
  expect(bad.status).toBe(2);
  expect(bad.stderr).toContain('--customer must be a customer id');
  const misplaced = spawnSync(process.execPath, [OBOL_BIN, 'migrate', '--customer', ada], { encoding: 'utf8', env });
  expect(misplaced.status).toBe(2);
});
