import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { expect } from 'chai';
import { ThawError, TrialPipeline, layersModelFolder } from '@thaw/core';
import { deriveUnits } from '@thaw/plugins';
import { loadTinySpec, temporaryFolder, testContainer } from '../helpers/fixtures.js';

/** conv_a → relu_a → conv_b → conv_c → add(relu_a, conv_c) → bn_d → pool: a skip connection over two convs. */
function residualModel(): tf.LayersModel {
  const input = tf.input({ shape: [28, 28, 1], name: 'image' });
  const a = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', name: 'conv_a' }).apply(input) as tf.SymbolicTensor;
  const reluA = tf.layers.activation({ activation: 'relu', name: 'relu_a' }).apply(a) as tf.SymbolicTensor;
  const b = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', name: 'conv_b' }).apply(reluA) as tf.SymbolicTensor;
  const c = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', name: 'conv_c' }).apply(b) as tf.SymbolicTensor;
  const sum = tf.layers.add({ name: 'add' }).apply([reluA, c]) as tf.SymbolicTensor;
  const d = tf.layers
    .conv2d({ filters: 6, kernelSize: 3, strides: 2, padding: 'same', useBias: false, name: 'conv_d' })
    .apply(sum) as tf.SymbolicTensor;
  const bn = tf.layers.batchNormalization({ name: 'bn_d' }).apply(d) as tf.SymbolicTensor;
  const pool = tf.layers.maxPooling2d({ poolSize: 2, name: 'pool' }).apply(bn) as tf.SymbolicTensor;
  const logits = tf.layers
    .dense({ units: 3, name: 'old_head' })
    .apply(tf.layers.flatten({ name: 'flat' }).apply(pool)) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: logits });
}

describe('layers-model base', () => {
  let dir: string;
  let remove: () => Promise<void>;
  before(async () => ({ dir, remove } = await temporaryFolder()));
  after(() => remove());

  it('derives units, merging those a skip connection crosses', () => {
    const model = residualModel();
    const cut = tf.model({ inputs: model.inputs, outputs: model.getLayer('pool').getOutputAt(0) });
    expect(deriveUnits(cut)).to.deep.equal([
      { name: 'conv_a', layers: ['conv_a', 'relu_a'] },
      { name: 'conv_b', layers: ['conv_b', 'conv_c', 'add'] },
      { name: 'conv_d', layers: ['conv_d', 'bn_d', 'pool'] },
    ]);
    model.dispose();
  });

  it('loads a saved model, cuts it at a named layer and trains its top unit', async () => {
    const model = residualModel();
    await model.save(layersModelFolder(join(dir, 'residual')));
    model.dispose();
    const container = await testContainer(dir);
    const loaded = await loadTinySpec(
      dir,
      {
        model: { base: { plugin: 'layers-model', path: 'residual/model.json', cutAt: 'pool' } },
        strategy: { plugin: 'fine-tune', unfreeze: 1, batchNorm: 'train' },
        train: { epochs: 1, batchSize: 16 },
      },
      'lm.yaml',
    );
    const result = await container.get<TrialPipeline>(TrialPipeline).run(loaded, { backend: tf.getBackend() });
    expect(result.built.units.map((unit) => unit.name)).to.deep.equal(['conv_a', 'conv_b', 'conv_d']);
    // conv_d 3·3·4·6 = 216, bn_d γ β 12, head 6 → 3: 21
    expect(result.facts.trainableParams).to.equal(216 + 12 + 21);
    expect(result.built.model.layers.map((layer) => layer.name)).to.not.include('old_head');
  });

  it('names the layers when cutAt is not one of them', async () => {
    const container = await testContainer(dir);
    const loaded = await loadTinySpec(
      dir,
      { model: { base: { plugin: 'layers-model', path: 'residual', cutAt: 'poool' } } },
      'bad-cut.yaml',
    );
    try {
      await container.get<TrialPipeline>(TrialPipeline).run(loaded, { backend: tf.getBackend() });
      expect.fail('expected an error');
    } catch (error) {
      expect(error).to.be.instanceOf(ThawError);
      expect((error as Error).message).to.match(
        /model\.base\.cutAt: received "poool", which is not a layer of .*residual; layers: image, conv_a/,
      );
    }
  });
});
