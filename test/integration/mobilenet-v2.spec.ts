import { join } from 'node:path';
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import {
  BuildStage,
  FreezeStage,
  TrialPlanner,
  ModelInspection,
  ThawError,
  TrialPipeline,
  disposeModel,
  kerasLayerNames,
  layersModelFolder,
  type BaseModelContext,
  type BuiltModel,
} from '@thaw/core';
import { MobileNetV2Base } from '@thaw/plugins';
import { loadTinySpec, recordingLogger, temporaryFolder, testContainer } from '../helpers/fixtures.js';

function context(inputShape: [number, number, number], specDir = '.'): BaseModelContext & { log: ReturnType<typeof recordingLogger> } {
  return { inputShape, seed: 1, specDir, log: recordingLogger(), where: 'spec.yaml: model.base' };
}

describe('mobilenet-v2 base', function () {
  this.timeout(180_000);
  const plugin = new MobileNetV2Base();
  let dir = '';
  let remove: () => Promise<void>;
  before(async () => ({ dir, remove } = await temporaryFolder()));
  after(() => remove());

  it('is built as Keras builds it: 154 layers, 2,257,984 parameters at alpha 1.0 and 160×160×3, Keras names and types', async () => {
    const ctx = context([160, 160, 3]);
    const base = await plugin.build({ alpha: 1.0 }, ctx);
    try {
      const layers = base.model.layers;
      expect(layers).to.have.length(154);
      expect(base.model.countParams()).to.equal(2_257_984);
      expect(base.model.outputs[0]!.shape).to.deep.equal([null, 5, 5, 1280]);
      const described = layers.map((layer) => `${layer.name}:${layer.getClassName()}`);
      expect(described.slice(1, 9)).to.deep.equal([
        'Conv1:Conv2D',
        'bn_Conv1:BatchNormalization',
        'Conv1_relu:ReLU',
        'expanded_conv_depthwise:DepthwiseConv2D',
        'expanded_conv_depthwise_BN:BatchNormalization',
        'expanded_conv_depthwise_relu:ReLU',
        'expanded_conv_project:Conv2D',
        'expanded_conv_project_BN:BatchNormalization',
      ]);
      expect(described).to.include.members(['block_1_pad:ZeroPadding2D', 'block_2_add:Add', 'block_16_project_BN:BatchNormalization']);
      expect(described.slice(-3)).to.deep.equal(['Conv_1:Conv2D', 'Conv_1_bn:BatchNormalization', 'out_relu:ReLU']);
      expect(described.filter((d) => d.endsWith(':Add'))).to.have.length(10);
      expect(described.filter((d) => d.endsWith(':ZeroPadding2D'))).to.have.length(4);
      expect(base.units.map((unit) => unit.name)).to.deep.equal([
        'stem',
        'expanded_conv',
        ...Array.from({ length: 16 }, (_, i) => `block_${i + 1}`),
        'Conv_1',
      ]);
      expect(base.units.flatMap((unit) => unit.layers)).to.deep.equal(layers.slice(1).map((layer) => layer.name));
      expect(base.inputRange).to.deep.equal([-1, 1]);
      expect(ctx.log.lines.join('\n')).to.match(/no weights, so it starts from random values: this run is not transfer learning/);
    } finally {
      disposeModel(base.model);
    }
  });

  it('trains the top 54 layers with Keras’ fine_tune_at = 100, images adapted from 28×28 grey; the trainable set is recorded', async () => {
    const container = await testContainer(dir);
    const loaded = await loadTinySpec(
      dir,
      {
        data: { plugin: 'fashion-mnist', classes: [0, 1], trainPerClass: 2, validationPerClass: 2, testPerClass: 2 },
        model: { base: { plugin: 'mobilenet-v2', alpha: 1.0, size: 160 }, head: { dropout: 0 } },
        strategy: { plugin: 'fine-tune', unfreeze: { fineTuneAt: 100 }, batchNorm: 'train' },
      },
      'fine-tune-at.yaml',
    );
    const plan = await container.get<TrialPlanner>(TrialPlanner).plan(loaded);
    const built: BuiltModel = await container.get<BuildStage>(BuildStage).build(plan);
    try {
      expect(kerasLayerNames(built.base)).to.have.length(154);
      expect(plan.base.facts.layers).to.deep.equal(kerasLayerNames(built.base));
      const freeze = container.get<FreezeStage>(FreezeStage);
      const phases = plan.phases;
      expect(phases.map((p) => p.name)).to.deep.equal(['fine-tune-at-100']);
      expect(phases[0]!.frozenLayers).to.deep.equal(['block_11_expand', 'block_11_expand_BN']);
      const frozen = freeze.apply(built, phases[0]!);
      expect(frozen.facts.trainableBaseLayers).to.equal(54);
      expect(frozen.cutAfterUnit).to.equal('block_10');
      const trainable = built.base.model.layers.filter((layer) => layer.trainable).map((layer) => layer.name);
      expect(trainable[0]).to.equal('block_11_expand_relu');
      frozen.release();
    } finally {
      disposeModel(built.model);
    }
  });

  it('thaw summary of the Keras tutorial model (alpha 1.0, 160 px, fineTuneAt 100, Dense(1)): 56 trainable variables, 1,862,721 trainable params', async () => {
    const container = await testContainer(dir);
    const loaded = await loadTinySpec(
      dir,
      {
        data: { plugin: 'fashion-mnist', classes: [0, 1], trainPerClass: 2, validationPerClass: 2, testPerClass: 2 },
        model: { base: { plugin: 'mobilenet-v2', alpha: 1.0, size: 160 }, head: { units: 1, dropout: 0.2 } },
        strategy: { plugin: 'fine-tune', unfreeze: { fineTuneAt: 100 }, headFirst: { epochs: 1 } },
      },
      'tutorial-summary.yaml',
    );
    const plan = await container.get<TrialPlanner>(TrialPlanner).plan(loaded);
    const summary = await container.get<ModelInspection>(ModelInspection).describe(plan);
    // Keras: model.summary() after base_model.trainable = True; layers[:100] frozen; Dense(1) on pooled features.
    expect(summary).to.match(/trainable params\s+1,862,721\n/);
    expect(summary).to.match(/trainable variables\s+56\n/);
    expect(summary).to.match(/trainable base layers\s+54\n/);
  });

  it('loads weights by layer name: saved and loaded, the outputs are identical', async () => {
    const first = await plugin.build({ alpha: 0.35 }, context([32, 32, 3]));
    const folder = join(dir, 'mnv2-035-32');
    await first.model.save(layersModelFolder(folder));
    const ctx = context([32, 32, 3], dir);
    const second = await plugin.build({ alpha: 0.35, weights: 'mnv2-035-32' }, ctx);
    const x = tf.randomUniform([2, 32, 32, 3], -1, 1, 'float32', 7);
    const [a, b] = [first.model.predict(x) as tf.Tensor, second.model.predict(x) as tf.Tensor];
    expect(Array.from(await a.data())).to.deep.equal(Array.from(await b.data()));
    expect(second.description).to.include(`weights from ${folder}`);
    expect(ctx.log.lines).to.deep.equal([]);
    tf.dispose([x, a, b]);
    disposeModel(first.model);
    disposeModel(second.model);
  });

  it('refuses weights of another architecture, naming the first layer that does not match and listing the rest', async () => {
    const other = await plugin.build({ alpha: 0.5 }, context([32, 32, 3]));
    const withTop = tf.model({
      inputs: other.model.inputs,
      outputs: tf.layers
        .dense({ units: 3, name: 'Logits' })
        .apply(tf.layers.globalAveragePooling2d({}).apply(other.model.outputs[0]!)) as tf.SymbolicTensor,
    });
    await withTop.save(layersModelFolder(join(dir, 'mnv2-050-top')));
    const error = await plugin.build({ alpha: 0.35, weights: 'mnv2-050-top' }, context([32, 32, 3], dir)).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(ThawError);
    const message = (error as Error).message;
    expect(message).to.match(
      /^spec\.yaml: model\.base\.weights: the weights in .*mnv2-050-top are not of this architecture: the first layer that does not match is block_1_project;/,
    );
    expect(message).to.match(/mis-shaped \(76\): block_1_project \(expected \[1,1,48,8\], found \[1,1,48,16\]\)/);
    expect(message).to.match(/extra \(1\): Logits/);
    disposeModel(withTop);
  });

  it('refuses an unknown alpha or a size below 32, listing what is valid', async () => {
    const alpha = await plugin.build({ alpha: 0.6 }, context([32, 32, 3])).catch((e: unknown) => (e as Error).message);
    expect(alpha).to.equal('spec.yaml: model.base.alpha: received 0.6; expected one of 0.35, 0.5, 0.75, 1, 1.3, 1.4');
    const size = await plugin.build({ alpha: 0.35, size: 16 }, context([28, 28, 1])).catch((e: unknown) => (e as Error).message);
    expect(size).to.match(/^spec\.yaml: model\.base\.size: received 16 .*expected a square input of at least 32 px/);
  });

  it('runs a small trial (alpha 0.35, 32 px, from the unit block_16 up)', async () => {
    const container = await testContainer(dir);
    const overrides = {
      name: 'mnv2-trial',
      data: { plugin: 'fashion-mnist', classes: [0, 1, 2], trainPerClass: 8, validationPerClass: 4, testPerClass: 4 },
      model: { base: { plugin: 'mobilenet-v2', alpha: 0.35, size: 32 }, head: { dropout: 0 } },
      strategy: { plugin: 'fine-tune', unfreeze: { from: 'block_16' }, batchNorm: 'frozen' },
      train: { epochs: 1, batchSize: 8, learningRate: 0.001 },
    };
    const loaded = await loadTinySpec(dir, overrides, 'mnv2.yaml');
    const result = await container.get<TrialPipeline>(TrialPipeline).run(loaded, { backend: tf.getBackend() });
    expect(result.phases.map((p) => p.name)).to.deep.equal(['fine-tune-from-block_16']);
    expect(result.facts.trainableUnits).to.equal(2);
    expect(result.evaluation.accuracy).to.be.within(0, 1);
    const unknown = await loadTinySpec(
      dir,
      { ...overrides, strategy: { plugin: 'fine-tune', unfreeze: { from: 'block_99' } } },
      'bad.yaml',
    );
    const error = await container
      .get<TrialPipeline>(TrialPipeline)
      .run(unknown, { backend: tf.getBackend() })
      .catch((e: unknown) => e);
    expect((error as Error).message).to.match(
      /strategy\.unfreeze\.from: received "block_99"; expected a unit of the base: stem, expanded_conv, block_1,/,
    );
  });
});
