import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { ThawError, describeValue, messageOf } from '@thaw/core';
import { decodeBmp, isBmp } from './decode-bmp.js';
import type { ImagePixels } from './image-pixels.js';
import { INTERPOLATIONS, resizePixels, type Interpolation } from './resize-pixels.js';

export const COLOR_MODES = ['rgb', 'grayscale'] as const;
export type ColorMode = (typeof COLOR_MODES)[number];

export interface DecodeOptions {
  /** [height, width] of the result, as Keras' image_size. */
  readonly size: readonly [number, number];
  /** 'rgb' (3 channels, the default) or 'grayscale' (1). */
  readonly colorMode?: ColorMode;
  /** 'bilinear' by default, as Keras. */
  readonly interpolation?: Interpolation;
  /** Crop the centre to the target's aspect ratio before resizing, as Keras' crop_to_aspect_ratio. */
  readonly cropToAspectRatio?: boolean;
}

export type ResolvedDecodeOptions = Required<DecodeOptions>;

/** Decodes one file with these options; the pixel cache takes one, so a test can count its calls. */
export type ImageDecoder = (file: string, options: ResolvedDecodeOptions, bytes?: Uint8Array) => Promise<ImagePixels>;

/** The options with their defaults filled in, checked. */
export function resolveDecodeOptions(options: DecodeOptions): ResolvedDecodeOptions {
  const { size, colorMode = 'rgb', interpolation = 'bilinear', cropToAspectRatio = false } = options;
  if (!Array.isArray(size) || size.length !== 2 || !size.every((n) => Number.isInteger(n) && n >= 1)) {
    throw new ThawError(`size: received ${describeValue(size)}; expected two positive integers [height, width]`);
  }
  if (!COLOR_MODES.includes(colorMode)) {
    throw new ThawError(`colorMode: received ${describeValue(colorMode)}; expected one of ${COLOR_MODES.join(', ')}`);
  }
  if (!INTERPOLATIONS.includes(interpolation)) {
    throw new ThawError(`interpolation: received ${describeValue(interpolation)}; expected one of ${INTERPOLATIONS.join(', ')}`);
  }
  return { size: [size[0], size[1]], colorMode, interpolation, cropToAspectRatio };
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
    throw new ThawError(`${file}: cannot decode the image (${reason})`, { cause: error });
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
 * Decodes one image file to bytes of the requested size and colour mode, following Keras'
 * image_dataset_from_directory: colour conversion, then the optional centre crop, then the resize.
 * The format is read from the bytes, not the file name. `bytes` saves a read when the caller
 * already holds the file.
 */
export async function decodeImage(file: string, options: DecodeOptions, bytes?: Uint8Array): Promise<ImagePixels> {
  const { size, colorMode, interpolation, cropToAspectRatio } = resolveDecodeOptions(options);
  let content = bytes;
  if (content === undefined) {
    try {
      content = await readFile(file);
    } catch (error) {
      throw new ThawError(`${file}: cannot read (${messageOf(error)})`, { cause: error });
    }
  }
  let image = isBmp(content) ? decodeBmp(content, file) : await decodeWithSharp(content, file);
  if (colorMode === 'grayscale') image = toGrayscale(image);
  const [height, width] = size;
  if (cropToAspectRatio) image = cropToAspect(image, height, width);
  return resizePixels(image, height, width, interpolation);
}
