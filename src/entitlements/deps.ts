import type { Clock } from '../kernel/index.js';
import type { Db } from '../platform/db/index.js';
import type { EntitlementReadModel } from './read-model.js';

/** What the entitlements context needs: the write side's database, the read model, a clock. */
export interface EntitlementsDeps {
  readonly db: Db;
  readonly clock: Clock;
  readonly readModel: EntitlementReadModel;
}
