import * as tf from '@tensorflow/tfjs';
import type { ImageSplit } from '@thaw/contracts';

/** A split whose images are mapped batch by batch (e.g. [0, 1] → [-1, 1]); `name` tells the mapping apart in cache keys. */
export function mappedSplit(split: ImageSplit, name: string, map: (images: tf.Tensor4D) => tf.Tensor4D): ImageSplit {
  return {
    count: split.count,
    labels: split.labels,
    imageShape: split.imageShape,
    read: async (rows) => {
      const images = await split.read(rows);
      const mapped = tf.tidy(() => map(images));
      images.dispose();
      return mapped;
    },
    contentKey: async () => `${await split.contentKey()}|${name}`,
    dispose: () => split.dispose(),
  };
}

/** Maps images from [0, 1] to the range a base expects (e.g. [-1, 1] for MobileNet); the same split when it is [0, 1]. */
export function rescaledSplit(split: ImageSplit, [low, high]: readonly [number, number]): ImageSplit {
  if (low === 0 && high === 1) return split;
  return mappedSplit(split, `range ${low} ${high}`, (images) => images.mul<tf.Tensor4D>(high - low).add<tf.Tensor4D>(low));
}
