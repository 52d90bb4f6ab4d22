import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Container } from 'inversify';
import { stringify } from 'yaml';
import { FileStoreTracker, createThawContainer, loadSpec, type LoadedSpec, type Logger, type Tracker } from '@thaw/core';
import { pluginsModule } from '@thaw/plugins';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const THAW_BIN = join(REPO_ROOT, 'packages/cli/bin/thaw.js');

/** A port on 127.0.0.1 that nothing listens on (yet). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A temporary folder, removed after the suite; `node_modules` links to the repo's so plugin files resolve their imports. */
export async function temporaryFolder(): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'thaw-test-'));
  await symlink(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** A small, fast spec: a tiny CNN on a few Fashion-MNIST images per class. */
export function tinySpec(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'tiny',
    seed: 3,
    data: { plugin: 'fashion-mnist', classes: [0, 1, 2], trainPerClass: 16, validationPerClass: 8, testPerClass: 8 },
    model: { base: { plugin: 'small-convnet', filters: [4, 8] }, head: { dropout: 0.1 } },
    strategy: { plugin: 'fine-tune', unfreeze: 1, batchNorm: 'train' },
    train: { epochs: 2, batchSize: 16, learningRate: 0.01 },
    ...overrides,
  };
}

export async function writeSpec(dir: string, name: string, spec: Record<string, unknown>): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, stringify(spec));
  return file;
}

export async function loadTinySpec(dir: string, overrides: Record<string, unknown> = {}, name = 'tiny.yaml'): Promise<LoadedSpec> {
  return loadSpec(await writeSpec(dir, name, tinySpec(overrides)));
}

export interface RecordingLogger extends Logger {
  readonly lines: string[];
}

export function recordingLogger(): RecordingLogger {
  const lines: string[] = [];
  return { lines, info: (line) => lines.push(line), warn: (line) => lines.push(`warning: ${line}`) };
}

/** A container with the built-in plugins, a file store in `dir/mlruns` and a feature cache in `dir/features`. */
export async function testContainer(
  dir: string,
  logger: Logger = recordingLogger(),
  diskCacheBytes = 0,
  tracker?: Tracker,
): Promise<Container> {
  return createThawContainer({
    tracker: tracker ?? new FileStoreTracker(join(dir, 'mlruns')),
    logger,
    featureCache: { memoryBytes: 64 * 2 ** 20, diskBytes: diskCacheBytes, dir: join(dir, 'features') },
    modules: [{ module: pluginsModule, source: { kind: 'built-in', name: '@thaw/plugins' } }],
  });
}
