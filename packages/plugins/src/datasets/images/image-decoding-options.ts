import { z } from 'zod';
import type { DatasetContext } from '@thaw/core';
import { COLOR_MODES, type ResolvedDecodeOptions } from './decode-image.js';
import { INTERPOLATIONS } from './resize-pixels.js';

/** Keras' default size for image_dataset_from_directory, when neither the data nor the base name one. */
const KERAS_DEFAULT_SIZE = 256;

/** The options every image dataset shares: how files become pixels, and what to do with a file that does not decode. */
export const imageDecodingOptions = {
  imageSize: z
    .union([z.number().int().min(1), z.tuple([z.number().int().min(1), z.number().int().min(1)])], {
      error: 'expected a size in pixels, or [height, width]',
    })
    .optional()
    .describe('size images are resized to: n or [height, width] (default: model.base.size, else 256, as Keras)'),
  colorMode: z.enum(COLOR_MODES).default('rgb').describe('rgb (3 channels) or grayscale (1)'),
  interpolation: z.enum(INTERPOLATIONS).default('bilinear').describe('resize method, as tf.image.resize (Keras: bilinear)'),
  cropToAspectRatio: z.boolean().default(false).describe('crop the centre to the target aspect ratio before resizing (Keras)'),
  onBadImage: z
    .enum(['error', 'skip'])
    .default('error')
    .describe('a corrupt or unreadable image: stop with its name and the reason (error), or skip it, count it and warn (skip)'),
};

export interface ImageDecodingOptions {
  readonly imageSize?: number | readonly [number, number] | undefined;
  readonly colorMode: (typeof COLOR_MODES)[number];
  readonly interpolation: (typeof INTERPOLATIONS)[number];
  readonly cropToAspectRatio: boolean;
  readonly onBadImage: 'error' | 'skip';
}

/** The decoder's settings for a dataset's options in a trial. */
export function decodeSettings(options: ImageDecodingOptions, context: DatasetContext): ResolvedDecodeOptions {
  const size = options.imageSize ?? context.baseSize ?? KERAS_DEFAULT_SIZE;
  return {
    size: typeof size === 'number' ? [size, size] : [size[0], size[1]],
    colorMode: options.colorMode,
    interpolation: options.interpolation,
    cropToAspectRatio: options.cropToAspectRatio,
  };
}

/** [height, width, channels] of one decoded image. */
export function imageShapeOf(settings: ResolvedDecodeOptions): [number, number, number] {
  return [settings.size[0], settings.size[1], settings.colorMode === 'grayscale' ? 1 : 3];
}
