import type * as tf from '@tensorflow/tfjs';
import type { ImageSplit } from '@thaw/contracts';
import { yieldToEvents } from '../util/yield-to-events.js';

export interface SplitBatch {
  readonly images: tf.Tensor4D;
  readonly rows: Int32Array;
  /** Position of the batch's first row in the order. */
  readonly start: number;
}

/**
 * The split's images in batches, in the given order (default: row order), reading the next batch
 * while the caller works on this one (one batch ahead: bounded memory). The caller disposes each
 * batch's images.
 */
export async function* splitBatches(
  split: ImageSplit,
  batchSize: number,
  order: Int32Array | Uint32Array = rowOrder(split.count),
): AsyncGenerator<SplitBatch> {
  const rowsAt = (start: number) => Int32Array.from(order.subarray(start, Math.min(start + batchSize, order.length)));
  let start = 0;
  let next = order.length > 0 ? split.read(rowsAt(0)) : undefined;
  try {
    while (next !== undefined) {
      const rows = rowsAt(start);
      const images = await next;
      await yieldToEvents();
      const following = start + batchSize;
      next = following < order.length ? split.read(rowsAt(following)) : undefined;
      yield { images, rows, start };
      start = following;
    }
  } finally {
    // A consumer that stops early never sees the batch read ahead: free it here.
    next?.then((pending) => pending.dispose()).catch(() => undefined);
  }
}

function rowOrder(count: number): Int32Array {
  return Int32Array.from({ length: count }, (_, index) => index);
}
