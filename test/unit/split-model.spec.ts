import * as tf from '@tensorflow/tfjs';
import { expect } from 'chai';
import type { Container } from 'inversify';
import {
  BuildStage,
  FreezeStageImpl,
  ThawError,
  TrialPlanner,
  disposeModel,
  splitModel,
  withSeededMathRandom,
  type BuiltModel,
  type FrozenModel,
  type TrialPlan,
} from '@thaw/core';
import { loadTinySpec, temporaryFolder, testContainer } from '../helpers/fixtures.js';

function errorOf(work: () => unknown): ThawError {
  try {
    work();
  } catch (error) {
    expect(error).to.be.instanceOf(ThawError);
    return error as ThawError;
  }
  throw new Error('expected a ThawError');
}

/** Deterministic inputs in [0, 1). */
function inputs(shape: number[]): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(
    Float32Array.from({ length: size }, (_, i) => ((i * 7919) % 1000) / 1000),
    shape,
  );
}

/** input → conv → BN → relu → pool | → conv → BN → relu → global pool → dropout → dense softmax: cut at `pool`. */
function convModel(): tf.LayersModel {
  const input = tf.input({ shape: [8, 8, 2], name: 'input' });
  const layers = [
    tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', name: 'conv1' }),
    tf.layers.batchNormalization({ name: 'bn1' }),
    tf.layers.activation({ activation: 'relu', name: 'relu1' }),
    tf.layers.maxPooling2d({ poolSize: 2, name: 'pool' }),
    tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', name: 'conv2' }),
    tf.layers.batchNormalization({ name: 'bn2' }),
    tf.layers.activation({ activation: 'relu', name: 'relu2' }),
    tf.layers.globalAveragePooling2d({ name: 'gap' }),
    tf.layers.dropout({ rate: 0.5, name: 'dropout' }),
    tf.layers.dense({ units: 3, activation: 'softmax', name: 'out' }),
  ];
  const output = layers.reduce<tf.SymbolicTensor>((x, layer) => layer.apply(x) as tf.SymbolicTensor, input);
  return tf.model({ inputs: input, outputs: output, name: 'conv' });
}

/** input → d0 → [d1 → d2 → add(d0, d2)] → out: a residual block whose shortcut starts at d0. */
function residualModel(): tf.LayersModel {
  const input = tf.input({ shape: [4], name: 'input' });
  const d0 = tf.layers.dense({ units: 5, activation: 'relu', name: 'd0' }).apply(input) as tf.SymbolicTensor;
  const d1 = tf.layers.dense({ units: 5, activation: 'relu', name: 'd1' }).apply(d0) as tf.SymbolicTensor;
  const d2 = tf.layers.dense({ units: 5, name: 'd2' }).apply(d1) as tf.SymbolicTensor;
  const sum = tf.layers.add({ name: 'residual_add' }).apply([d0, d2]) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 2, name: 'out' }).apply(sum) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out, name: 'residual' });
}

describe('splitModel', () => {
  it('cuts at a layer boundary into prefix and suffix whose composition is the model, exactly, in inference', async () => {
    await withSeededMathRandom(1, async () => {
      const model = convModel();
      const { prefix, suffix } = splitModel(model, 'pool');
      expect(prefix.outputs[0]!.shape).to.deep.equal([null, 4, 4, 3]);
      expect(suffix.inputs[0]!.shape).to.deep.equal([null, 4, 4, 3]);
      expect(suffix.outputs[0]!.shape).to.deep.equal([null, 3]);
      expect(prefix.layers.map((l) => l.name)).to.deep.equal(['input', 'conv1', 'bn1', 'relu1', 'pool']);
      // The parts share the model's layers (training the suffix trains the model).
      expect(suffix.getLayer('conv2')).to.equal(model.getLayer('conv2'));
      expect(prefix.getLayer('conv1')).to.equal(model.getLayer('conv1'));

      const x = inputs([3, 8, 8, 2]);
      const whole = model.predict(x) as tf.Tensor;
      const features = prefix.predict(x) as tf.Tensor;
      const composed = suffix.predict(features) as tf.Tensor;
      expect(Array.from(await composed.data())).to.deep.equal(Array.from(await whole.data()));
      tf.dispose([x, whole, features, composed]);
      disposeModel(model);
    });
  });

  it('keeps a residual block that lies wholly above the cut in the suffix', async () => {
    await withSeededMathRandom(2, async () => {
      const model = residualModel();
      const { prefix, suffix } = splitModel(model, 'd0');
      expect(suffix.layers.map((l) => l.name)).to.include.members(['d1', 'd2', 'residual_add', 'out']);
      const x = inputs([4, 4]);
      const whole = model.predict(x) as tf.Tensor;
      const features = prefix.predict(x) as tf.Tensor;
      const composed = suffix.predict(features) as tf.Tensor;
      expect(Array.from(await composed.data())).to.deep.equal(Array.from(await whole.data()));
      tf.dispose([x, whole, features, composed]);
      disposeModel(model);
    });
  });

  it('refuses a cut inside a residual block, naming the layer that takes a tensor from below the cut', () => {
    const model = residualModel();
    for (const cut of ['d1', 'd2']) {
      const error = errorOf(() => splitModel(model, cut));
      expect(error.message).to.equal(
        `cannot cut residual after layer ${cut}: layer residual_add also takes a tensor from below the cut; expected the cut at a unit boundary`,
      );
    }
    disposeModel(model);
  });

  it('refuses a cut that not every output depends on', () => {
    const input = tf.input({ shape: [4], name: 'input' });
    const a = tf.layers.dense({ units: 3, name: 'a' }).apply(input) as tf.SymbolicTensor;
    const outA = tf.layers.dense({ units: 2, name: 'out_a' }).apply(a) as tf.SymbolicTensor;
    const outB = tf.layers.dense({ units: 2, name: 'out_b' }).apply(input) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: [outA, outB], name: 'two_heads' });
    const error = errorOf(() => splitModel(model, 'a'));
    expect(error.message).to.equal('cannot cut two_heads after layer a: not every output depends on it');
    disposeModel(model);
  });
});

