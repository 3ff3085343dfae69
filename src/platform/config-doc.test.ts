import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONFIG_REFERENCE } from './config.js';
import { renderConfigTable } from './config-doc.js';

describe('README configuration reference', () => {
  it('lists exactly the variables the code reads (regenerate with scripts/config-reference.mjs)', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    expect(readme).toContain(renderConfigTable(CONFIG_REFERENCE));
  });
});
