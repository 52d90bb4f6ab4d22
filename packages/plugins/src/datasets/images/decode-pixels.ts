import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { isBmp, readBmp } from './bmp-pixels.js';
import type { ResolvedDecodeOptions } from './decode-image.js';
import { ImageError } from './image-error.js';
import type { ImagePixels } from './image-pixels.js';
import { resizeImage } from './resize-kernels.js';

// What decodeImage does with a file, on whichever thread runs it. This module imports nothing
// from @thaw/core, so the decoding worker threads (decode-pool.ts) do not load TensorFlow.js.
// Failures are ImageErrors, which decodeImage turns into ThawErrors with the same message.

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The file's bytes; an ImageError naming it when it cannot be read. `sync` reads on this thread
 * (for a decoding thread, which has nothing else to do meanwhile), else through the libuv pool.
 */
export async function readImageFile(file: string, sync = false): Promise<Uint8Array> {
  try {
    return sync ? readFileSync(file) : await readFile(file);
  } catch (error) {
    throw new ImageError(`${file}: cannot read (${messageOf(error)})`, { cause: error });
  }
}

/**
 * Decodes with libvips (JPEG, PNG, GIF, WebP; the first frame of an animation) into 8-bit RGB.
 * Alpha is dropped, not composited, as PIL's convert('RGB') and TF's decode_image(channels=3)
 * do; embedded ICC profiles and EXIF orientation are ignored, as both of those ignore them.
 */
async function decodeWithSharp(bytes: Uint8Array, file: string): Promise<ImagePixels> {
  try {
    // failOn 'error' rejects truncated and broken data but lets through the warnings (extra bytes
    // before a JPEG marker and the like) that TF and PIL also decode without complaint.
    const { data, info } = await sharp(bytes, { pages: 1, page: 0, ignoreIcc: true, failOn: 'error' })
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), height: info.height, width: info.width, channels: 3 };
  } catch (error) {
    // libvips repeats its messages line after line; one of each is enough.
    const reason = [
      ...new Set(
        messageOf(error)
          .split('\n')
          .filter((line) => line.trim() !== ''),
      ),
    ].join('; ');
    throw new ImageError(`${file}: cannot decode the image (${reason})`, { cause: error });
  }
}

/**
 * Luminance from RGB with PIL's integer formula (ITU-R 601-2: L = 0.299 R + 0.587 G + 0.114 B),
 * also libjpeg's. (TF's PNG decoder weighs by Rec. 709 instead, so Keras' grey PNGs differ slightly.)
 */
function toGrayscale(image: ImagePixels): ImagePixels {
  const count = image.height * image.width;
  const data = new Uint8Array(count);
  const rgb = image.data;
  for (let i = 0; i < count; i++) {
    data[i] = (rgb[3 * i]! * 19595 + rgb[3 * i + 1]! * 38470 + rgb[3 * i + 2]! * 7471 + 0x8000) >>> 16;
  }
  return { data, height: image.height, width: image.width, channels: 1 };
}

/** The centre box of the target's aspect ratio, computed as Keras' smart_resize does (float32, truncated). */
function cropToAspect(image: ImagePixels, height: number, width: number): ImagePixels {
  const f32 = Math.fround;
  const cropHeight = Math.min(image.height, Math.trunc(f32(f32(image.width * height) / width)));
  const cropWidth = Math.min(image.width, Math.trunc(f32(f32(image.height * width) / height)));
  if (cropHeight === image.height && cropWidth === image.width) return image;
  const top = Math.trunc(f32(image.height - cropHeight) / 2);
  const left = Math.trunc(f32(image.width - cropWidth) / 2);
  const { channels } = image;
  const data = new Uint8Array(cropHeight * cropWidth * channels);
  for (let y = 0; y < cropHeight; y++) {
    const from = ((top + y) * image.width + left) * channels;
    data.set(image.data.subarray(from, from + cropWidth * channels), y * cropWidth * channels);
  }
  return { data, height: cropHeight, width: cropWidth, channels };
}

/**
 * One image file's bytes to pixels of the requested size and colour mode, following Keras'
 * image_dataset_from_directory: colour conversion, then the optional centre crop, then the resize.
 * The format is read from the bytes, not the file name, which names the image in errors.
 */
export async function decodePixels(bytes: Uint8Array, file: string, settings: ResolvedDecodeOptions): Promise<ImagePixels> {
  let image = isBmp(bytes) ? readBmp(bytes, file) : await decodeWithSharp(bytes, file);
  if (settings.colorMode === 'grayscale') image = toGrayscale(image);
  const [height, width] = settings.size;
  if (settings.cropToAspectRatio) image = cropToAspect(image, height, width);
  return resizeImage(image, height, width, settings.interpolation);
}
