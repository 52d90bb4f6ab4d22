import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import type { ImageSplit } from '@thaw/contracts';

/** A split whose images are one tensor (float32 in [0, 1], NHWC), for datasets small enough to hold. The split owns the tensor. */
export function inMemorySplit(images: tf.Tensor4D, labels: Int32Array): ImageSplit {
  let key: Promise<string> | undefined;
  const [, height, width, channels] = images.shape;
  return {
    count: images.shape[0],
    labels,
    imageShape: [height, width, channels],
    read: (rows) => Promise.resolve(tf.tidy(() => tf.gather<tf.Tensor4D>(images, tf.tensor1d(Int32Array.from(rows), 'int32')))),
    contentKey: () =>
      (key ??= images.data().then((values) =>
        createHash('sha256')
          .update(images.shape.join('x'))
          .update(new Uint8Array(values.buffer, values.byteOffset, values.byteLength))
          .digest('hex'),
      )),
    dispose: () => images.dispose(),
  };
}
