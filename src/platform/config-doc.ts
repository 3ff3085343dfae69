import type { ConfigReferenceEntry } from './config.js';

/** The README's configuration table; a test keeps the README equal to this rendering. */
export function renderConfigTable(entries: readonly ConfigReferenceEntry[]): string {
  const rows = entries.map((e) => `| \`${e.name}\` | ${e.default === '' ? '—' : `\`${e.default}\``} | ${e.description.replace(/\|/g, '\\|')} |`);
  return ['| variable | default | meaning |', '| --- | --- | --- |', ...rows].join('\n');
}
