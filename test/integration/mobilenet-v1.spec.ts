import { join } from 'node:path';
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { TrialPipeline, disposeModel, layersModelFolder } from '@thaw/core';
import { MobileNetV1Base, hostedMobileNetV1Url } from '@thaw/plugins';
import { loadTinySpec, recordingLogger, temporaryFolder, testContainer } from '../helpers/fixtures.js';

/** The architecture of the TF.js-hosted Keras MobileNet v1 (top included), built here: nothing can be downloaded in tests. */
function kerasMobileNetV1(alpha: number, size: number): tf.LayersModel {
  const input = tf.input({ shape: [size, size, 3], name: 'input_1' });
  const relu6 = (name: string) => tf.layers.reLU({ maxValue: 6, name });
  const bn = (name: string) => tf.layers.batchNormalization({ epsilon: 1e-3, name });
  const stack = (x: tf.SymbolicTensor, layers: tf.layers.Layer[]) => layers.reduce((t, l) => l.apply(t) as tf.SymbolicTensor, x);
  let x = stack(input, [
    tf.layers.zeroPadding2d({
      padding: [
        [0, 1],
        [0, 1],
      ],
      name: 'conv1_pad',
    }),
    tf.layers.conv2d({ filters: 32 * alpha, kernelSize: 3, strides: 2, padding: 'valid', useBias: false, name: 'conv1' }),
    bn('conv1_bn'),
    relu6('conv1_relu'),
  ]);
  const blocks: [number, number][] = [
    [64, 1],
    [128, 2],
    [128, 1],
    [256, 2],
    [256, 1],
    [512, 2],
    [512, 1],
    [512, 1],
    [512, 1],
    [512, 1],
    [512, 1],
    [1024, 2],
    [1024, 1],
  ];
  blocks.forEach(([filters, stride], index) => {
    const id = index + 1;
    const layers: tf.layers.Layer[] = [];
    if (stride === 2)
      layers.push(
        tf.layers.zeroPadding2d({
          padding: [
            [0, 1],
            [0, 1],
          ],
          name: `conv_pad_${id}`,
        }),
      );
    layers.push(
      tf.layers.depthwiseConv2d({
        kernelSize: 3,
        strides: stride,
        padding: stride === 1 ? 'same' : 'valid',
        useBias: false,
        name: `conv_dw_${id}`,
      }),
      bn(`conv_dw_${id}_bn`),
      relu6(`conv_dw_${id}_relu`),
      tf.layers.conv2d({ filters: filters * alpha, kernelSize: 1, useBias: false, name: `conv_pw_${id}` }),
      bn(`conv_pw_${id}_bn`),
      relu6(`conv_pw_${id}_relu`),
    );
    x = stack(x, layers);
  });
  x = stack(x, [
    tf.layers.globalAveragePooling2d({ name: 'global_average_pooling2d_1' }),
    tf.layers.dense({ units: 1000, name: 'conv_preds' }),
  ]);
  return tf.model({ inputs: input, outputs: x, name: `mobilenet_${alpha}_${size}` });
}

describe('mobilenet-v1 base', function () {
  this.timeout(120_000);
  let dir = '';
  let remove: () => Promise<void>;
  before(async () => {
    ({ dir, remove } = await temporaryFolder());
    const model = kerasMobileNetV1(0.25, 128);
    await model.save(layersModelFolder(join(dir, 'mobilenet_v1_0.25_128')));
    disposeModel(model);
  });
  after(() => remove());

  it('loads a local copy, cuts it at conv_pw_13_relu, finds the stem and 13 blocks, and runs a small trial on adapted images', async () => {
    const base = await new MobileNetV1Base().build(
      { alpha: 0.25, size: 128, path: 'mobilenet_v1_0.25_128', cutAt: 'conv_pw_13_relu' },
      { inputShape: [128, 128, 3], seed: 1, specDir: dir, log: recordingLogger(), where: 'spec.yaml: model.base' },
    );
    expect(base.units.map((u) => u.name)).to.deep.equal(['stem', ...Array.from({ length: 13 }, (_, i) => `block_${i + 1}`)]);
    expect(base.units[0]!.layers).to.deep.equal(['conv1_pad', 'conv1', 'conv1_bn', 'conv1_relu']);
    expect(base.units[1]!.layers).to.deep.equal([
      'conv_dw_1',
      'conv_dw_1_bn',
      'conv_dw_1_relu',
      'conv_pw_1',
      'conv_pw_1_bn',
      'conv_pw_1_relu',
    ]);
    expect(base.units[2]!.layers[0]).to.equal('conv_pad_2');
    expect(base.model.outputs[0]!.shape).to.deep.equal([null, 4, 4, 256]);
    expect(base.model.layers.map((l) => l.name)).to.not.include('conv_preds');
    disposeModel(base.model);

    const container = await testContainer(dir);
    const loaded = await loadTinySpec(
      dir,
      {
        name: 'mnv1',
        data: { plugin: 'fashion-mnist', classes: [0, 1], trainPerClass: 4, validationPerClass: 2, testPerClass: 2 },
        model: { base: { plugin: 'mobilenet-v1', path: 'mobilenet_v1_0.25_128' }, head: { dropout: 0 } },
        strategy: { plugin: 'fine-tune', unfreeze: 1 },
        train: { epochs: 1, batchSize: 4 },
      },
      'mnv1.yaml',
    );
    const result = await container.get<TrialPipeline>(TrialPipeline).run(loaded, { backend: tf.getBackend() });
    expect(result.facts.units).to.equal(14);
    expect(result.facts.trainableUnits).to.equal(1);
    expect(result.built.base.adapterLayers).to.deep.equal(['thaw_resize', 'thaw_grey_to_rgb']);
  });

  it('names the hosted models, and refuses an alpha or size that is not hosted, listing those that are', async () => {
    expect(hostedMobileNetV1Url(0.25, 224)).to.equal('https://storage.googleapis.com/tfjs-models/tfjs/mobilenet_v1_0.25_224/model.json');
    expect(hostedMobileNetV1Url(1, 128)).to.equal('https://storage.googleapis.com/tfjs-models/tfjs/mobilenet_v1_1.0_128/model.json');
    const context = {
      inputShape: [28, 28, 1] as [number, number, number],
      seed: 1,
      specDir: dir,
      log: recordingLogger(),
      where: 'spec.yaml: model.base',
    };
    const plugin = new MobileNetV1Base();
    expect(
      await plugin.build({ alpha: 0.3, size: 224, cutAt: 'conv_pw_13_relu' }, context).catch((e: unknown) => (e as Error).message),
    ).to.equal('spec.yaml: model.base.alpha: received 0.3; expected one of 0.25, 0.5, 0.75, 1');
    expect(
      await plugin.build({ alpha: 0.5, size: 100, cutAt: 'conv_pw_13_relu' }, context).catch((e: unknown) => (e as Error).message),
    ).to.equal('spec.yaml: model.base.size: received 100; expected one of 128, 160, 192, 224');
    const cut = await plugin
      .build({ alpha: 0.25, size: 128, path: 'mobilenet_v1_0.25_128', cutAt: 'conv_pw_99_relu' }, context)
      .catch((e: unknown) => (e as Error).message);
    expect(cut).to.match(/^spec\.yaml: model\.base\.cutAt: received "conv_pw_99_relu", which is not a layer of/);
  });
});
