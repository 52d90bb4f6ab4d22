import * as tf from '@tensorflow/tfjs';
import { expect } from 'chai';
import { SeededRandom, compileInference, silentLogger, withSeededMathRandom } from '@thaw/core';
import { SmallConvnet } from '@thaw/plugins';

describe('inference function (BatchNormalization folded, fused convolutions)', () => {
  it('matches the model in inference mode, fusing every conv + BN + ReLU', async () => {
    await withSeededMathRandom(3, async () => {
      const plugin = new SmallConvnet();
      const { model } = await plugin.build(plugin.optionsSchema.parse({ filters: [4, 8, 6] }), {
        inputShape: [28, 28, 1],
        seed: 3,
        specDir: '.',
        log: silentLogger,
        where: 'test',
      });
      // Give BN non-trivial statistics and affine weights, as training would.
      const random = new SeededRandom(9);
      for (const layer of model.layers.filter((l) => l.getClassName() === 'BatchNormalization')) {
        layer.setWeights(
          layer.getWeights().map((w, i) =>
            tf.tensor(
              Float32Array.from({ length: w.size }, () => (i === 3 ? random.uniform(0.5, 2) : random.uniform(-1, 1))),
              w.shape,
            ),
          ),
        );
      }
      const x = tf.tensor4d(
        Float32Array.from({ length: 4 * 28 * 28 }, () => random.next()),
        [4, 28, 28, 1],
      );
      const inference = compileInference(model);
      expect(inference.fused).to.equal(3);
      const expected = await (model.predict(x) as tf.Tensor).data();
      const actual = await inference.run(x).data();
      const scale = Math.max(...Array.from(expected, Math.abs));
      actual.forEach((value, i) => expect(value).to.be.closeTo(expected[i]!, 1e-4 * scale));
      const before = tf.memory().numTensors;
      inference.dispose();
      expect(tf.memory().numTensors).to.equal(before - 6);
      model.dispose();
      x.dispose();
    });
  });
});
