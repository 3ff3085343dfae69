// Regenerates the README's configuration table from CONFIG_REFERENCE (the single source).
// Usage: npm run build && node scripts/config-reference.mjs
import { readFileSync, writeFileSync } from 'node:fs';
import { CONFIG_REFERENCE } from '../dist/platform/config.js';
import { renderConfigTable } from '../dist/platform/config-doc.js';

const path = new URL('../README.md', import.meta.url);
const readme = readFileSync(path, 'utf8');
const start = '<!-- config-reference:start -->';
const end = '<!-- config-reference:end -->';
const before = readme.slice(0, readme.indexOf(start) + start.length);
const after = readme.slice(readme.indexOf(end));
writeFileSync(path, `${before}\n${renderConfigTable(CONFIG_REFERENCE)}\n${after}`);
console.log(`README.md: ${CONFIG_REFERENCE.length} variables`);
