import { resolve } from 'node:path';
import { injectable } from 'inversify';
import { z } from 'zod';
import { ThawError, displayPath, type DatasetContext } from '@thaw/core';
import { assignSplit } from '../images/assign-split.js';
import type { LabeledFile } from '../images/file-image-split.js';
import { imageDecodingOptions } from '../images/image-decoding-options.js';
import { ImageFilesDataset } from '../image-files-dataset.js';
import type { SplitFiles } from '../images/image-splits.js';
import { compareCodePoints } from '../images/list-image-folder.js';
import { readManifest } from '../images/read-manifest.js';

const fraction = (what: string) =>
  z
    .number()
    .min(0, { error: `expected a fraction ≥ 0 (${what})` })
    .lt(1, { error: `expected a fraction < 1 (${what})` });

const optionsSchema = z.strictObject({
  file: z.string().min(1).describe('the CSV manifest, relative to the spec; image paths in it are relative to its folder'),
  pathColumn: z.string().min(1).default('path').describe('column with the image path'),
  labelColumn: z.string().min(1).default('label').describe('column with the class name'),
  splitColumn: z
    .string()
    .min(1)
    .optional()
    .describe('column with train, validation or test (default: a column named split, if any); rows without one are split by seed'),
  validationSplit: fraction('share of unassigned rows for validation').default(0.2).describe('rows without a split: share for validation'),
  testSplit: fraction('share of unassigned rows for test').default(0.1).describe('rows without a split: share for test'),
  splitSeed: z.number().int().min(0).default(0).describe('seed of the split of rows without one'),
  classes: z
    .array(z.string().min(1))
    .min(2, { error: 'expected at least 2 classes' })
    .optional()
    .describe('labels to use, in label order (default: all, sorted as Keras sorts class names)'),
  ...imageDecodingOptions,
});
type Options = z.output<typeof optionsSchema>;

/** Images listed in a CSV manifest (path, label, optional split), read with csv-parse. */
@injectable()
export class CsvDataset extends ImageFilesDataset<Options> {
  override readonly id = 'csv';
  override readonly description =
    'images listed in a CSV manifest: path and label columns, optional split column; paths relative to the CSV';
  override readonly optionsSchema = optionsSchema;

  protected async files(options: Options, context: DatasetContext): Promise<SplitFiles> {
    const file = resolve(context.specDir, options.file);
    const rows = await readManifest(file, {
      pathColumn: options.pathColumn,
      labelColumn: options.labelColumn,
      ...(options.splitColumn === undefined ? {} : { splitColumn: options.splitColumn }),
    });
    const labels = [...new Set(rows.map((row) => row.label))].sort(compareCodePoints);
    let classNames = labels;
    if (options.classes) {
      const unknown = options.classes.find((name) => !labels.includes(name));
      if (unknown !== undefined) {
        throw new ThawError(
          `${context.where}.classes: received ${JSON.stringify(unknown)}, which no row of ${displayPath(file)} has; expected labels of the manifest: ${labels.join(', ')}`,
        );
      }
      classNames = options.classes;
    }
    if (classNames.length < 2) {
      throw new ThawError(`${displayPath(file)}: ${classNames.length} label (${classNames.join(', ')}); expected at least 2 classes`);
    }
    const index = new Map(classNames.map((name, label) => [name, label]));
    const splits: Record<'train' | 'validation' | 'test', LabeledFile[]> = { train: [], validation: [], test: [] };
    for (const row of rows) {
      const label = index.get(row.label);
      if (label === undefined) continue;
      const entry = { path: row.path, relativePath: row.relativePath, label };
      const split =
        row.split ??
        assignSplit({ className: row.label, relativePath: row.relativePath }, options.splitSeed, {
          validation: options.validationSplit,
          test: options.testSplit,
        });
      splits[split].push(entry);
    }
    return { ...splits, classNames, ignored: 0, source: `CSV manifest ${options.file}` };
  }
}
