/**
 * Moves every stored envelope onto the active key, the step between adding a new key (first in
 * ENCRYPTION_KEYS) and removing the old one. Run by `obol reencrypt`; safe to run while Obol
 * serves traffic and safe to run again (rows already under the active key are left alone).
 *
 * Each row is rewritten on its own with a compare-and-set on the envelope it read: a use case
 * that writes new details meanwhile wins (its envelope is already under the active key), and no
 * long transaction holds locks over the table.
 */
import type { Db } from '../db/index.js';
import { parseEnvelope, type Keyring } from './keyring.js';
import { ENCRYPTED_COLUMN_NAMES, ENCRYPTED_COLUMNS } from './personal-data.js';

export const DEFAULT_REENCRYPT_BATCH_SIZE = 500;

export interface ReencryptResult {
  /** Rows holding an envelope that were looked at, across every encrypted column. */
  readonly examined: number;
  /** Rows rewritten under the active key (not counting rows a concurrent writer changed first). */
  readonly reencrypted: number;
}

export async function reencryptPersonalData(args: { readonly db: Db; readonly keyring: Keyring; readonly batchSize?: number }): Promise<ReencryptResult> {
  const { db, keyring } = args;
  const batchSize = args.batchSize ?? DEFAULT_REENCRYPT_BATCH_SIZE;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new Error(`reencryptPersonalData: batchSize must be a positive whole number (got ${batchSize})`);
  let examined = 0;
  let reencrypted = 0;
  for (const name of ENCRYPTED_COLUMN_NAMES) {
    const column = ENCRYPTED_COLUMNS[name];
    let afterId: string | null = null;
    for (;;) {
      const rows = await column.page({ db: db.kysely, afterId, limit: batchSize });
      for (const row of rows) {
        examined++;
        const parsed = parseEnvelope(row.envelope);
        // Stop rather than skip: an operator reading "done" would remove the old key and lose this row.
        if (parsed === undefined) throw new Error(`reencrypt: ${name} of row ${row.id} is not an encryption envelope`);
        if (parsed.keyId === keyring.activeKeyId) continue;
        const context = column.context(row.id);
        let plaintext: string;
        try {
          plaintext = keyring.decrypt({ envelope: row.envelope, context });
        } catch (err) {
          throw new Error(`reencrypt: cannot decrypt ${name} of row ${row.id}: ${err instanceof Error ? err.message : 'unknown error'}`);
        }
        const next = keyring.encrypt({ plaintext, context });
        if (await column.swap({ db: db.kysely, id: row.id, from: row.envelope, to: next })) reencrypted++;
      }
      if (rows.length < batchSize) break;
      afterId = rows[rows.length - 1]!.id;
    }
  }
  return Object.freeze({ examined, reencrypted });
}
