import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, describeEachDatabase, type TestDatabase } from './databases.js';
import { pendingMigrations } from '../../src/platform/db/index.js';

describeEachDatabase('database set-up', (dialect) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase(dialect);
  });
  afterAll(async () => t?.drop());
  it('migrates a fresh database to the latest schema', async () => {
    expect(await pendingMigrations(t.db)).toEqual([]);
  });
});
