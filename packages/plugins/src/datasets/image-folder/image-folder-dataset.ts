import { resolve } from 'node:path';
import { injectable } from 'inversify';
import { z } from 'zod';
import { ThawError, type DatasetContext } from '@thaw/core';
import { assignSplit, holdOut } from '../images/assign-split.js';
import type { LabeledFile } from '../images/file-image-split.js';
import { imageDecodingOptions } from '../images/image-decoding-options.js';
import { ImageFilesDataset } from '../image-files-dataset.js';
import type { SplitFiles } from '../images/image-splits.js';
import { listImageFolder } from '../images/list-image-folder.js';

const fraction = (what: string) =>
  z
    .number()
    .min(0, { error: `expected a fraction ≥ 0 (${what})` })
    .lt(1, { error: `expected a fraction < 1 (${what})` });

const optionsSchema = z
  .strictObject({
    path: z.string().min(1).optional().describe('a folder with one sub-folder of images per class (layout a), relative to the spec'),
    validationSplit: fraction('share of path held out for validation')
      .default(0.2)
      .describe('layout a: share of each class for validation'),
    testSplit: fraction('share of path held out for test').default(0.1).describe('layout a: share of each class for test'),
    splits: z
      .strictObject({
        train: z.string().min(1),
        validation: z.string().min(1),
        test: z.string().min(1).optional(),
      })
      .optional()
      .describe('layout b: folders (each with the class sub-folders) for train, validation and optionally test'),
    testFromValidation: fraction('share of validation held out as test')
      .default(0.2)
      .describe('layout b without a test folder: share of validation held out as test (the Keras tutorial takes 1/5)'),
    splitSeed: z.number().int().min(0).default(0).describe('seed of the split: a file’s split depends only on the file and this seed'),
    classes: z
      .array(z.string().min(1))
      .min(2, { error: 'expected at least 2 classes' })
      .optional()
      .describe('class folders to use, in label order (default: all, sorted as Keras sorts them)'),
    ...imageDecodingOptions,
  })
  .refine((options) => (options.path === undefined) !== (options.splits === undefined), {
    error: 'expected exactly one of path (one folder, split by validationSplit) or splits ({ train, validation, test? })',
  });
type Options = z.output<typeof optionsSchema>;

/** Your own images in class folders, as Keras' image_dataset_from_directory reads them. */
@injectable()
export class ImageFolderDataset extends ImageFilesDataset<Options> {
  override readonly id = 'image-folder';
  override readonly description =
    'your images in class sub-folders (JPEG, PNG, GIF, BMP, WebP), as Keras image_dataset_from_directory: one folder split by a seed, or train/validation/test folders';
  override readonly optionsSchema = optionsSchema;

  protected async files(options: Options, context: DatasetContext): Promise<SplitFiles> {
    const classes = options.classes ? { classes: options.classes } : {};
    if (options.path !== undefined) {
      const root = resolve(context.specDir, options.path);
      const folder = await listImageFolder(root, { ...classes, where: `${context.where}.classes` });
      const train: LabeledFile[] = [];
      const validation: LabeledFile[] = [];
      const test: LabeledFile[] = [];
      for (const file of folder.files) {
        const split = assignSplit({ className: folder.classNames[file.label]!, relativePath: file.relativePath }, options.splitSeed, {
          validation: options.validationSplit,
          test: options.testSplit,
        });
        (split === 'train' ? train : split === 'validation' ? validation : test).push(file);
      }
      return {
        train,
        validation,
        test,
        classNames: folder.classNames,
        ignored: folder.ignored,
        source: `image folder ${options.path}`,
      };
    }
    const splits = options.splits!;
    const list = (name: keyof typeof splits) =>
      listImageFolder(resolve(context.specDir, splits[name]!), { ...classes, where: `${context.where}.classes` });
    const train = await list('train');
    const validation = await list('validation');
    for (const [name, folder] of [['validation', validation]] as const) {
      if (folder.classNames.join('\n') !== train.classNames.join('\n')) {
        throw new ThawError(
          `${context.where}.splits.${name}: classes ${folder.classNames.join(', ')} differ from those of splits.train (${train.classNames.join(', ')}); expected the same class folders (or set classes)`,
        );
      }
    }
    let test: LabeledFile[];
    let validationFiles: LabeledFile[] = [...validation.files];
    let ignored = train.ignored + validation.ignored;
    if (splits.test !== undefined) {
      const folder = await list('test');
      if (folder.classNames.join('\n') !== train.classNames.join('\n')) {
        throw new ThawError(
          `${context.where}.splits.test: classes ${folder.classNames.join(', ')} differ from those of splits.train (${train.classNames.join(', ')}); expected the same class folders (or set classes)`,
        );
      }
      test = [...folder.files];
      ignored += folder.ignored;
    } else {
      const key = (file: LabeledFile) => ({ className: validation.classNames[file.label]!, relativePath: file.relativePath });
      test = validationFiles.filter((file) => holdOut(key(file), options.splitSeed, options.testFromValidation));
      const held = new Set(test);
      validationFiles = validationFiles.filter((file) => !held.has(file));
    }
    const shown = [splits.train, splits.validation, ...(splits.test ? [splits.test] : [])].join(', ');
    return {
      train: [...train.files],
      validation: validationFiles,
      test,
      classNames: train.classNames,
      ignored,
      source: `image folders ${shown}`,
    };
  }
}
