/**
 * deploy/Dockerfile cannot be built here (no Docker), so this only checks that what it names
 * exists: the files it copies from the build context (and that .dockerignore keeps them in), the
 * npm scripts it runs, the entry point, and the ports and user the Kubernetes manifests expect.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEPLOY, readYamlDocuments, ROOT } from './support.js';

const dockerfile = readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8');
/** Instructions with their continuation lines joined, comments dropped. */
const instructions = dockerfile
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l !== '' && !l.startsWith('#'))
  .map((l) => {
    const [keyword, ...rest] = l.split(/\s+/);
    return { keyword: keyword!.toUpperCase(), args: rest.join(' ') };
  });
const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l !== '' && !l.startsWith('#'));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string>; dependencies: Record<string, string> };

describe('deploy/Dockerfile', () => {
  it('builds in stages on node:20-bookworm-slim', () => {
    expect(instructions.find((i) => i.keyword === 'ARG' && i.args.startsWith('NODE_IMAGE='))?.args).toBe('NODE_IMAGE=node:20-bookworm-slim');
    const stages = instructions.filter((i) => i.keyword === 'FROM').map((i) => i.args);
    expect(stages).toEqual(['${NODE_IMAGE} AS build', '${NODE_IMAGE} AS runtime']);
  });

  it('copies only files that exist and that .dockerignore lets into the build context', () => {
    const copies = instructions.filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from='));
    expect(copies.length).toBeGreaterThan(3);
    for (const copy of copies) {
      const parts = copy.args.split(/\s+/).filter((p) => !p.startsWith('--'));
      for (const source of parts.slice(0, -1)) {
        expect(existsSync(join(ROOT, source)), `COPY ${source}: no such file in the repository`).toBe(true);
        const top = source.replace(/\/$/, '').split('/')[0]!;
        expect(ignored, `COPY ${source}: .dockerignore excludes it`).not.toContain(top);
      }
    }
    // What the process reads at run time: the launcher, the compiled CLI it imports, the schemas.
    expect(readFileSync(join(ROOT, 'bin', 'obol.js'), 'utf8')).toContain('../dist/cli/main.js');
    expect(dockerfile).toMatch(/COPY --from=build \/app\/dist \.\/dist/);
    expect(dockerfile).toMatch(/COPY schemas \.\/schemas/);
  });

  it('runs npm ci, the build script and a production prune', () => {
    const runs = instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);
    expect(runs.some((r) => r.includes('npm ci'))).toBe(true);
    for (const match of dockerfile.matchAll(/npm run ([a-z:-]+)/g)) expect(Object.keys(pkg.scripts), `npm run ${match[1]}`).toContain(match[1]);
    expect(pkg.scripts.build).toContain('tsconfig.build.json');
    expect(runs.some((r) => r.includes('npm prune --omit=dev'))).toBe(true);
    // The one native addon it rebuilds is a real production dependency.
    for (const match of dockerfile.matchAll(/npm rebuild ([a-z0-9@/-]+)/g)) expect(Object.keys(pkg.dependencies)).toContain(match[1]);
    for (const file of ['tsconfig.json', 'tsconfig.build.json', 'package-lock.json']) expect(existsSync(join(ROOT, file)), file).toBe(true);
  });

  it('starts `node bin/obol.js serve` as the non-root user the manifests expect, exposing their ports', () => {
    expect(instructions.find((i) => i.keyword === 'ENTRYPOINT')?.args).toBe('["node", "bin/obol.js"]');
    expect(instructions.find((i) => i.keyword === 'CMD')?.args).toBe('["serve"]');
    const users = instructions.filter((i) => i.keyword === 'USER');
    expect(users).toHaveLength(1);
    expect(users[0]!.args).toBe('10001:10001');
    // The last stage's last word on the user is that one, after every root-needing step.
    expect(instructions.findIndex((i) => i.keyword === 'USER')).toBeGreaterThan(instructions.map((i) => i.keyword).lastIndexOf('RUN'));
    const [cm] = readYamlDocuments(join(DEPLOY, 'kubernetes', 'configmap.yaml')) as [{ data: Record<string, string> }];
    const exposed = instructions.find((i) => i.keyword === 'EXPOSE')!.args.split(/\s+/).map(Number).sort();
    expect(exposed).toEqual([cm.data.PORT, cm.data.GRPC_PORT, cm.data.OPS_PORT].map(Number).sort());
    const [api] = readYamlDocuments(join(DEPLOY, 'kubernetes', 'api.yaml')) as [{ spec: { template: { spec: { securityContext: { runAsUser: number } } } } }];
    expect(api.spec.template.spec.securityContext.runAsUser).toBe(10001);
  });

  it('keeps secrets and local state out of the build context', () => {
    for (const entry of ['node_modules', 'dist', 'data', '.git', '.env']) expect(ignored).toContain(entry);
  });
});
