import { ThawError } from '@thaw/core';
import { readBmp } from './bmp-pixels.js';
import { ImageError } from './image-error.js';
import type { ImagePixels } from './image-pixels.js';

export { isBmp } from './bmp-pixels.js';

/**
 * Decodes an uncompressed Windows bitmap with a BITMAPINFOHEADER (or a later header that extends
 * it): 24 or 32 bits per pixel, or an 8-bit palette; rows bottom-up or top-down. Returns RGB; the
 * fourth byte of 32-bit pixels is dropped, as PIL reads them (BGRX). Anything else is refused
 * with a ThawError naming the file and the reason.
 */
export function decodeBmp(bytes: Uint8Array, file: string): ImagePixels {
  try {
    return readBmp(bytes, file);
  } catch (error) {
    throw error instanceof ImageError ? new ThawError(error.message, { cause: error }) : error;
  }
}
