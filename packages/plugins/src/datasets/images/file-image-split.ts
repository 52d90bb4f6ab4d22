import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import type { ImageSplit } from '@thaw/core';
import { decodesInFlight, type ResolvedDecodeOptions } from './decode-image.js';
import type { PixelCache } from './pixel-cache.js';

/** An image file and its class index. */
export interface LabeledFile {
  readonly path: string;
  /** Relative to the dataset's root, with forward slashes: what identifies the file in a split. */
  readonly relativePath: string;
  readonly label: number;
}

/**
 * A split of image files, read a batch at a time: each file's pixels come from the pixel cache
 * (decoded once, ever) and only the batch is held as float32.
 */
export function fileImageSplit(files: readonly LabeledFile[], settings: ResolvedDecodeOptions, cache: PixelCache): ImageSplit {
  const [height, width] = settings.size;
  const channels = settings.colorMode === 'grayscale' ? 1 : 3;
  const imageSize = height * width * channels;
  let key: Promise<string> | undefined;
  return {
    count: files.length,
    labels: Int32Array.from(files, (file) => file.label),
    imageShape: [height, width, channels],
    async read(rows) {
      const batch = new Float32Array(rows.length * imageSize);
      const order = Array.from(rows);
      let next = 0;
      const worker = async () => {
        while (next < order.length) {
          const position = next++;
          const pixels = await cache.read(files[order[position]!]!.path, settings);
          const offset = position * imageSize;
          for (let i = 0; i < imageSize; i++) batch[offset + i] = pixels.data[i]! / 255;
        }
      };
      // Hits are read synchronously; files the cache misses are decoded on the decoding threads, a few at once.
      await Promise.all(Array.from({ length: Math.min(decodesInFlight(), order.length) }, worker));
      return tf.tensor4d(batch, [order.length, height, width, channels]);
    },
    // The files, their sizes and modification times, and the decoding: equal keys mean equal pixels.
    contentKey: () =>
      (key ??= (async () => {
        const hash = createHash('sha256').update(JSON.stringify(settings));
        for (const file of files) {
          const info = await stat(file.path);
          hash.update(`${file.path}\0${info.size}\0${info.mtimeMs}\0${file.label}\n`);
        }
        return hash.digest('hex');
      })()),
    dispose: () => undefined,
  };
}
