import type * as tf from '@tensorflow/tfjs';
import type { Logger } from './logger.js';
import type { PluginContribution } from './plugin-contribution.js';
import type { DatasetFacts } from './trial-plan.js';

/** Images (float32 in [0, 1], NHWC) and their class indices (int32). */
export interface LabeledImages {
  readonly images: tf.Tensor4D;
  readonly labels: tf.Tensor1D;
}

export interface DatasetSplits {
  readonly train: LabeledImages;
  readonly validation: LabeledImages;
  readonly test: LabeledImages;
  /** Names of the classes, indexed by label. */
  readonly classNames: readonly string[];
  /** Where the data came from, for the record (a folder, a URL, a bundled subset). */
  readonly source: string;
}

export interface DatasetContext {
  /** The spec's folder: relative paths in options resolve against it. */
  readonly specDir: string;
  readonly seed: number;
  readonly log: Logger;
  /** `experiments/x.yaml: data`, for error messages. */
  readonly where: string;
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
