import { availableParallelism } from 'node:os';
import { ThawError, describeValue } from '@thaw/core';
import { decodePixels, readImageFile } from './decode-pixels.js';
import { JOBS_PER_THREAD, decodePool } from './decode-pool.js';
import { ImageError } from './image-error.js';
import type { ImagePixels } from './image-pixels.js';
import { INTERPOLATIONS, type Interpolation } from './resize-pixels.js';

export { closeDecodePool } from './decode-pool.js';

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
 * Threads that decode images: THAW_DECODE_THREADS, else one per core and at least 2. 0 decodes on
 * the main thread, as thaw did before the pool.
 */
export function decodeThreads(): number {
  const text = process.env['THAW_DECODE_THREADS'];
  if (text === undefined || text === '') return Math.max(2, availableParallelism());
  if (!/^\d+$/.test(text)) {
    throw new ThawError(
      `THAW_DECODE_THREADS: received ${describeValue(text)}; expected a whole number of threads (0: decode on the main thread)`,
    );
  }
  return Number(text);
}

/**
 * Decodes to keep in flight so that every decoding thread stays busy (one image in libvips while
 * it resizes another), and at least 4, which overlap libvips' decoding when there are no threads.
 */
export function decodesInFlight(): number {
  return Math.max(4, JOBS_PER_THREAD * decodeThreads());
}

/**
 * Decodes one image file to bytes of the requested size and colour mode, following Keras'
 * image_dataset_from_directory: colour conversion, then the optional centre crop, then the resize.
 * The format is read from the bytes, not the file name. `bytes` saves a read when the caller
 * already holds the file (they are left unchanged). The work runs on the decoding threads
 * (decodeThreads), so that resizes run on every core; the pixels are the same on any thread.
 */
export async function decodeImage(file: string, options: DecodeOptions, bytes?: Uint8Array): Promise<ImagePixels> {
  const settings = resolveDecodeOptions(options);
  const threads = decodeThreads();
  try {
    if (threads > 0) return await decodePool(threads).decode(file, settings, bytes);
    return await decodePixels(bytes ?? (await readImageFile(file)), file, settings);
  } catch (error) {
    // The reader's or decoder's error, as a ThawError naming the file and the reason.
    throw error instanceof ImageError ? new ThawError(error.message, { cause: error.cause ?? error }) : error;
  }
}
