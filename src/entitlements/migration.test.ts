import { describe, expect, it } from 'vitest';
import type { Kysely } from 'kysely';
import { openDatabase } from '../platform/db/index.js';
import * as m0001 from '../platform/db/migrations/0001_foundation.js';
import * as m0011 from '../platform/db/migrations/0011_entitlements.js';

describe('migration 0011 on an install seeded before it', () => {
  it('makes what each product’s resource named, where it is a grantable resource, what it grants', async () => {
    const db = openDatabase({ kind: 'sqlite', file: ':memory:' });
    try {
      const raw = db.kysely as unknown as Kysely<unknown>;
      await m0001.up(raw, 'sqlite');
      const product = (id: string, resource: string) => ({ id, name: id, description: '', kind: 'one_time', resource, active: 1, created_at: 0 });
      await db.kysely
        .insertInto('products')
        .values([product('prod_course', 'course:ml-101'), product('prod_spec', 'specialization:ds'), product('prod_plus', 'catalog:all'), product('prod_other', 'ebook:ml')])
        .execute();
      await m0011.up(raw, 'sqlite');
      const rows = await db.kysely.selectFrom('products').select(['id', 'grants']).orderBy('id').execute();
      expect(rows).toEqual([
        { id: 'prod_course', grants: 'course:ml-101' },
        { id: 'prod_other', grants: null },
        { id: 'prod_plus', grants: 'catalog:all' },
        { id: 'prod_spec', grants: 'specialization:ds' },
      ]);
    } finally {
      await db.close();
    }
  });
});
