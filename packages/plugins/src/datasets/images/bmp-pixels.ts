// This module imports nothing from @thaw/core: the decoding worker threads load it (see decode-pool.ts).
import { ImageError } from './image-error.js';
import type { ImagePixels } from './image-pixels.js';

/** Whether the bytes start like a Windows bitmap ("BM"), which libvips cannot read. */
export function isBmp(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x42 && bytes[1] === 0x4d;
}

const FILE_HEADER = 14;
const INFO_HEADER = 40;
const BI_RGB = 0;

/**
 * Decodes an uncompressed Windows bitmap with a BITMAPINFOHEADER (or a later header that extends
 * it): 24 or 32 bits per pixel, or an 8-bit palette; rows bottom-up or top-down. Returns RGB; the
 * fourth byte of 32-bit pixels is dropped, as PIL reads them (BGRX). Anything else is refused
 * with an ImageError (decodeBmp throws a ThawError).
 */
export function readBmp(bytes: Uint8Array, file: string): ImagePixels {
  const fail = (reason: string) => new ImageError(`${file}: ${reason}`);
  if (!isBmp(bytes)) throw fail('not a BMP file (no "BM" signature)');
  if (bytes.length < FILE_HEADER + INFO_HEADER) throw fail(`BMP file of ${bytes.length} bytes is truncated; expected at least 54`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const pixelOffset = view.getUint32(10, true);
  const headerSize = view.getUint32(14, true);
  if (headerSize < INFO_HEADER) {
    throw fail(`BMP header of ${headerSize} bytes (OS/2 or core header) is not supported; expected a BITMAPINFOHEADER (40 bytes or more)`);
  }
  const width = view.getInt32(18, true);
  const signedHeight = view.getInt32(22, true);
  const bitsPerPixel = view.getUint16(28, true);
  const compression = view.getUint32(30, true);
  const colorsUsed = view.getUint32(46, true);
  if (compression !== BI_RGB) {
    throw fail(`BMP compression ${compression} (RLE or bit fields) is not supported; expected 0 (uncompressed)`);
  }
  if (bitsPerPixel !== 24 && bitsPerPixel !== 32 && bitsPerPixel !== 8) {
    throw fail(`BMP of ${bitsPerPixel} bits per pixel is not supported; expected 24, 32 or 8 (with a palette)`);
  }
  const height = Math.abs(signedHeight);
  if (width <= 0 || height === 0) throw fail(`BMP of ${width}×${signedHeight} pixels; expected a positive width and a non-zero height`);
  const topDown = signedHeight < 0;
  const stride = Math.ceil((bitsPerPixel * width) / 32) * 4;
  if (pixelOffset + stride * height > bytes.length) {
    throw fail(
      `BMP of ${width}×${height} pixels needs ${pixelOffset + stride * height} bytes but the file holds ${bytes.length}; it is truncated`,
    );
  }

  let palette: Uint8Array | undefined;
  if (bitsPerPixel === 8) {
    const count = colorsUsed === 0 ? 256 : colorsUsed;
    const start = FILE_HEADER + headerSize;
    if (count > 256 || start + 4 * count > pixelOffset) {
      throw fail(`BMP palette of ${count} colours does not fit between the header and the pixels; expected at most 256`);
    }
    palette = bytes.subarray(start, start + 4 * count);
  }

  const data = new Uint8Array(width * height * 3);
  const step = bitsPerPixel / 8;
  for (let row = 0; row < height; row++) {
    const y = topDown ? row : height - 1 - row;
    const line = pixelOffset + row * stride;
    for (let x = 0; x < width; x++) {
      const out = (y * width + x) * 3;
      if (palette) {
        const index = bytes[line + x]!;
        if (4 * index >= palette.length) {
          throw fail(`BMP pixel (${x}, ${y}) uses colour ${index} of a palette of ${palette.length / 4}`);
        }
        data[out] = palette[4 * index + 2]!;
        data[out + 1] = palette[4 * index + 1]!;
        data[out + 2] = palette[4 * index]!;
      } else {
        const at = line + x * step;
        data[out] = bytes[at + 2]!;
        data[out + 1] = bytes[at + 1]!;
        data[out + 2] = bytes[at]!;
      }
    }
  }
  return { data, height, width, channels: 3 };
}
