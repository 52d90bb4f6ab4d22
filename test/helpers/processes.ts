import { spawn, type ChildProcess } from 'node:child_process';
import { THAW_BIN } from './fixtures.js';

export interface Spawned {
  readonly child: ChildProcess;
  /** stdout and stderr so far, interleaved. */
  output(): string;
  readonly exited: Promise<number | null>;
}

/** `thaw …` as its own process (the backend it picks, no disk feature cache unless `env` says so). */
export function thawProcess(cwd: string, env: Record<string, string>, ...args: string[]): Spawned {
  const child = spawn(process.execPath, [THAW_BIN, ...args], {
    cwd,
    env: { ...process.env, THAW_TEST_BACKEND: undefined, THAW_FEATURE_CACHE_DISK_MB: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

/** Waits until `condition` holds, polling every 50 ms. */
export async function until(condition: () => boolean, what: string, timeoutMs = 120_000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
