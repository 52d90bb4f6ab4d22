import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { CommandModule } from 'yargs';
import { stringify } from 'yaml';
import { ThawError, consoleLogger, disposeSplits, displayPath, selectBackend, validatePluginOptions, type ImageSplit } from '@thaw/core';
import { FashionMnistDataset, writePng } from '@thaw/plugins';

interface ExportArgs {
  dataset: string;
  to: string;
  format: 'folder' | 'csv';
  classes?: string;
  trainPerClass?: number;
  validationPerClass: number;
  testPerClass?: number;
  splitSeed: number;
  path?: string;
}

/** A class name as a folder name: no path separators. */
function folderName(className: string): string {
  return className.replace(/[/\\]/g, '-');
}

/** Writes a split's images as PNG files in class folders, numbered in row order; returns their manifest rows. */
async function writeSplit(split: ImageSplit, name: string, classNames: readonly string[], root: string): Promise<string[][]> {
  const rows: string[][] = [];
  const [height, width, channels] = split.imageShape;
  const counters = new Map<number, number>();
  for (let start = 0; start < split.count; start += 256) {
    const indices = Array.from({ length: Math.min(256, split.count - start) }, (_, i) => start + i);
    const images = await split.read(indices);
    const values = await images.data();
    images.dispose();
    for (const [offset, row] of indices.entries()) {
      const label = split.labels[row]!;
      const number = counters.get(label) ?? 0;
      counters.set(label, number + 1);
      const folder = folderName(classNames[label]!);
      const relativePath = `${name}/${folder}/${String(number).padStart(5, '0')}.png`;
      const size = height * width * channels;
      // The dataset's floats are bytes / 255: rounding gives the bytes back exactly.
      const data = Uint8Array.from(values.subarray(offset * size, (offset + 1) * size), (value) => Math.round(value * 255));
      await mkdir(join(root, name, folder), { recursive: true });
      await writePng(join(root, relativePath), { data, height, width, channels });
      rows.push([relativePath, folder, name]);
    }
  }
  return rows;
}

const exportCommand: CommandModule<object, ExportArgs> = {
  command: 'export <dataset>',
  describe: 'write a built-in dataset as PNG files in class folders (and a CSV manifest): a real image folder to try thaw on',
  builder: (yargs) =>
    yargs
      .positional('dataset', { type: 'string', choices: ['fashion-mnist'], demandOption: true })
      .option('to', { type: 'string', demandOption: true, describe: 'folder to write (train/, validation/, test/ with class sub-folders)' })
      .option('format', {
        choices: ['folder', 'csv'] as const,
        default: 'folder' as const,
        describe: 'folder: class folders; csv: also manifest.csv',
      })
      .option('classes', { type: 'string', describe: 'class indices, comma-separated (default: all 10)' })
      .option('trainPerClass', { type: 'number', describe: 'training images per class (default: all)' })
      .option('validationPerClass', { type: 'number', default: 100, describe: 'validation images per class' })
      .option('testPerClass', { type: 'number', describe: 'test images per class (default: all)' })
      .option('splitSeed', { type: 'number', default: 0, describe: 'seed of the split, as data.splitSeed' })
      .option('path', { type: 'string', describe: 'folder with the IDX files (default: as the fashion-mnist plugin finds them)' }),
  handler: async (args) => {
    await selectBackend('auto');
    const dataset = new FashionMnistDataset();
    const raw = {
      ...(args.classes === undefined ? {} : { classes: args.classes.split(',').map((c) => Number(c.trim())) }),
      ...(args.trainPerClass === undefined ? {} : { trainPerClass: args.trainPerClass }),
      validationPerClass: args.validationPerClass,
      ...(args.testPerClass === undefined ? {} : { testPerClass: args.testPerClass }),
      splitSeed: args.splitSeed,
      ...(args.path === undefined ? {} : { path: resolve(args.path) }),
    };
    const options = validatePluginOptions(dataset, raw, 'thaw data export: options');
    const root = resolve(args.to);
    const context = { specDir: process.cwd(), seed: 0, log: consoleLogger, where: 'thaw data export' };
    const splits = await dataset.load(options, context);
    try {
      const manifest = [['path', 'label', 'split']];
      for (const name of ['train', 'validation', 'test'] as const) {
        manifest.push(...(await writeSplit(splits[name], name, splits.classNames, root)));
      }
      const classes = splits.classNames.map(folderName);
      if (args.format === 'csv') await writeFile(join(root, 'manifest.csv'), manifest.map((row) => row.join(',')).join('\n') + '\n');
      // The data sections that read the export back as the same splits, in the same label order.
      const decoding = { imageSize: [28, 28], colorMode: 'grayscale' };
      const sections = {
        folder: { plugin: 'image-folder', splits: { train: 'train', validation: 'validation', test: 'test' }, classes, ...decoding },
        ...(args.format === 'csv' ? { csv: { plugin: 'csv', file: 'manifest.csv', classes, ...decoding } } : {}),
      };
      await writeFile(
        join(root, 'data-sections.yaml'),
        `# paths relative to this folder\n${stringify(sections, { aliasDuplicateObjects: false })}`,
      );
      process.stdout.write(
        `${manifest.length - 1} images of ${classes.length} classes written to ${displayPath(root)}` +
          `${args.format === 'csv' ? ' with manifest.csv' : ''}; data sections for a spec in ${displayPath(join(root, 'data-sections.yaml'))}\n`,
      );
    } catch (error) {
      if (error instanceof ThawError) throw error;
      throw new ThawError(`thaw data export: cannot write ${root} (${error instanceof Error ? error.message : String(error)})`);
    } finally {
      disposeSplits(splits);
    }
  },
};

/** `thaw data …`: tools for datasets. */
export const dataCommand: CommandModule = {
  command: 'data <command>',
  describe: 'dataset tools: export a built-in dataset as image files',
  builder: (yargs) => yargs.command(exportCommand).demandCommand(1, 'expected a data command: export'),
  handler: () => undefined,
};
