/**
 * The security suite: who may do what, proven against every database. Every query and mutation
 * is tried with another customer's ids; forged, expired and mis-addressed tokens are refused;
 * roles cannot be escalated; limits trip; card numbers are refused on every input surface; and
 * every privileged action leaves an audit entry.
 */
import { readFileSync } from 'node:fs';
import { generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeEachDatabase } from '../support/databases.js';
import { errorCode, key, startHarness, type Harness } from '../support/harness.js';
import { CAPTURE, COMPLETE_3DS, CONFIRM, CREATE, FAIL_3DS, PAYMENT, REFUND, TRIAL_BALANCE, VOID } from './fragments.js';

const AUDIT = `query($target: ID) { auditLog(targetId: $target) { nodes { action actorSubject actorRoles targetType targetId before after requestId } } }`;

describeEachDatabase('security', (dialect) => {
  let h: Harness;
  let alice: string;
  let bob: string;
  let support: string;
  let finance: string;
  let service: string;
  let n = 0;

  beforeAll(async () => {
    h = await startHarness(dialect, { SUPPORT_REFUND_LIMITS: 'USD:1000' });
    alice = await h.token({ sub: 'cus_alice', roles: ['learner'] });
    bob = await h.token({ sub: 'cus_bob', roles: ['learner'] });
    support = await h.token({ sub: 'staff_sam', roles: ['support'] });
    finance = await h.token({ sub: 'staff_fin', roles: ['finance'] });
    service = await h.token({ sub: 'svc_web', roles: ['service'] });
  });
  afterAll(async () => h?.close());

  async function checkout(as: string, token = 'tok_visa', extra: Record<string, unknown> = {}) {
    const created = await h.gql(CREATE, { input: { country: 'US', items: [{ priceId: 'price_ml_certificate_usd', quantity: 1 }], idempotencyKey: key('c'), ...extra } }, { as });
    expect(created.errors).toBeUndefined();
    const session = created.data!.createCheckoutSession.checkoutSession;
    const confirmed = await h.gql(CONFIRM, { input: { sessionId: session.id, paymentMethodToken: token, idempotencyKey: key('f') } }, { as });
    expect(confirmed.errors).toBeUndefined();
    return { session, payment: confirmed.data!.confirmCheckoutSession.payment };
  }

  /** A token with arbitrary claims and header, signed with this instance's development key. */
  async function forge(claims: Record<string, unknown>, options: { readonly key?: 'dev' | 'other'; readonly alg?: string } = {}) {
    const jwk = JSON.parse(readFileSync(h.app.config.authDevKeyFile, 'utf8')) as JWK;
    const now = Math.floor(Date.now() / 1000);
    const payload = { iss: h.app.config.authIssuer, aud: h.app.config.authAudience, sub: 'cus_alice', roles: ['learner'], iat: now, exp: now + 600, ...claims };
    for (const k of Object.keys(payload)) if ((payload as Record<string, unknown>)[k] === undefined) delete (payload as Record<string, unknown>)[k];
    if (options.key === 'other') {
      const other = await generateKeyPair('ES256');
      return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid: jwk.kid }).sign(other.privateKey);
    }
    return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid: jwk.kid }).sign(await importJWK(jwk, 'ES256'));
  }

  describe('authentication', () => {
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

    it('refuses a request without a token for anything but the public catalog', async () => {
      expect(errorCode(await h.gql(`{ trialBalance { balanced } }`, {}, { as: 'anonymous' }))).toBe('UNAUTHENTICATED');
      expect(errorCode(await h.gql(CREATE, { input: { customerId: 'cus_alice', country: 'US', items: [{ priceId: 'price_ml_certificate_usd', quantity: 1 }], idempotencyKey: key() } }, { as: 'anonymous' }))).toBe('UNAUTHENTICATED');
      const catalog = await h.gql(`{ prices(country: "US") { id } }`, {}, { as: 'anonymous' });
      expect(catalog.errors).toBeUndefined();
    });

    it.each([
      ['expired', { exp: Math.floor(Date.now() / 1000) - 3600, iat: Math.floor(Date.now() / 1000) - 7200 }],
      ['not yet valid', { nbf: Math.floor(Date.now() / 1000) + 3600 }],
      ['from another issuer', { iss: 'https://evil.example.com' }],
      ['for another audience', { aud: 'someone-else' }],
      ['without a subject', { sub: undefined }],
      ['with no known role', { roles: ['superuser'] }],
      ['for a learner whose subject is not a customer', { sub: 'staff_mallory' }],
      ['combining learner with admin', { roles: ['learner', 'admin'] }],
    ])('refuses a token %s', async (_label, claims) => {
      const token = await forge(claims);
      const res = await h.gql(`{ viewer { subject } }`, {}, { as: token });
      expect(res.status).toBe(401);
      expect(errorCode(res)).toBe('UNAUTHENTICATED');
    });

    it('refuses a token signed by another key', async () => {
      const res = await h.gql(`{ viewer { subject } }`, {}, { as: await forge({ roles: ['admin'], sub: 'staff_x' }, { key: 'other' }) });
      expect(errorCode(res)).toBe('UNAUTHENTICATED');
    });

    it('refuses an unsigned token (alg: none)', async () => {
      const now = Math.floor(Date.now() / 1000);
      const token = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ iss: h.app.config.authIssuer, aud: h.app.config.authAudience, sub: 'staff_x', roles: ['admin'], exp: now + 600 })}.`;
      expect(errorCode(await h.gql(`{ viewer { subject } }`, {}, { as: token }))).toBe('UNAUTHENTICATED');
    });

    it('refuses a tampered token (claims changed, signature kept)', async () => {
      const [header, , signature] = alice.split('.');
      const now = Math.floor(Date.now() / 1000);
      const tampered = `${header}.${b64({ iss: h.app.config.authIssuer, aud: h.app.config.authAudience, sub: 'cus_alice', roles: ['admin'], exp: now + 600 })}.${signature}`;
      expect(errorCode(await h.gql(`{ viewer { subject } }`, {}, { as: tampered }))).toBe('UNAUTHENTICATED');
    });

    it('refuses a malformed Authorization header', async () => {
      const res = await h.gql(`{ viewer { subject } }`, {}, { as: 'anonymous', headers: { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` } });
      expect(errorCode(res)).toBe('UNAUTHENTICATED');
    });

    it('tells a valid caller who they are', async () => {
      const res = await h.gql(`{ viewer { subject roles customerId kind } }`, {}, { as: alice });
      expect(res.data!.viewer).toEqual({ subject: 'cus_alice', roles: ['learner'], customerId: 'cus_alice', kind: 'customer' });
    });
  });

  describe("another customer's objects", () => {
    it('are invisible: reads return nothing and writes NOT_FOUND, exactly as for ids that do not exist', async () => {
      const { session, payment } = await checkout(alice, 'tok_threeDSecure2Required');
      const ghostPayment = 'pay_01JZZZZZZZZZZZZZZZZZZZZZZZ';
      const ghostSession = 'cs_01JZZZZZZZZZZZZZZZZZZZZZZZ';
      for (const [id, ghost] of [[payment.id, ghostPayment]] as const) {
        const theirs = await h.gql(PAYMENT.replace('ledgerTransactions { id kind entries { account debit credit amount { amount currency decimal } } }', ''), { id }, { as: bob });
        const none = await h.gql(PAYMENT.replace('ledgerTransactions { id kind entries { account debit credit amount { amount currency decimal } } }', ''), { id: ghost }, { as: bob });
        expect(theirs).toEqual(none);
        expect(theirs.data!.payment).toBeNull();
      }
      const sq = `query($id: ID!) { checkoutSession(id: $id) { id } }`;
      expect((await h.gql(sq, { id: session.id }, { as: bob })).data!.checkoutSession).toBeNull();
      expect((await h.gql(sq, { id: ghostSession }, { as: bob })).data!.checkoutSession).toBeNull();
      for (const [mutation, input] of [
        [CONFIRM, { sessionId: session.id, paymentMethodToken: 'tok_visa' }],
        [CONFIRM, { sessionId: ghostSession, paymentMethodToken: 'tok_visa' }],
        [COMPLETE_3DS, { paymentId: payment.id }],
        [COMPLETE_3DS, { paymentId: ghostPayment }],
        [FAIL_3DS, { paymentId: payment.id }],
        [FAIL_3DS, { paymentId: ghostPayment }],
      ] as const) {
        const res = await h.gql(mutation, { input: { ...input, idempotencyKey: key() } }, { as: bob });
        expect(errorCode(res)).toBe('NOT_FOUND');
        expect(res.errors![0]!.message).not.toContain('cus_alice');
      }
      const list = `query($c: ID!) { customerPayments(customerId: $c) { nodes { id } } }`;
      expect(errorCode(await h.gql(list, { c: 'cus_alice' }, { as: bob }))).toBe('NOT_FOUND');
      expect(errorCode(await h.gql(list, { c: 'cus_nobody' }, { as: bob }))).toBe('NOT_FOUND');
      expect((await h.gql(list, { c: 'cus_alice' }, { as: alice })).data!.customerPayments.nodes.length).toBeGreaterThan(0);
    });

    it('cannot be created in their name', async () => {
      const res = await h.gql(CREATE, { input: { customerId: 'cus_alice', country: 'US', items: [{ priceId: 'price_ml_certificate_usd', quantity: 1 }], idempotencyKey: key() } }, { as: bob });
      expect(errorCode(res)).toBe('FORBIDDEN');
    });

    it('do not share idempotency keys: the same key from two callers is two requests', async () => {
      const k = key('shared');
      const input = { country: 'US', items: [{ priceId: 'price_ml_certificate_usd', quantity: 1 }], idempotencyKey: k };
      const a = await h.gql(CREATE, { input }, { as: alice });
      const b = await h.gql(CREATE, { input }, { as: bob });
      expect(a.errors).toBeUndefined();
      expect(b.errors).toBeUndefined();
      expect(b.data!.createCheckoutSession.checkoutSession.id).not.toBe(a.data!.createCheckoutSession.checkoutSession.id);
      expect(b.data!.createCheckoutSession.checkoutSession.customerId).toBe('cus_bob');
    });
  });

  describe('roles', () => {
    it('keep learners away from money movements, the ledger and the audit log', async () => {
      const { payment } = await checkout(alice);
      for (const [mutation, input] of [
        [CAPTURE, { paymentId: payment.id }],
        [VOID, { paymentId: payment.id }],
        [REFUND, { paymentId: payment.id, amount: 100 }],
      ] as const) {
        expect(errorCode(await h.gql(mutation, { input: { ...input, idempotencyKey: key() } }, { as: alice }))).toBe('FORBIDDEN');
      }
      expect(errorCode(await h.gql(TRIAL_BALANCE, {}, { as: alice }))).toBe('FORBIDDEN');
      expect(errorCode(await h.gql(AUDIT, {}, { as: alice }))).toBe('FORBIDDEN');
      expect(errorCode(await h.gql(PAYMENT, { id: payment.id }, { as: alice }))).toBe('FORBIDDEN'); // its ledger entries
    });

    it('let support read everything and refund within the configured limit only', async () => {
      const { payment } = await checkout(alice);
      const read = await h.gql(`query($id: ID!) { payment(id: $id) { id status } }`, { id: payment.id }, { as: support });
      expect(read.data!.payment.status).toBe('succeeded');
      const before = await h.snapshot();
      expect(errorCode(await h.gql(REFUND, { input: { paymentId: payment.id, amount: 1001, idempotencyKey: key() } }, { as: support }))).toBe('REFUND_LIMIT_EXCEEDED');
      expect(await h.snapshot()).toEqual(before);
      const ok = await h.gql(REFUND, { input: { paymentId: payment.id, amount: 1000, idempotencyKey: key() } }, { as: support });
      expect(ok.errors).toBeUndefined();
      expect(errorCode(await h.gql(CAPTURE, { input: { paymentId: payment.id, idempotencyKey: key() } }, { as: support }))).toBe('FORBIDDEN');
    });

    it('let finance read the ledger and audit log but move no money', async () => {
      const { payment } = await checkout(alice);
      expect((await h.gql(TRIAL_BALANCE, {}, { as: finance })).data!.trialBalance.balanced).toBe(true);
      expect((await h.gql(AUDIT, {}, { as: finance })).errors).toBeUndefined();
      expect(errorCode(await h.gql(REFUND, { input: { paymentId: payment.id, amount: 100, idempotencyKey: key() } }, { as: finance }))).toBe('FORBIDDEN');
      expect(errorCode(await h.gql(CREATE, { input: { customerId: 'cus_alice', country: 'US', items: [{ priceId: 'price_ml_certificate_usd', quantity: 1 }], idempotencyKey: key() } }, { as: finance }))).toBe('FORBIDDEN');
    });

    it('let an internal service check out on a customer’s behalf and capture', async () => {
      const { payment } = await checkout(service, 'tok_visa', { customerId: 'cus_carol', captureMethod: 'manual' });
      const captured = await h.gql(CAPTURE, { input: { paymentId: payment.id, idempotencyKey: key() } }, { as: service });
      expect(captured.data!.capturePayment.payment.status).toBe('succeeded');
      expect(errorCode(await h.gql(TRIAL_BALANCE, {}, { as: service }))).toBe('FORBIDDEN');
    });
  });

  describe('audit log', () => {
    it('records every capture, void and refund with actor, role, target, before/after and request id', async () => {
      const a = await checkout(service, 'tok_visa', { customerId: 'cus_dan', captureMethod: 'manual' });
      await h.gql(CAPTURE, { input: { paymentId: a.payment.id, amount: 2000, idempotencyKey: key() } }, { as: service, headers: { 'x-request-id': 'req-capture-1' } });
      const b = await checkout(service, 'tok_visa', { customerId: 'cus_dan', captureMethod: 'manual' });
      await h.gql(VOID, { input: { paymentId: b.payment.id, idempotencyKey: key() } });
      await h.gql(REFUND, { input: { paymentId: a.payment.id, amount: 500, idempotencyKey: key() } }, { as: support });

      const forA = (await h.gql(AUDIT, { target: a.payment.id }, { as: finance })).data!.auditLog.nodes;
      expect(forA.map((e: { action: string }) => e.action)).toEqual(['payment.refund', 'payment.capture']);
      expect(forA[1]).toMatchObject({ actorSubject: 'svc_web', actorRoles: ['service'], targetType: 'payment', targetId: a.payment.id, requestId: 'req-capture-1' });
      expect(JSON.parse(forA[1].before)).toMatchObject({ status: 'requires_capture' });
      expect(JSON.parse(forA[1].after)).toMatchObject({ requested: 2000 });
      expect(forA[0]).toMatchObject({ actorSubject: 'staff_sam', actorRoles: ['support'] });
      const forB = (await h.gql(AUDIT, { target: b.payment.id }, { as: finance })).data!.auditLog.nodes;
      expect(forB.map((e: { action: string }) => e.action)).toEqual(['payment.void']);
      expect(forB[0].actorSubject).toBe('staff_test_admin');
    });
  });

  describe('personal data', () => {
    const BILLING = { name: 'Ada Lovelace', email: 'ada.lovelace@example.com', address: { line1: '12 Analytical Engine Row', city: 'London', postalCode: 'N1 9GU', country: 'GB' } };
    const Q = `query($id: ID!) { checkoutSession(id: $id) { id billingDetails { name email address { line1 city postalCode country } } } }`;

    it('is stored encrypted, shown to the learner and support, and to nobody else', async () => {
      const created = await h.gql(
        `mutation($input: CreateCheckoutSessionInput!) { createCheckoutSession(input: $input) { checkoutSession { id } } }`,
        { input: { country: 'GB', items: [{ priceId: 'price_ml_certificate_usd', quantity: 1 }], billingDetails: BILLING, idempotencyKey: key() } },
        { as: alice },
      );
      expect(created.errors).toBeUndefined();
      const id = created.data!.createCheckoutSession.checkoutSession.id;
      const raw = await h.app.db.kysely.selectFrom('checkout_sessions').select('billing_details').where('id', '=', id).executeTakeFirstOrThrow();
      expect(raw.billing_details).toMatch(/^v1\./);
      for (const plain of ['Lovelace', 'lovelace', 'Analytical']) expect(raw.billing_details).not.toContain(plain);
      const replays = await h.app.db.kysely.selectFrom('idempotency_keys').select('response').execute();
      for (const r of replays) expect(r.response ?? '').not.toContain('lovelace');

      expect((await h.gql(Q, { id }, { as: alice })).data!.checkoutSession.billingDetails).toMatchObject({ name: 'Ada Lovelace', email: 'ada.lovelace@example.com' });
      expect((await h.gql(Q, { id }, { as: support })).data!.checkoutSession.billingDetails.address.city).toBe('London');
      expect((await h.gql(Q, { id }, { as: finance })).data!.checkoutSession.billingDetails).toBeNull();
      expect((await h.gql(Q, { id }, { as: bob })).data!.checkoutSession).toBeNull();
    });

    it('is validated with typed errors that never echo the values', async () => {
      const res = await h.gql(CREATE, { input: { country: 'GB', items: [{ priceId: 'price_ml_certificate_usd', quantity: 1 }], billingDetails: { ...BILLING, email: 'not-an-email-lovelace' }, idempotencyKey: key() } }, { as: alice });
      expect(errorCode(res)).toBe('VALIDATION_FAILED');
      expect(JSON.stringify(res.errors)).not.toContain('lovelace');
    });
  });

  describe('card numbers', () => {
    const CARD = '4111 1111 1111 1111';
    it.each([
      ['customerId', (c: string) => ({ query: CREATE, variables: { input: { customerId: c, country: 'US', items: [{ priceId: 'price_ml_certificate_usd', quantity: 1 }], idempotencyKey: key() } } })],
      ['country', (c: string) => ({ query: CREATE, variables: { input: { country: c, items: [{ priceId: 'price_ml_certificate_usd', quantity: 1 }], idempotencyKey: key() } } })],
      ['priceId', (c: string) => ({ query: CREATE, variables: { input: { country: 'US', items: [{ priceId: c, quantity: 1 }], idempotencyKey: key() } } })],
      ['couponCode', (c: string) => ({ query: CREATE, variables: { input: { country: 'US', items: [{ priceId: 'price_ml_certificate_usd', quantity: 1 }], couponCode: c, idempotencyKey: key() } } })],
      ['idempotencyKey', (c: string) => ({ query: CREATE, variables: { input: { country: 'US', items: [{ priceId: 'price_ml_certificate_usd', quantity: 1 }], idempotencyKey: c } } })],
      ['paymentMethodToken', (c: string) => ({ query: CONFIRM, variables: { input: { sessionId: 'cs_01JZZZZZZZZZZZZZZZZZZZZZZZ', paymentMethodToken: c, idempotencyKey: key() } } })],
      ['refund reason', (c: string) => ({ query: REFUND, variables: { input: { paymentId: 'pay_01JZZZZZZZZZZZZZZZZZZZZZZZ', reason: c, idempotencyKey: key() } } })],
      ['billing details', (c: string) => ({ query: CREATE, variables: { input: { country: 'US', items: [{ priceId: 'price_ml_certificate_usd', quantity: 1 }], billingDetails: { name: 'x', email: 'x@example.com', address: { line1: c, city: 'x', postalCode: '1', country: 'US' } }, idempotencyKey: key() } } })],
      ['the refund amount (as a number)', (_c: string) => ({ query: REFUND, variables: { input: { paymentId: 'pay_01JZZZZZZZZZZZZZZZZZZZZZZZ', amount: 4111111111111111, idempotencyKey: key() } } })],
      ['an inline literal', (c: string) => ({ query: `{ prices(country: "${c}") { id } }`, variables: {} })],
    ])('are refused in %s, before anything is written', async (_field, build) => {
      const before = await h.snapshot();
      const { query, variables } = build(CARD);
      const res = await h.gql(query, variables, { as: alice });
      expect(errorCode(res)).toBe('CARD_DATA_REFUSED');
      expect(JSON.stringify(res)).not.toContain('4111');
      expect(await h.snapshot()).toEqual(before);
    });

    it('are refused in a GET query string', async () => {
      const res = await h.server.inject({ method: 'GET', url: `/graphql?query=${encodeURIComponent('{ prices(country: "4111111111111111") { id } }')}` });
      expect(res.json().errors[0].extensions.code).toBe('CARD_DATA_REFUSED');
    });
  });

  describe('GraphQL abuse', () => {
    it('refuses alias bombs, deep nesting and huge lists', async () => {
      // Each is the caller's mistake, answered as any invalid operation is (never a server error).
      const aliases = await h.gql(`{ ${Array.from({ length: 100 }, (_, i) => `a${i}: viewer { subject }`).join(' ')} }`, {}, { as: alice });
      expect(aliases.data ?? null).toBeNull();
      expect(aliases.status).toBeLessThan(500);
      expect(errorCode(aliases)).toBe('GRAPHQL_VALIDATION_FAILED');
      let deep = 'id';
      for (let i = 0; i < 8; i++) deep = `checkoutSession { payment { ${deep} } }`;
      const nested = await h.gql(`{ payment(id: "pay_01JZZZZZZZZZZZZZZZZZZZZZZZ") { ${deep} } }`, {}, { as: alice });
      expect(nested.data ?? null).toBeNull();
      expect(nested.status).toBeLessThan(500);
      expect(errorCode(nested)).toBe('GRAPHQL_VALIDATION_FAILED');
      const items = Array.from({ length: 5000 }, (_, i) => ({ priceId: `price_x${i}`, quantity: 1 }));
      const huge = await h.gql(CREATE, { input: { country: 'US', items, idempotencyKey: key() } }, { as: alice });
      expect(errorCode(huge)).toBe('INPUT_TOO_LARGE');
    });
  });

  describe('limits', () => {
    let limited: Harness;
    beforeAll(async () => {
      limited = await startHarness(dialect, { RATE_LIMIT_CHECKOUT_PER_CUSTOMER: '3', RATE_LIMIT_CHECKOUT_PER_IP: '1000', CARD_TESTING_MAX_FAILURES: '3' });
    });
    afterAll(async () => limited?.close());

    it('rate-limits checkout per customer', async () => {
      const as = await limited.token({ sub: `cus_rl_${++n}`, roles: ['learner'] });
      const create = () => limited.gql(CREATE, { input: { country: 'US', items: [{ priceId: 'price_ml_certificate_usd', quantity: 1 }], idempotencyKey: key() } }, { as });
      for (let i = 0; i < 3; i++) expect((await create()).errors).toBeUndefined();
      const refused = await create();
      expect(errorCode(refused)).toBe('RATE_LIMITED');
      expect(refused.status).toBe(200);
    });

    it('blocks a customer and their IP after repeated declines (card testing), even with a good card', async () => {
      const customerId = `cus_ct_${++n}`;
      const as = await limited.token({ sub: customerId, roles: ['learner'] });
      const session = async () => (await limited.gql(CREATE, { input: { country: 'US', items: [{ priceId: 'price_ml_certificate_usd', quantity: 1 }], idempotencyKey: key() } }, { as })).data!.createCheckoutSession.checkoutSession;
      // one session per attempt, to stay under the per-customer rate limit of this harness
      for (let i = 0; i < 3; i++) {
        const s = await session();
        await limited.gql(CONFIRM, { input: { sessionId: s.id, paymentMethodToken: 'tok_chargeDeclined', idempotencyKey: key() } }, { as });
        limited.clock.advance(61_000);
      }
      const s = await session();
      const blocked = await limited.gql(CONFIRM, { input: { sessionId: s.id, paymentMethodToken: 'tok_visa', idempotencyKey: key() } }, { as });
      expect(errorCode(blocked)).toBe('CARD_TESTING_BLOCKED');
      expect(blocked.errors![0]!.extensions!.details).toHaveProperty('retryAfterSeconds');
      // another learner from the same address is blocked too (per IP)
      const other = await limited.token({ sub: `cus_ct_${++n}`, roles: ['learner'] });
      const os = (await limited.gql(CREATE, { input: { country: 'US', items: [{ priceId: 'price_ml_certificate_usd', quantity: 1 }], idempotencyKey: key() } }, { as: other })).data!.createCheckoutSession.checkoutSession;
      expect(errorCode(await limited.gql(CONFIRM, { input: { sessionId: os.id, paymentMethodToken: 'tok_visa', idempotencyKey: key() } }, { as: other }))).toBe('CARD_TESTING_BLOCKED');
      // the block ends
      limited.clock.advance(limited.app.config.cardTestingBlockSeconds * 1000 + 1);
      const fresh = await session();
      const after = await limited.gql(CONFIRM, { input: { sessionId: fresh.id, paymentMethodToken: 'tok_visa', idempotencyKey: key() } }, { as });
      expect(after.errors).toBeUndefined();
    });
  });
});

describe('log scan', () => {
  it('finds card numbers, tokens, key material and personal data, naming only where', async () => {
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { scanLogs } = await import('../support/global-setup.js');
    const dir = mkdtempSync(join(tmpdir(), 'obol-scan-'));
    try {
      writeFileSync(join(dir, 'clean.log'), '{"level":"info","msg":"request","path":"/graphql"}\n');
      expect(scanLogs(dir)).toEqual([]);
      writeFileSync(
        join(dir, 'leaky.log'),
        ['{"msg":"card 4242 4242 4242 4242"}', '{"auth":"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJjdXNfYSJ9.sig"}', '{"jwk":{"d":"AAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}', '{"email":"ada.lovelace@example.com"}'].join('\n'),
      );
      const findings = scanLogs(dir);
      expect(findings).toEqual(['leaky.log:1: a card number', 'leaky.log:2: a bearer token', 'leaky.log:3: private key material', 'leaky.log:4: personal data']);
      expect(findings.join('\n')).not.toContain('4242');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
