import type * as tf from '@tensorflow/tfjs';

/** A frozen model compiled for inference: `run` maps a batch to the model's output. */
export interface InferenceFunction {
  run(x: tf.Tensor): tf.Tensor;
  /** Convolutions that absorbed their BatchNormalization and activation. */
  readonly fused: number;
  /** Frees the folded weights. */
  dispose(): void;
}
