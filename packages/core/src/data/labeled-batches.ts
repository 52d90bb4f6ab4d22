import type { ImageSplit } from '@thaw/contracts';
import type { LabeledBatch } from '../training/batches.js';
import type * as tf from '@tensorflow/tfjs';
import { splitBatches } from './split-batches.js';

/** A split's images in row order, a batch at a time, each passed through `transform` (e.g. the frozen part), with their labels. */
export async function* labeledBatches(
  split: ImageSplit,
  batchSize: number,
  transform?: (images: tf.Tensor4D) => tf.Tensor,
): AsyncGenerator<LabeledBatch> {
  for await (const { images, rows } of splitBatches(split, batchSize)) {
    if (!transform) {
      yield { inputs: images, labels: rows.map((row) => split.labels[row]!) };
      continue;
    }
    let inputs: tf.Tensor;
    try {
      inputs = transform(images);
    } finally {
      images.dispose();
    }
    yield { inputs, labels: rows.map((row) => split.labels[row]!) };
  }
}
