import { ThawError } from '@thaw/core';
import type { ImagePixels } from './image-pixels.js';
import { resizeGeneric, resizeImage, type Interpolation } from './resize-kernels.js';

export { INTERPOLATIONS, type Interpolation } from './resize-kernels.js';

function checkSize(height: number, width: number): void {
  if (!Number.isInteger(height) || !Number.isInteger(width) || height < 1 || width < 1) {
    throw new ThawError(`resize: received size [${height}, ${width}]; expected two positive integers [height, width]`);
  }
}

/**
 * Resizes to [height, width] the way Keras' tf.image.resize does (half-pixel centres, no
 * antialiasing), rounding to bytes. libvips' kernels (sharp's `linear`, `cubic`…) are not used:
 * they sit a quarter pixel off TF's grid when enlarging and widen into antialiasing filters when
 * shrinking, so the pixels would differ from a Keras run on the same folder. Bilinear and nearest
 * take loops of their own, which give the generic loop's bytes (resizePixelsGeneric) about twice
 * as fast.
 */
export function resizePixels(image: ImagePixels, height: number, width: number, interpolation: Interpolation): ImagePixels {
  checkSize(height, width);
  return resizeImage(image, height, width, interpolation);
}

/** resizePixels through the generic loop of every method, without the fast paths: the reference they are tested against. */
export function resizePixelsGeneric(image: ImagePixels, height: number, width: number, interpolation: Interpolation): ImagePixels {
  checkSize(height, width);
  if (image.height === height && image.width === width) return image;
  return resizeGeneric(image, height, width, interpolation);
}
