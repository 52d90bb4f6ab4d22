import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { injectable } from 'inversify';
import { z } from 'zod';
import {
  SeededRandom,
  ThawError,
  type DatasetContext,
  type DatasetFacts,
  type DatasetPlugin,
  type DatasetSplits,
  type ImageSplit,
  inMemorySplit,
} from '@thaw/core';
import { readIdx, type IdxData } from './idx-file.js';
import { FASHION_MNIST_FILES, FASHION_MNIST_URL, findFashionMnist, type FashionMnistFolder } from './fashion-mnist-files.js';

export const FASHION_MNIST_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
] as const;

const perClass = (what: string) =>
  z
    .number()
    .int({ error: `expected an integer (${what})` })
    .min(1, { error: `expected at least 1 (${what})` });

const optionsSchema = z.strictObject({
  classes: z
    .array(z.number().int().min(0).max(9), { error: 'expected a list of class indices 0–9' })
    .min(2, { error: 'expected at least 2 classes' })
    .refine((list) => new Set(list).size === list.length, { error: 'expected each class once' })
    .default([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    .describe('class indices to use (0 T-shirt/top … 9 Ankle boot); labels follow this order'),
  trainPerClass: perClass('training images per class').optional().describe('training images per class (default: all that remain)'),
  validationPerClass: perClass('validation images per class')
    .default(100)
    .describe('validation images per class, drawn from the training file'),
  testPerClass: perClass('test images per class').optional().describe('test images per class, from the test file (default: all)'),
  splitSeed: z
    .number()
    .int()
    .min(0)
    .default(0)
    .describe('seed of the sampling into train/validation/test; fixed by default, so trials of different seeds see the same images'),
  path: z.string().min(1).optional().describe('folder with the four IDX .gz files, relative to the spec'),
  download: z.boolean().default(true).describe('download into the cache when no local copy is found'),
  url: z.url().default(FASHION_MNIST_URL).describe('where to download from'),
});
type Options = z.output<typeof optionsSchema>;

/** Fashion-MNIST from its IDX files: class subsets, per-class caps, seeded stratified splits. */
@injectable()
export class FashionMnistDataset implements DatasetPlugin<Options> {
  readonly id = 'fashion-mnist';
  readonly description =
    'Fashion-MNIST (28×28 grey images, 10 classes) from IDX files: local path, cache, Debian package, download, or a bundled subset';
  readonly optionsSchema = optionsSchema;

  /** Finds the files and draws the splits from the label files alone, so that per-class counts are refused before any run. */
  async check(options: Options, context: DatasetContext): Promise<DatasetFacts> {
    const folder = await this.folder(options, context);
    const [trainLabels, testLabels] = await Promise.all(
      [FASHION_MNIST_FILES.trainLabels, FASHION_MNIST_FILES.testLabels].map((file) => readIdx(join(folder.dir, file))),
    );
    const splits = drawSplits(options, trainLabels!, testLabels!, folder, context.where);
    const count = (lists: number[][]) => lists.reduce((sum, list) => sum + list.length, 0);
    return {
      inputShape: [28, 28, 1],
      classNames: options.classes.map((label) => FASHION_MNIST_CLASSES[label]!),
      counts: { train: count(splits.train), validation: count(splits.validation), test: count(splits.test) },
      source: sourceOf(folder),
    };
  }

  async load(options: Options, context: DatasetContext): Promise<DatasetSplits> {
    const folder = await this.folder(options, context);
    const [trainImages, trainLabels, testImages, testLabels] = await Promise.all(
      [
        FASHION_MNIST_FILES.trainImages,
        FASHION_MNIST_FILES.trainLabels,
        FASHION_MNIST_FILES.testImages,
        FASHION_MNIST_FILES.testLabels,
      ].map((file) => readIdx(join(folder.dir, file))),
    );
    checkPair(trainImages!, trainLabels!, join(folder.dir, FASHION_MNIST_FILES.trainImages));
    checkPair(testImages!, testLabels!, join(folder.dir, FASHION_MNIST_FILES.testImages));
    const { train, validation, test } = drawSplits(options, trainLabels!, testLabels!, folder, context.where);
    return {
      train: toTensors(trainImages!, train),
      validation: toTensors(trainImages!, validation),
      test: toTensors(testImages!, test),
      classNames: options.classes.map((label) => FASHION_MNIST_CLASSES[label]!),
      source: sourceOf(folder),
    };
  }

  private folder(options: Options, context: DatasetContext): Promise<FashionMnistFolder> {
    return findFashionMnist({
      ...(options.path === undefined ? {} : { path: options.path }),
      download: options.download,
      url: options.url,
      specDir: context.specDir,
      where: context.where,
      log: context.log,
    });
  }
}

function sourceOf(folder: FashionMnistFolder): string {
  return `${folder.description}${folder.subset ? ' — a subset: install dataset-fashion-mnist or set data.path for the full set' : ''}`;
}

/** Seeded, stratified indices per class of train, validation (from the training file) and test. */
function drawSplits(options: Options, trainLabels: IdxData, testLabels: IdxData, folder: FashionMnistFolder, where: string) {
  const random = new SeededRandom(options.splitSeed ^ 0xda7a);
  const pools = options.classes.map((label) => indicesOf(trainLabels, label));
  const testPools = options.classes.map((label) => indicesOf(testLabels, label));
  const train: number[][] = [];
  const validation: number[][] = [];
  const test: number[][] = [];
  options.classes.forEach((label, c) => {
    const pool = shuffle(pools[c]!, random);
    const validationCount = options.validationPerClass;
    const remaining = pool.length - validationCount;
    const trainCount = options.trainPerClass ?? remaining;
    if (validationCount + trainCount > pool.length) {
      throw new ThawError(
        `${where}: class ${label} (${FASHION_MNIST_CLASSES[label]}) has ${pool.length} training images in ${folder.description}; ` +
          `received trainPerClass ${trainCount} + validationPerClass ${validationCount}, expected at most ${pool.length} together`,
      );
    }
    validation.push(pool.slice(0, validationCount));
    train.push(pool.slice(validationCount, validationCount + trainCount));
    const testPool = shuffle(testPools[c]!, random);
    const testCount = options.testPerClass ?? testPool.length;
    if (testCount > testPool.length) {
      throw new ThawError(
        `${where}.testPerClass: received ${testCount}, but class ${label} has ${testPool.length} test images in ${folder.description}`,
      );
    }
    test.push(testPool.slice(0, testCount));
  });
  return { train, validation, test };
}

function checkPair(images: IdxData, labels: IdxData, file: string): void {
  if (images.dims.length !== 3 || images.dims[1] !== 28 || images.dims[2] !== 28) {
    throw new ThawError(`${file}: images of shape [${images.dims.join(', ')}]; expected [n, 28, 28]`);
  }
  if (labels.dims.length !== 1 || labels.dims[0] !== images.dims[0]) {
    throw new ThawError(`${file}: ${images.dims[0]} images but ${labels.dims[0]} labels in its label file`);
  }
}

function indicesOf(labels: IdxData, label: number): number[] {
  const out: number[] = [];
  labels.data.forEach((value, index) => {
    if (value === label) out.push(index);
  });
  return out;
}

function shuffle(indices: readonly number[], random: SeededRandom): number[] {
  const order = random.permutation(indices.length);
  return Array.from(order, (i) => indices[i]!);
}

/** Images as float32 in [0, 1], [n, 28, 28, 1]; labels are positions in `byClass` (the class order of the spec). */
function toTensors(images: IdxData, byClass: readonly number[][]): ImageSplit {
  const count = byClass.reduce((sum, list) => sum + list.length, 0);
  const pixels = new Float32Array(count * 784);
  const labels = new Int32Array(count);
  let row = 0;
  byClass.forEach((list, c) => {
    for (const index of list) {
      const image = images.data.subarray(index * 784, (index + 1) * 784);
      for (let p = 0; p < 784; p++) pixels[row * 784 + p] = image[p]! / 255;
      labels[row] = c;
      row++;
    }
  });
  return inMemorySplit(tf.tensor4d(pixels, [count, 28, 28, 1]), labels);
}