describe('freeze stage: where the network is cut', function () {
  let dir: string;
  let remove: () => Promise<void>;
  let container: Container;
  const freeze = new FreezeStageImpl();
  before(async () => {
    ({ dir, remove } = await temporaryFolder());
    container = await testContainer(dir);
  });
  after(() => remove());

  /** The tiny spec (small-convnet blocks block1, block2; head: pooling, dropout, softmax) planned for a depth and built. */
  async function built(unfreeze: number | 'all'): Promise<{ plan: TrialPlan; built: BuiltModel }> {
    const loaded = await loadTinySpec(dir, { strategy: { plugin: 'fine-tune', unfreeze, batchNorm: 'train' } }, `freeze-${unfreeze}.yaml`);
    const plan = await container.get<TrialPlanner>(TrialPlanner).plan(loaded);
    const model = await withSeededMathRandom(plan.loaded.spec.seed, () => container.get<BuildStage>(BuildStage).build(plan));
    return { plan, built: model };
  }

  const trainableFlags = (model: tf.LayersModel) => model.layers.map((layer) => [layer.name, layer.trainable]);

  /** The frozen prefix followed by the trainable part gives the built model's output (inference). */
  async function expectComposition(built: BuiltModel, frozen: FrozenModel): Promise<void> {
    const x = inputs([5, 28, 28, 1]);
    const whole = built.model.predict(x) as tf.Tensor;
    const features = frozen.frozenPrefix ? (frozen.frozenPrefix.predict(x) as tf.Tensor) : x;
    const composed = frozen.trainable.predict(features) as tf.Tensor;
    expect(Array.from(await composed.data())).to.deep.equal(Array.from(await whole.data()));
    if (frozen.frozenInference) {
      const fused = frozen.frozenInference.run(x);
      const expected = await features.data();
      const actual = await fused.data();
      expect(fused.shape).to.deep.equal(features.shape);
      actual.forEach((value, i) => expect(value).to.be.closeTo(expected[i]!, 1e-4));
      fused.dispose();
    }
    tf.dispose([x, whole, composed, ...(features === x ? [] : [features])]);
  }

  it('depth 0: cuts after the last unit and past the head’s weightless pooling, so the frozen features are 2-D', async () => {
    const { plan, built: model } = await built(0);
    expect(model.headLayers).to.deep.equal(['head_pool', 'head_dropout', 'head_output']);
    const before = trainableFlags(model.model);
    const frozen = freeze.apply(model, plan.phases[0]!);
    expect(frozen.cutAfterUnit).to.equal('block2');
    expect(frozen.frozenPrefix!.outputLayers.map((l) => l.name)).to.deep.equal(['head_pool']);
    expect(frozen.frozenPrefix!.outputs[0]!.shape).to.deep.equal([null, 8]);
    expect(frozen.trainable.layers.map((l) => l.name)).to.deep.equal(['head_pool_features', 'head_dropout', 'head_output']);
    expect(frozen.facts.trainableUnits).to.equal(0);
    expect(frozen.facts.trainableBaseLayers).to.equal(0);
    await expectComposition(model, frozen);
    frozen.release();
    expect(trainableFlags(model.model)).to.deep.equal(before);
    disposeModel(model.model);
  });

  it('depth 1: cuts after the unit below the lowest trainable one, at its last layer', async () => {
    const { plan, built: model } = await built(1);
    const frozen = freeze.apply(model, plan.phases[0]!);
    expect(frozen.cutAfterUnit).to.equal('block1');
    expect(frozen.frozenPrefix!.outputLayers.map((l) => l.name)).to.deep.equal(['block1_pool']);
    expect(frozen.frozenPrefix!.outputs[0]!.shape).to.deep.equal([null, 14, 14, 4]);
    expect(frozen.trainable.layers.map((l) => l.name)).to.include.members(['block2_conv', 'block2_bn', 'head_output']);
    expect(frozen.trainable.layers.map((l) => l.name)).to.not.include('block1_conv');
    expect(model.model.getLayer('block1_conv').trainable).to.equal(false);
    expect(model.model.getLayer('block2_conv').trainable).to.equal(true);
    expect(frozen.facts.trainableUnits).to.equal(1);
    await expectComposition(model, frozen);
    frozen.release();
    disposeModel(model.model);
  });

  it('depth all: nothing is frozen below the trainable part, so there is no cut', async () => {
    const { plan, built: model } = await built('all');
    const frozen = freeze.apply(model, plan.phases[0]!);
    expect(frozen.cutAfterUnit).to.equal(undefined);
    expect(frozen.frozenPrefix).to.equal(undefined);
    expect(frozen.frozenInference).to.equal(undefined);
    expect(frozen.trainable).to.equal(model.model);
    expect(frozen.facts.trainableUnits).to.equal(2);
    frozen.release();
    disposeModel(model.model);
  });
});
