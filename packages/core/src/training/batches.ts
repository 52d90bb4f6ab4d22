import * as tf from '@tensorflow/tfjs';
import type { Objective } from './objective.js';

/** Inputs of a model a batch at a time, with the labels of their rows. */
export interface LabeledBatch {
  readonly inputs: tf.Tensor;
  readonly labels: Int32Array;
}

export interface Predictions {
  /** Mean loss over all rows. */
  readonly loss: number;
  readonly accuracy: number;
  /** Predicted class of each row, in the order of the batches. */
  readonly predicted: Int32Array;
}

/**
 * Loss, accuracy and predictions of a model (inference mode) over batches, which the caller
 * produces and this function disposes. Sums stay on the device until the end.
 */
export async function predictBatches(
  model: tf.LayersModel,
  batches: AsyncIterable<LabeledBatch> | Iterable<LabeledBatch>,
  objective: Objective,
): Promise<Predictions> {
  let lossSum: tf.Tensor = tf.scalar(0);
  let correctSum: tf.Tensor = tf.scalar(0);
  const predictedParts: tf.Tensor[] = [];
  let count = 0;
  try {
    for await (const batch of batches) {
      const [loss, correct, predicted] = tf.tidy((): [tf.Tensor, tf.Tensor, tf.Tensor] => {
        const outputs = model.predict(batch.inputs) as tf.Tensor;
        const targets = objective.targets(batch.labels);
        return [
          lossSum.add(objective.loss(targets, outputs).mul(batch.labels.length)),
          correctSum.add(objective.correct(targets, outputs)),
          objective.predicted(outputs),
        ];
      });
      batch.inputs.dispose();
      tf.dispose([lossSum, correctSum]);
      [lossSum, correctSum] = [loss, correct];
      predictedParts.push(predicted);
      count += batch.labels.length;
    }
    const predicted = new Int32Array(count);
    let offset = 0;
    for (const part of predictedParts) {
      const values = await part.data();
      predicted.set(values, offset);
      offset += values.length;
    }
    const loss = (await lossSum.data())[0]!;
    const correct = (await correctSum.data())[0]!;
    return { loss: count === 0 ? NaN : loss / count, accuracy: count === 0 ? 0 : correct / count, predicted };
  } finally {
    tf.dispose([lossSum, correctSum, ...predictedParts]);
  }
}

/** The rows of a tensor of inputs (e.g. cached features) in batches, with their labels. */
export function* tensorBatches(inputs: tf.Tensor, labels: Int32Array, batchSize: number): Generator<LabeledBatch> {
  const count = inputs.shape[0];
  for (let start = 0; start < count; start += batchSize) {
    const size = Math.min(batchSize, count - start);
    yield { inputs: tf.slice(inputs, start, size), labels: labels.subarray(start, start + size) };
  }
}
