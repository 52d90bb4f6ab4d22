import * as tf from '@tensorflow/tfjs';

import type { HeadOutput } from '@thaw/contracts';

/** How a head's output is scored: categorical cross-entropy on probabilities, or binary cross-entropy from one logit with accuracy at probability 0.5. */
export interface Objective {
  /** What the loss compares the outputs with, for these labels. */
  targets(labels: Int32Array): tf.Tensor;
  /** Mean loss of a batch. */
  loss(targets: tf.Tensor, outputs: tf.Tensor): tf.Scalar;
  /** Rows predicted right. */
  correct(targets: tf.Tensor, outputs: tf.Tensor): tf.Scalar;
  /** Predicted class of each row. */
  predicted(outputs: tf.Tensor): tf.Tensor1D;
}

export function objectiveFor(output: HeadOutput, classes: number): Objective {
  if (output === 'logit') {
    return {
      targets: (labels) => tf.tensor2d(Float32Array.from(labels), [labels.length, 1]),
      loss: (targets, outputs) => tf.losses.sigmoidCrossEntropy<tf.Tensor, tf.Scalar>(targets, outputs),
      correct: (targets, outputs) => tf.equal(tf.greater(outputs, 0).cast('float32'), targets).sum(),
      predicted: (outputs) => tf.greater(outputs, 0).cast('int32').reshape([-1]),
    };
  }
  return {
    targets: (labels) => tf.oneHot(tf.tensor1d(labels, 'int32'), classes),
    // Categorical cross-entropy of probabilities, clipped as Keras does.
    loss: (targets, outputs) => tf.metrics.categoricalCrossentropy(targets, outputs).mean(),
    correct: (targets, outputs) => tf.equal(tf.argMax(targets, -1), tf.argMax(outputs, -1)).sum(),
    predicted: (outputs) => tf.argMax(outputs, -1),
  };
}
