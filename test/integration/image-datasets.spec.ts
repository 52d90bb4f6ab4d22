import { mkdir, readFile, rm, writeFile, copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { expect } from 'chai';
import sharp from 'sharp';
import { parse } from 'yaml';
import { main } from '@thaw/cli';
import {
  FileStoreTracker,
  LoadStage,
  ThawError,
  TrialPipeline,
  TrialPlanner,
  disposeSplits,
  loadSpec,
  type DatasetSplits,
  type ImageSplit,
} from '@thaw/core';
import { recordingLogger, temporaryFolder, testContainer, tinySpec, writeSpec } from '../helpers/fixtures.js';

async function pixels(split: ImageSplit): Promise<Float32Array> {
  const images = await split.read(Array.from({ length: split.count }, (_, i) => i));
  const values = (await images.data()) as Float32Array;
  images.dispose();
  return values;
}

async function quietly<T>(work: () => Promise<T>): Promise<T> {
  const [out, err] = [process.stdout.write.bind(process.stdout), process.stderr.write.bind(process.stderr)];
  process.stdout.write = () => true;
  process.stderr.write = () => true;
  try {
    return await work();
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
}

describe('image datasets: image-folder and csv', function () {
  let dir: string;
  let remove: () => Promise<void>;
  let exported: string;
  let sections: { folder: Record<string, unknown>; csv: Record<string, unknown> };
  const fashion = { plugin: 'fashion-mnist', classes: [0, 1, 2], trainPerClass: 16, validationPerClass: 8, testPerClass: 8 };

  before(async () => {
    ({ dir, remove } = await temporaryFolder());
    exported = join(dir, 'exported');
    const code = await quietly(() =>
      main([
        'data',
        'export',
        'fashion-mnist',
        '--to',
        exported,
        '--format',
        'csv',
        '--classes',
        '0,1,2',
        '--trainPerClass',
        '16',
        '--validationPerClass',
        '8',
        '--testPerClass',
        '8',
      ]),
    );
    expect(code).to.equal(0);
    sections = parse(await readFile(join(exported, 'data-sections.yaml'), 'utf8')) as typeof sections;
  });
  after(() => remove());

  /** A tiny trial spec in the export folder with the given data section. */
  const specIn = (name: string, data: Record<string, unknown>) =>
    writeSpec(exported, `${name}.yaml`, tinySpec({ name, data, tracking: { store: join(dir, 'mlruns') } }));

  async function load(name: string, data: Record<string, unknown>): Promise<DatasetSplits> {
    const container = await testContainer(dir);
    const plan = await container.get<TrialPlanner>(TrialPlanner).plan(await loadSpec(await specIn(name, data)));
    return container.get<LoadStage>(LoadStage).load(plan);
  }

  it('thaw data export writes PNG files that read back, as a folder and as a CSV, to the IDX dataset’s tensors bit for bit', async () => {
    const reference = await load('idx', fashion);
    const folder = await load('folder', sections.folder);
    const csv = await load('csv', sections.csv);
    try {
      for (const data of [folder, csv]) {
        expect(data.classNames).to.deep.equal(['T-shirt-top', 'Trouser', 'Pullover']);
        for (const split of ['train', 'validation', 'test'] as const) {
          expect(data[split].imageShape).to.deep.equal([28, 28, 1]);
          expect(Array.from(data[split].labels)).to.deep.equal(Array.from(reference[split].labels));
          expect(
            Buffer.from((await pixels(data[split])).buffer).equals(Buffer.from((await pixels(reference[split])).buffer)),
            split,
          ).to.equal(true);
        }
      }
    } finally {
      [reference, folder, csv].forEach(disposeSplits);
    }
  });

  it('trains to the same metrics on the exported folder, the CSV and the IDX files', async () => {
    const results = [];
    for (const [name, data] of [
      ['idx-trial', fashion],
      ['folder-trial', sections.folder],
      ['csv-trial', sections.csv],
    ] as const) {
      const container = await testContainer(dir);
      const loaded = await loadSpec(await specIn(name, data));
      results.push(await container.get<TrialPipeline>(TrialPipeline).run(loaded, { backend: tf.getBackend() }));
    }
    const [idx, ...others] = results;
    for (const other of others) {
      expect(other.train.epochs.map((e) => [e.loss, e.valLoss, e.valAccuracy])).to.deep.equal(
        idx!.train.epochs.map((e) => [e.loss, e.valLoss, e.valAccuracy]),
      );
      expect(other.evaluation.loss).to.equal(idx!.evaluation.loss);
      expect(other.evaluation.confusionMatrix).to.deep.equal(idx!.evaluation.confusionMatrix);
    }
  });

  it('splits one folder by validationSplit and testSplit, every file in one split', async () => {
    const one = join(dir, 'one-folder');
    for (const className of ['a', 'b']) {
      await mkdir(join(one, className), { recursive: true });
      for (let i = 0; i < 30; i++) await copyFile(join(exported, 'train', 'Trouser', '00000.png'), join(one, className, `${i}.png`));
    }
    const facts = async () => {
      const container = await testContainer(dir);
      const plan = await container.get<TrialPlanner>(TrialPlanner).plan(
        await loadSpec(
          await writeSpec(
            one,
            'split.yaml',
            tinySpec({
              data: { plugin: 'image-folder', path: '.', validationSplit: 0.3, testSplit: 0.2, imageSize: 28, colorMode: 'grayscale' },
            }),
          ),
        ),
      );
      return plan.data.facts;
    };
    const before = await facts();
    expect(before.counts.train + before.counts.validation + before.counts.test).to.equal(60);
    expect(before.counts.validation).to.be.within(8, 30);
    expect(before.counts.test).to.be.within(4, 24);
    expect(before.classNames).to.deep.equal(['a', 'b']);
  });

  it('stops at a corrupt image naming it and the reason; with onBadImage: skip, trains without it and records the count', async () => {
    const bad = join(dir, 'bad');
    await rm(bad, { recursive: true, force: true });
    for (const className of ['cats', 'dogs']) {
      await mkdir(join(bad, 'train', className), { recursive: true });
      await mkdir(join(bad, 'validation', className), { recursive: true });
      for (let i = 0; i < 6; i++) {
        const image = await sharp({
          create: { width: 40 + i, height: 30, channels: 3, background: { r: 20 * i, g: className === 'cats' ? 200 : 10, b: 90 } },
        })
          .jpeg()
          .toBuffer();
        await writeFile(join(bad, 'train', className, `${i}.jpg`), image);
        await writeFile(join(bad, 'validation', className, `${i}.jpg`), image);
      }
    }
    await writeFile(join(bad, 'train', 'cats', 'broken.jpg'), Buffer.from('this is not a JPEG at all'));
    await writeFile(join(bad, 'train', 'dogs', 'notes.txt'), 'not an image');
    const data = { plugin: 'image-folder', splits: { train: 'train', validation: 'validation' }, imageSize: 32, testFromValidation: 0.5 };
    const store = join(dir, 'bad-runs');
    const stop = await writeSpec(bad, 'stop.yaml', tinySpec({ name: 'bad-stop', data, tracking: { store } }));
    const container = await testContainer(dir);
    const error = await container
      .get<TrialPipeline>(TrialPipeline)
      .run(await loadSpec(stop), { backend: tf.getBackend() })
      .catch((e: unknown) => e);
    expect(error).to.be.instanceOf(ThawError);
    expect((error as Error).message).to.match(/broken\.jpg/);

    const logger = recordingLogger();
    const skip = await writeSpec(
      bad,
      'skip.yaml',
      tinySpec({ name: 'bad-skip', data: { ...data, onBadImage: 'skip' }, tracking: { store } }),
    );
    const result = await (
      await testContainer(dir, logger, 0, new FileStoreTracker(store))
    )
      .get<TrialPipeline>(TrialPipeline)
      .run(await loadSpec(skip), { backend: tf.getBackend() });
    expect(logger.lines.join('\n')).to.match(/skipped 1 image that do not decode \(onBadImage: skip\): .*broken\.jpg/);
    expect(logger.lines.join('\n')).to.match(/ignored 1 files that are not images/);
    const [run] = await new FileStoreTracker(store).findRuns('bad-skip', {});
    expect(run!.params['data.skippedImages']).to.equal('1');
    expect(run!.params['data.ignoredFiles']).to.equal('1');
    expect(result.dataNotes).to.deep.equal({ skippedImages: 1, ignoredFiles: 1 });
  });

  it('refuses a missing folder, an empty class, a CSV row with an unknown split or a missing file: naming the path or line, before any run', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ plugin: 'image-folder', path: 'nowhere' }, /nowhere: does not exist/],
      [{ plugin: 'csv', file: 'nowhere.csv' }, /nowhere\.csv/],
    ];
    const empty = join(exported, 'with-empty');
    await mkdir(join(empty, 'full'), { recursive: true });
    await mkdir(join(empty, 'hollow'), { recursive: true });
    await copyFile(join(exported, 'train', 'Trouser', '00000.png'), join(empty, 'full', 'x.png'));
    cases.push([{ plugin: 'image-folder', path: 'with-empty' }, /hollow: class "hollow" holds no images/]);
    await writeFile(
      join(exported, 'bad-split.csv'),
      'path,label,split\ntrain/Trouser/00000.png,Trouser,train\ntrain/Trouser/00001.png,Trouser,holdout\n',
    );
    cases.push([{ plugin: 'csv', file: 'bad-split.csv' }, /bad-split\.csv:3: split "holdout"; expected one of train, validation, test/]);
    await writeFile(join(exported, 'missing-file.csv'), 'path,label\ntrain/Trouser/00000.png,Trouser\ntrain/Trouser/99999.png,Trouser\n');
    cases.push([{ plugin: 'csv', file: 'missing-file.csv' }, /missing-file\.csv:3: .*99999\.png/]);
    const store = join(dir, 'refused-runs');
    for (const [data, message] of cases) {
      const file = await writeSpec(exported, 'refused.yaml', tinySpec({ name: 'refused', data, tracking: { store } }));
      const outcome = await quietly(() => main(['run', file]));
      expect(outcome, JSON.stringify(data)).to.equal(2);
      const error = await (
        await testContainer(dir)
      )
        .get<TrialPlanner>(TrialPlanner)
        .plan(await loadSpec(file))
        .catch((e: unknown) => e);
      expect((error as Error).message, JSON.stringify(data)).to.match(message);
    }
    expect(await new FileStoreTracker(store).findRuns('refused', {})).to.deep.equal([]);
  });
});
