import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { expect } from 'chai';
import { ThawError, disposeSplits, type ImageSplit } from '@thaw/core';
import { BUNDLED_SUBSET, FASHION_MNIST_FILES, FashionMnistDataset, decodeIdx, encodeIdx, findFashionMnist } from '@thaw/plugins';
import { recordingLogger, temporaryFolder } from '../helpers/fixtures.js';

describe('fashion-mnist dataset', () => {
  let dir: string;
  let remove: () => Promise<void>;
  before(async () => ({ dir, remove } = await temporaryFolder()));
  after(() => remove());

  const dataset = new FashionMnistDataset();
  const context = (seed = 1) => ({ specDir: dir, seed, log: recordingLogger(), where: 'spec.yaml: data' });
  const options = (extra: Record<string, unknown> = {}) => dataset.optionsSchema.parse({ path: BUNDLED_SUBSET, ...extra });

  it('round-trips IDX encoding and rejects a truncated file, naming it', () => {
    const data = Uint8Array.from({ length: 2 * 3 * 4 }, (_, i) => i);
    const encoded = encodeIdx([2, 3, 4], data);
    expect(decodeIdx(gzipSync(encoded), 'x.gz')).to.deep.equal({ dims: [2, 3, 4], data });
    expect(() => decodeIdx(encoded.subarray(0, encoded.length - 1), 'cut.idx')).to.throw(
      ThawError,
      /cut\.idx: header says 2×3×4 = 24 bytes/,
    );
    expect(() => decodeIdx(Uint8Array.from([0x1f, 0x8b, 1, 2]), 'bad.gz')).to.throw(ThawError, /bad\.gz: corrupt gzip/);
  });

  it('draws seeded, stratified splits of the chosen classes with per-class caps', async () => {
    const splits = await dataset.load(options({ classes: [7, 2], trainPerClass: 30, validationPerClass: 10, testPerClass: 5 }), context());
    expect(splits.classNames).to.deep.equal(['Sneaker', 'Pullover']);
    expect([splits.train.count, ...splits.train.imageShape]).to.deep.equal([60, 28, 28, 1]);
    const counts = (labels: Int32Array) => [0, 1].map((c) => labels.filter((label) => label === c).length);
    expect(counts(splits.train.labels)).to.deep.equal([30, 30]);
    expect(counts(splits.validation.labels)).to.deep.equal([10, 10]);
    expect(counts(splits.test.labels)).to.deep.equal([5, 5]);
    const pixels = async (split: ImageSplit) => {
      const images = await split.read(Array.from({ length: split.count }, (_, i) => i));
      const values = Array.from<number>(await images.data());
      images.dispose();
      return values;
    };
    expect(Math.max(...(await pixels(splits.train))))
      .to.be.at.most(1)
      .and.greaterThan(0.5);
    const again = await dataset.load(options({ classes: [7, 2], trainPerClass: 30, validationPerClass: 10, testPerClass: 5 }), context());
    const sameSplitOtherTrialSeed = await dataset.load(
      options({ classes: [7, 2], trainPerClass: 30, validationPerClass: 10, testPerClass: 5 }),
      context(2),
    );
    const other = await dataset.load(
      options({ classes: [7, 2], trainPerClass: 30, validationPerClass: 10, testPerClass: 5, splitSeed: 4 }),
      context(),
    );
    expect(await pixels(sameSplitOtherTrialSeed.train)).to.deep.equal(await pixels(splits.train));
    expect(await pixels(again.train)).to.deep.equal(await pixels(splits.train));
    expect(await pixels(other.train)).to.not.deep.equal(await pixels(splits.train));
    expect(await splits.train.contentKey()).to.equal(await again.train.contentKey());
    expect(await splits.train.contentKey()).to.not.equal(await other.train.contentKey());
    for (const s of [splits, again, other, sameSplitOtherTrialSeed]) disposeSplits(s);
  });

  it('refuses caps larger than the data, naming the class and the source', async () => {
    try {
      await dataset.load(options({ classes: [0, 1], trainPerClass: 450, validationPerClass: 100 }), context());
      expect.fail('expected an error');
    } catch (error) {
      expect(error).to.be.instanceOf(ThawError);
      expect((error as Error).message)
        .to.contain('class 0 (T-shirt/top) has 500 training images')
        .and.contain(BUNDLED_SUBSET);
    }
  });

  it('says in one line that a download failed and falls back to the bundled subset', async () => {
    const server = createServer((_request, response) => response.writeHead(404).end());
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const { port } = server.address() as AddressInfo;
    const previous = process.env['THAW_CACHE_DIR'];
    process.env['THAW_CACHE_DIR'] = join(dir, 'cache');
    try {
      for (const [url, reason] of [
        [`http://127.0.0.1:${port}/`, 'HTTP 404'],
        [`http://127.0.0.1:${port}/`, 'ECONNREFUSED'],
      ] as const) {
        if (reason === 'ECONNREFUSED') await new Promise((done) => server.close(done));
        const log = recordingLogger();
        const found = await findFashionMnist({ download: true, url, specDir: dir, where: 'w', log, systemDir: join(dir, 'none') });
        expect(found.subset).to.equal(true);
        expect(log.lines).to.deep.equal([
          `warning: fashion-mnist: download failed (${url}train-images-idx3-ubyte.gz: ${reason}); using the bundled subset`,
        ]);
      }
    } finally {
      server.close();
      if (previous === undefined) delete process.env['THAW_CACHE_DIR'];
      else process.env['THAW_CACHE_DIR'] = previous;
    }
  });

  it('errors when a given path lacks the files, naming the field and the files expected', async () => {
    try {
      await findFashionMnist({
        path: './nowhere',
        download: false,
        url: 'http://x/',
        specDir: dir,
        where: 'spec.yaml: data',
        log: recordingLogger(),
      });
      expect.fail('expected an error');
    } catch (error) {
      expect((error as Error).message)
        .to.contain('spec.yaml: data.path: received "./nowhere"')
        .and.contain(FASHION_MNIST_FILES.trainImages);
    }
  });

  it('reports a corrupt image file by name', async () => {
    const broken = join(dir, 'broken');
    await mkdir(broken, { recursive: true });
    for (const file of Object.values(FASHION_MNIST_FILES)) await writeFile(join(broken, file), 'not gzip, not idx');
    try {
      await dataset.load(options({ path: broken }), context());
      expect.fail('expected an error');
    } catch (error) {
      expect(error).to.be.instanceOf(ThawError);
      expect((error as Error).message).to.match(/broken\/.*-ubyte\.gz: not an IDX file/);
    }
  });
});
