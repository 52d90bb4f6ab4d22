import { join } from 'node:path';
import { ThawError, messageOf, thawCacheDir, type DatasetContext, type DatasetFacts, type DatasetSplits } from '@thaw/core';
import { decodesInFlight, type ResolvedDecodeOptions } from './decode-image.js';
import { fileImageSplit, type LabeledFile } from './file-image-split.js';
import { imageShapeOf } from './image-decoding-options.js';
import { PixelCache } from './pixel-cache.js';

/** The files of each split of an image dataset, before any is decoded. */
export interface SplitFiles {
  readonly train: readonly LabeledFile[];
  readonly validation: readonly LabeledFile[];
  readonly test: readonly LabeledFile[];
  readonly classNames: readonly string[];
  /** Non-image files seen and ignored. */
  readonly ignored: number;
  readonly source: string;
}

export function imageFacts(files: SplitFiles, settings: ResolvedDecodeOptions): DatasetFacts {
  return {
    inputShape: imageShapeOf(settings),
    classNames: files.classNames,
    counts: { train: files.train.length, validation: files.validation.length, test: files.test.length },
    source: files.source,
  };
}

/**
 * Decodes every file once into the pixel cache (so epochs and later trials read pixels, not
 * images), which also finds the files that do not decode: an error naming the file and the
 * decoder's reason, or, with `skip`, left out, counted and warned about. Then saves the files'
 * content hashes, so the next run's first pass reads neither the images nor their bytes.
 */
export async function imageSplits(
  files: SplitFiles,
  settings: ResolvedDecodeOptions,
  onBadImage: 'error' | 'skip',
  context: DatasetContext,
): Promise<DatasetSplits> {
  const cache = new PixelCache({ dir: join(thawCacheDir(), 'pixels'), log: context.log });
  const bad: { file: LabeledFile; reason: string }[] = [];
  const all = [...files.train, ...files.validation, ...files.test];
  let next = 0;
  const worker = async () => {
    while (next < all.length) {
      const file = all[next++]!;
      try {
        await cache.read(file.path, settings);
      } catch (error) {
        if (!(error instanceof ThawError) || onBadImage === 'error') {
          throw error instanceof ThawError ? error : new ThawError(`${file.path}: cannot read the image (${messageOf(error)})`);
        }
        bad.push({ file, reason: messageOf(error) });
      }
    }
  };
  await Promise.all(Array.from({ length: decodesInFlight() }, worker));
  await cache.saveHashes();
  const skipped = new Set(bad.map(({ file }) => file));
  if (bad.length > 0) {
    const shown = bad.slice(0, 5).map(({ reason }) => reason);
    context.log.warn(
      `${context.where}: skipped ${bad.length} image${bad.length > 1 ? 's' : ''} that do not decode (onBadImage: skip): ${shown.join('; ')}${bad.length > 5 ? '; …' : ''}`,
    );
  }
  if (files.ignored > 0) context.log.info(`${context.where}: ignored ${files.ignored} files that are not images`);
  const keep = (list: readonly LabeledFile[]) => list.filter((file) => !skipped.has(file));
  const splits = { train: keep(files.train), validation: keep(files.validation), test: keep(files.test) };
  for (const name of ['train', 'validation'] as const) {
    if (splits[name].length === 0)
      throw new ThawError(`${context.where}: no ${name} image decodes (${bad.length} skipped); expected at least one`);
  }
  return {
    train: fileImageSplit(splits.train, settings, cache),
    validation: fileImageSplit(splits.validation, settings, cache),
    test: fileImageSplit(splits.test, settings, cache),
    classNames: files.classNames,
    source: files.source,
    notes: { skippedImages: bad.length, ignoredFiles: files.ignored },
  };
}
