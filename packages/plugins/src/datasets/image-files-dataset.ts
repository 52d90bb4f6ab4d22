import type { DatasetContext, DatasetFacts, DatasetPlugin, DatasetSplits } from '@thaw/core';
import type { z } from 'zod';
import { decodeSettings, type ImageDecodingOptions } from './images/image-decoding-options.js';
import { imageFacts, imageSplits, type SplitFiles } from './images/image-splits.js';

/**
 * What the image datasets share: a subclass lists the files of each split; checking reads that
 * listing only, loading decodes the files once into the pixel cache and reads them per batch.
 */
export abstract class ImageFilesDataset<Options extends ImageDecodingOptions> implements DatasetPlugin<Options> {
  abstract readonly id: string;
  abstract readonly description: string;
  abstract readonly optionsSchema: z.ZodType<Options>;

  /** The files of each split, their class names and where they came from. */
  protected abstract files(options: Options, context: DatasetContext): Promise<SplitFiles>;

  async check(options: Options, context: DatasetContext): Promise<DatasetFacts> {
    return imageFacts(await this.files(options, context), decodeSettings(options, context));
  }

  async load(options: Options, context: DatasetContext): Promise<DatasetSplits> {
    return imageSplits(await this.files(options, context), decodeSettings(options, context), options.onBadImage, context);
  }
}
