/** Child `obol` processes in end-to-end tests: they log JSON lines, and tests wait for the one that says they are ready. */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';

export const OBOL_BIN = new URL('../../bin/obol.js', import.meta.url).pathname;

/** Resolves with the first JSON log line `match` accepts; rejects if the process exits first or time runs out. */
export function waitForLine(child: ChildProcessWithoutNullStreams, match: (line: Record<string, unknown>) => boolean, timeoutMs = 20_000): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(() => reject(new Error(`timed out; output so far:\n${buffer}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      buffer += chunk.toString();
      for (const line of buffer.split('\n')) {
        try {
          const parsed = JSON.parse(line) as Record<string, unknown>;
          if (match(parsed)) {
            clearTimeout(timer);
            child.stdout.off('data', onData);
            resolve(parsed);
            return;
          }
        } catch {
          /* not a complete JSON line yet */
        }
      }
    };
    child.stdout.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before the expected line:\n${buffer}`));
    });
  });
}

/**
 * Stops child processes as an orchestrator would: SIGTERM, then SIGKILL for one that has not
 * exited after `graceMs` (a clean stop drains its work; a stuck one must not hang the suite).
 */
export async function stopChildren(children: readonly ChildProcessWithoutNullStreams[], graceMs = 15_000): Promise<void> {
  for (const child of children) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, graceMs))]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}
