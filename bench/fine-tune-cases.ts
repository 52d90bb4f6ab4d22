/**
 * The workloads of bench/fine-tune-speed.ts and bench/profile-train-step.ts, as thaw specs on an
 * in-memory dataset of random images (speed does not depend on the pixels or the weights), and
 * the container that runs them: the built-in plugins plus that dataset.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ContainerModule, type Container } from 'inversify';
import { stringify } from 'yaml';
import { z } from 'zod';
import {
  DatasetPlugin,
  FileStoreTracker,
  createThawContainer,
  inMemorySplit,
  loadSpec,
  silentLogger,
  type DatasetFacts,
  type DatasetSplits,
  type LoadedSpec,
} from '@thaw/core';
import { pluginsModule } from '@thaw/plugins';

export interface SpeedCase {
  readonly name: string;
  readonly description: string;
  readonly imageShape: [number, number, number];
  readonly classes: number;
  /** Training images per epoch. */
  readonly train: number;
  /** The spec's model, strategy and train sections. */
  readonly spec: (epochs: number, cacheFrozen: boolean) => Record<string, unknown>;
}

/** MobileNetV2 as the tutorial fine-tunes it: layers[:100] frozen, BN in inference mode, RMSprop at 1e-5, Dense(1). */
function mobilenet(alpha: number, size: number): SpeedCase {
  return {
    name: `mnv2-${alpha.toFixed(alpha === 1 ? 1 : 2)}-${size}`,
    description: `MobileNetV2 alpha ${alpha} at ${size} px, fineTuneAt 100, BN inference`,
    imageShape: [size, size, 3],
    classes: 2,
    train: 320,
    spec: (epochs, cacheFrozen) => ({
      model: { base: { plugin: 'mobilenet-v2', alpha, size }, head: { pooling: 'average', dropout: 0.2, units: 1 } },
      strategy: { plugin: 'fine-tune', unfreeze: { fineTuneAt: 100 }, batchNorm: 'inference' },
      train: { epochs, batchSize: 32, optimizer: 'rmsprop', learningRate: 1e-5, cacheFrozen },
    }),
  };
}

export const SPEED_CASES: readonly SpeedCase[] = [
  mobilenet(1.0, 160),
  mobilenet(0.35, 96),
  {
    name: 'small-cnn',
    description: 'small-convnet [32, 64, 128] on 28×28×1, everything trained, BN training',
    imageShape: [28, 28, 1],
    classes: 5,
    train: 1600,
    spec: (epochs, cacheFrozen) => ({
      model: { base: { plugin: 'small-convnet', filters: [32, 64, 128] }, head: { dropout: 0.2 } },
      strategy: { plugin: 'fine-tune', unfreeze: 'all', batchNorm: 'train' },
      train: { epochs, batchSize: 32, optimizer: 'adam', learningRate: 1e-3, cacheFrozen },
    }),
  },
];

export function speedCase(name: string): SpeedCase {
  const found = SPEED_CASES.find((c) => c.name === name);
  if (!found) throw new Error(`unknown case ${name}; expected ${SPEED_CASES.map((c) => c.name).join(', ')}`);
  return found;
}

const randomOptions = z.strictObject({
  shape: z.tuple([z.number().int(), z.number().int(), z.number().int()]),
  classes: z.number().int().min(2),
  train: z.number().int().min(1),
  validation: z.number().int().min(1),
  test: z.number().int().min(1),
});
type RandomOptions = z.output<typeof randomOptions>;

/** Seeded uniform images and labels held in memory, as a loaded NumPy array is for Keras. */
const randomDataset: DatasetPlugin<RandomOptions> = {
  id: 'bench-random',
  description: 'random images in memory (benchmarks)',
  optionsSchema: randomOptions,
  check: (options): Promise<DatasetFacts> =>
    Promise.resolve({
      inputShape: options.shape,
      classNames: Array.from({ length: options.classes }, (_, i) => `c${i}`),
      counts: { train: options.train, validation: options.validation, test: options.test },
      source: 'random',
    }),
  load: (options, context): Promise<DatasetSplits> => {
    const split = (count: number, seed: number) => {
      const images = tf.randomUniform<tf.Rank.R4>([count, ...options.shape], 0, 1, 'float32', seed);
      const labels = Int32Array.from({ length: count }, (_, i) => (i * 7 + seed) % options.classes);
      return inMemorySplit(images, labels);
    };
    return Promise.resolve({
      train: split(options.train, context.seed),
      validation: split(options.validation, context.seed + 1),
      test: split(options.test, context.seed + 2),
      classNames: Array.from({ length: options.classes }, (_, i) => `c${i}`),
      source: 'random',
    });
  },
};

const benchModule = new ContainerModule(({ bind }) => {
  bind(DatasetPlugin).toConstantValue(randomDataset);
});

/** A scratch folder, and a container with the built-in plugins, the random dataset and an in-memory feature cache. */
export async function speedContainer(): Promise<{ container: Container; scratch: string; remove: () => Promise<void> }> {
  const scratch = await mkdtemp(join(tmpdir(), 'thaw-speed-'));
  const container = await createThawContainer({
    tracker: new FileStoreTracker(join(scratch, 'mlruns')),
    logger: silentLogger,
    featureCache: { memoryBytes: 2048 * 2 ** 20, diskBytes: 0, dir: join(scratch, 'features') },
    modules: [
      { module: pluginsModule, source: { kind: 'built-in', name: '@thaw/plugins' } },
      { module: benchModule, source: { kind: 'built-in', name: 'bench' } },
    ],
  });
  return { container, scratch, remove: () => rm(scratch, { recursive: true, force: true }) };
}

/** The case as a spec file in `dir`: 32 validation and 32 test images, no augmentation, no early stopping. */
export async function speedSpec(dir: string, c: SpeedCase, epochs: number, cacheFrozen: boolean): Promise<LoadedSpec> {
  const file = join(dir, `${c.name}-${cacheFrozen ? 'cache' : 'nocache'}.yaml`);
  const spec = {
    name: `speed-${c.name}`,
    seed: 1,
    data: { plugin: 'bench-random', shape: c.imageShape, classes: c.classes, train: c.train, validation: 32, test: 32 },
    augment: [],
    ...c.spec(epochs, cacheFrozen),
  };
  await writeFile(file, stringify(spec));
  return loadSpec(file);
}
