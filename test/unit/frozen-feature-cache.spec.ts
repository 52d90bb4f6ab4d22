import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { expect } from 'chai';
import { FrozenFeatureCacheImpl, inMemorySplit } from '@thaw/core';
import { temporaryFolder } from '../helpers/fixtures.js';

describe('frozen-feature cache on disk', () => {
  let dir: string;
  let remove: () => Promise<void>;
  before(async () => ({ dir, remove } = await temporaryFolder()));
  after(() => remove());

  it('finds a file with garbled or zeroed values by its checksum, warns, computes again and replaces it', async () => {
    const prefix = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [4, 4, 1] }), tf.layers.dense({ units: 3 })] });
    const split = inMemorySplit(tf.randomUniform<tf.Rank.R4>([5, 4, 4, 1], 0, 1, 'float32', 7), Int32Array.from([0, 1, 0, 1, 0]));
    let computed = 0;
    const compute = () => {
      computed++;
      return Promise.resolve(prefix.predict(tf.ones([5, 4, 4, 1])) as tf.Tensor);
    };
    const warnings: string[] = [];
    const cache = () =>
      new FrozenFeatureCacheImpl({ memoryBytes: 0, diskBytes: 2 ** 20, dir: join(dir, 'features'), warn: (m) => warnings.push(m) });
    const first = await cache().features(prefix, split, compute);
    const expected = Array.from(await first.data());
    first.dispose();
    const [name] = await readdir(join(dir, 'features'));
    const file = join(dir, 'features', name!);

    for (const damage of [
      (b: Buffer) => b.fill(0, b.length - 12),
      (b: Buffer) => (b.writeFloatLE(1e6, b.length - 4), b),
      (b: Buffer) => b.subarray(0, 20),
    ]) {
      await writeFile(file, damage(Buffer.from(await readFile(file))));
      const before = computed;
      const again = await cache().features(prefix, split, compute);
      expect(Array.from(await again.data())).to.deep.equal(expected);
      again.dispose();
      expect(computed, 'computed again').to.equal(before + 1);
      expect(warnings.pop()).to.match(
        new RegExp(`feature cache: .*${name!}.* is damaged \\((checksum mismatch|\\d+ bytes of values|truncated header)`),
      );
    }
    const hit = await cache().features(prefix, split, compute);
    hit.dispose();
    expect(computed, 'the replaced file is read').to.equal(4);
    expect(warnings).to.deep.equal([]);
    split.dispose();
    prefix.dispose();
  });
});
