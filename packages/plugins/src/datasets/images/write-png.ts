import { writeFile } from 'node:fs/promises';
import sharp from 'sharp';
import { ThawError, messageOf } from '@thaw/core';
import type { ImagePixels } from './image-pixels.js';

/** Encodes 8-bit HWC pixels (1 grey, 3 RGB or 4 RGBA channels) as a lossless PNG of the same depth and channels. */
export async function encodePng(image: ImagePixels): Promise<Buffer> {
  const { data, height, width, channels } = image;
  if (channels !== 1 && channels !== 3 && channels !== 4) {
    throw new ThawError(`PNG: received ${channels} channels; expected 1 (grey), 3 (RGB) or 4 (RGBA)`);
  }
  if (data.length !== height * width * channels) {
    throw new ThawError(`PNG: received ${data.length} bytes for ${height}×${width}×${channels}; expected ${height * width * channels}`);
  }
  // Raw input of one channel would otherwise come out as three identical ones.
  const pixels = sharp(data, { raw: { width, height, channels } }).toColourspace(channels === 1 ? 'b-w' : 'srgb');
  return pixels.png().toBuffer();
}

export async function writePng(file: string, image: ImagePixels): Promise<void> {
  const png = await encodePng(image);
  try {
    await writeFile(file, png);
  } catch (error) {
    throw new ThawError(`${file}: cannot write (${messageOf(error)})`, { cause: error });
  }
}
