import { randomBytes } from 'node:crypto';
import { link, mkdir, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Creates `path` with `content` unless it exists, safely when several processes race (an api and
 * a worker starting together must end up sharing one generated key, not each keeping its own).
 * The content is written under a private name and hard-linked into place: link() fails if the
 * file exists and never exposes a half-written file. On file systems without hard links an
 * exclusive create still keeps the first writer's file. Returns true when this call created it.
 */
export async function writeFileOnce(args: { readonly path: string; readonly content: string; readonly mode: number }): Promise<boolean> {
  await mkdir(dirname(args.path), { recursive: true });
  const temp = `${args.path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(temp, args.content, { mode: args.mode, flag: 'wx' });
  try {
    await link(temp, args.path);
    return true;
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS' && code !== 'EXDEV') throw err;
    try {
      await writeFile(args.path, args.content, { mode: args.mode, flag: 'wx' });
      return true;
    } catch (createErr) {
      if (errnoCode(createErr) === 'EEXIST') return false;
      throw createErr;
    }
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}

function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}
