import type * as tf from '@tensorflow/tfjs';
import type { AugmentOp } from './experiment-spec.js';

/** Applies the spec's augmentations to one training batch; never used on validation or test data. */
export interface Augmenter {
  /** False when the spec has no augmentations: inputs pass unchanged and may be cached. */
  readonly active: boolean;
  apply(images: tf.Tensor4D): tf.Tensor4D;
}

/** Stage 2: turns the spec's `augment` list into a seeded augmenter. */
export const AugmentStage = Symbol('AugmentStage');
export interface AugmentStage {
  prepare(ops: readonly AugmentOp[], seed: number): Augmenter;
}
