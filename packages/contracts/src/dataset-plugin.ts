import type * as tf from '@tensorflow/tfjs';
import type { Logger } from './logger.js';
import type { PluginContribution } from './plugin-contribution.js';
import type { DatasetFacts } from './trial-plan.js';

/**
 * One split of a dataset: its labels in memory, its images read a batch at a time — from memory,
 * or decoded from files through a pixel cache — so that no split need fit in memory as float32.
 */
export interface ImageSplit {
  readonly count: number;
  /** Class index of each image, by row. */
  readonly labels: Int32Array;
  /** One image, [height, width, channels]. */
  readonly imageShape: readonly [number, number, number];
  /** The images of these rows, in this order, as float32 in [0, 1] (NHWC); the caller disposes. */
  read(rows: ArrayLike<number>): Promise<tf.Tensor4D>;
  /** Equal keys mean equal images in equal order: the frozen-feature cache keys on it. */
  contentKey(): Promise<string>;
  /** Frees what the split holds (tensors, open files). */
  dispose(): void;
}

export interface DatasetSplits {
  readonly train: ImageSplit;
  readonly validation: ImageSplit;
  readonly test: ImageSplit;
  /** Names of the classes, indexed by label. */
  readonly classNames: readonly string[];
  /** Where the data came from, for the record (a folder, a URL, a bundled subset). */
  readonly source: string;
  /** Counts worth recording (images skipped as unreadable, files ignored …), logged as params `data.<name>`. */
  readonly notes?: Readonly<Record<string, number>>;
}

export interface DatasetContext {
  /** The spec's folder: relative paths in options resolve against it. */
  readonly specDir: string;
  readonly seed: number;
  readonly log: Logger;
  /** `experiments/x.yaml: data`, for error messages. */
  readonly where: string;
  /** The square input size the spec sets for its base (`model.base.size`), when it sets one: the default size of image datasets. */
  readonly baseSize?: number;
}

export const DatasetPlugin = Symbol('DatasetPlugin');
export interface DatasetPlugin<Options = unknown> extends PluginContribution<Options> {
  /**
   * Checks the options against what is on disk (headers, file listings, label files, never the
   * images themselves) and says what `load` will deliver. Runs before any run is recorded, so a
   * mistake here costs nothing. Without it, thaw loads the data once to find out.
   */
  check?(options: Options, context: DatasetContext): Promise<DatasetFacts>;
  /** Loads seeded, stratified train/validation/test splits. Deterministic given the seed. */
  load(options: Options, context: DatasetContext): Promise<DatasetSplits>;
}
