import * as tf from '@tensorflow/tfjs';

/** Mean categorical cross-entropy of probabilities, clipped as Keras does. */
export function crossEntropy(labels: tf.Tensor, probabilities: tf.Tensor): tf.Scalar {
  return tf.metrics.categoricalCrossentropy(labels, probabilities).mean();
}

/** Number of rows whose arg-max agrees. */
export function countCorrect(labels: tf.Tensor, probabilities: tf.Tensor): tf.Scalar {
  return tf.equal(tf.argMax(labels, -1), tf.argMax(probabilities, -1)).sum();
}

/** The model's output on all inputs, in inference mode, computed batch by batch. */
export function predictAll(model: tf.LayersModel, inputs: tf.Tensor, batchSize: number): tf.Tensor {
  return model.predict(inputs, { batchSize }) as tf.Tensor;
}

/** Loss and accuracy of a model (inference mode) on inputs and integer labels. */
export async function lossAndAccuracy(
  model: tf.LayersModel,
  inputs: tf.Tensor,
  labels: tf.Tensor1D,
  classes: number,
  batchSize: number,
): Promise<{ loss: number; accuracy: number }> {
  const [loss, correct] = tf.tidy(() => {
    const probabilities = predictAll(model, inputs, batchSize);
    const oneHot = tf.oneHot(labels, classes);
    return [crossEntropy(oneHot, probabilities), countCorrect(oneHot, probabilities)];
  });
  const values = [(await loss.data())[0]!, (await correct.data())[0]!];
  loss.dispose();
  correct.dispose();
  return { loss: values[0]!, accuracy: values[1]! / labels.shape[0] };
}
