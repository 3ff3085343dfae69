import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assertIdempotencyKey, canonicalJson, duplicateWaitMs, fingerprint } from './idempotency.js';

describe('idempotency fingerprints', () => {
  it('do not depend on the order of object keys', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (obj) => {
        const reversed = Object.fromEntries(Object.entries(obj).reverse());
        expect(canonicalJson(reversed)).toBe(canonicalJson(obj));
        expect(fingerprint('op', reversed)).toBe(fingerprint('op', obj));
      }),
    );
  });

  it('differ between operations and between requests', () => {
    expect(fingerprint('a', { x: 1 })).not.toBe(fingerprint('b', { x: 1 }));
    expect(fingerprint('a', { x: 1 })).not.toBe(fingerprint('a', { x: 2 }));
    expect(fingerprint('a', { items: [1, 2] })).not.toBe(fingerprint('a', { items: [2, 1] }));
  });

  it('accept printable keys and refuse empty, spaced or overlong ones with typed errors', () => {
    expect(() => assertIdempotencyKey('550e8400-e29b-41d4-a716-446655440000')).not.toThrow();
    for (const [bad, code] of [
      ['', 'IDEMPOTENCY_KEY_REQUIRED'],
      [undefined, 'IDEMPOTENCY_KEY_REQUIRED'],
      ['has space', 'VALIDATION_FAILED'],
      ['x'.repeat(256), 'VALIDATION_FAILED'],
    ] as const) {
      expect(() => assertIdempotencyKey(bad)).toThrow(expect.objectContaining({ code }));
    }
  });
});

describe('how long a duplicate waits at an API edge', () => {
  it('stays well inside the request timeout, so a waiting duplicate gets a typed answer before its connection is cut', () => {
    expect(duplicateWaitMs(15_000)).toBe(7_500);
    expect(duplicateWaitMs(60_000)).toBe(10_000);
    expect(duplicateWaitMs(1_000)).toBe(500);
    for (const timeout of [1_000, 5_000, 15_000, 30_000, 600_000]) expect(duplicateWaitMs(timeout)).toBeLessThan(timeout);
  });
});

describe('idempotency retention', () => {
  it('forgets completed keys past the retention and keeps in-progress ones', async () => {
    const { createTestDatabase } = await import('../../test/support/databases.js');
    const { purgeIdempotencyKeys } = await import('./idempotency.js');
    const t = await createTestDatabase('sqlite');
    try {
      const row = { operation: 'op', request_hash: 'h'.repeat(64), response: '{}', holder: 'x', created_at: 0, updated_at: 0 };
      await t.db.kysely
        .insertInto('idempotency_keys')
        .values([
          { ...row, scope: 's', idem_key: 'old-done', status: 'completed', locked_until: 1 },
          { ...row, scope: 's', idem_key: 'old-stuck', status: 'in_progress', locked_until: 1 },
          { ...row, scope: 's', idem_key: 'fresh-done', status: 'completed', locked_until: Date.now() },
        ])
        .execute();
      expect(await purgeIdempotencyKeys(t.db)).toBe(1);
      const left = await t.db.kysely.selectFrom('idempotency_keys').select('idem_key').orderBy('idem_key').execute();
      expect(left.map((r) => r.idem_key)).toEqual(['fresh-done', 'old-stuck']);
    } finally {
      await t.drop();
    }
  });
});
