import * as tf from '@tensorflow/tfjs';
import { expect } from 'chai';
import type { Container } from 'inversify';
import { TrialObserver, TrialPipeline, type TrialResult } from '@thaw/core';
import { loadTinySpec, temporaryFolder, testContainer } from '../helpers/fixtures.js';

async function movingStatistics(model: tf.LayersModel, layer: string): Promise<{ mean: number[]; variance: number[] }> {
  const weights = model.getLayer(layer).weights;
  const byName = (suffix: string) => weights.find((w) => w.name.includes(suffix))!.read();
  return { mean: Array.from(await byName('moving_mean').data()), variance: Array.from(await byName('moving_variance').data()) };
}

/** Runs a trial and reads the BN moving statistics of every block before the model is disposed. */
async function trainAndReadBatchNorm(container: Container, dir: string, strategy: Record<string, unknown>) {
  const stats: Record<string, { mean: number[]; variance: number[] }> = {};
  const reader: TrialObserver = {
    async onTrialEnd(result: TrialResult) {
      for (const unit of result.built.units) stats[unit.name] = await movingStatistics(result.built.model, `${unit.name}_bn`);
    },
  };
  container.bind(TrialObserver).toConstantValue(reader);
  const loaded = await loadTinySpec(dir, { strategy, model: { base: { plugin: 'small-convnet', filters: [4, 6, 8] } } }, 'bn.yaml');
  await container.get<TrialPipeline>(TrialPipeline).run(loaded, { backend: tf.getBackend() });
  await container.unbindAsync(TrialObserver);
  return stats;
}

const untouched = (s: { mean: number[]; variance: number[] }) => s.mean.every((v) => v === 0) && s.variance.every((v) => v === 1);

describe('freezing', () => {
  let dir: string;
  let remove: () => Promise<void>;
  before(async () => ({ dir, remove } = await temporaryFolder()));
  after(() => remove());

  it('TF.js itself updates a non-trainable BatchNormalization layer in training mode (why thaw must intervene)', () => {
    const layer = tf.layers.batchNormalization({ inputShape: [3] });
    const model = tf.sequential({ layers: [layer] });
    layer.trainable = false;
    tf.tidy(() => {
      model.apply(tf.randomNormal([8, 3], 5, 2), { training: true });
    });
    const mean = layer.getWeights()[2]!.dataSync();
    expect(Array.from(mean).some((v) => v !== 0)).to.equal(true);
    model.dispose();
  });

  it('keeps frozen BatchNormalization statistics unchanged while unfrozen ones train', async () => {
    const container = await testContainer(dir);
    const stats = await trainAndReadBatchNorm(container, dir, { plugin: 'fine-tune', unfreeze: 1, batchNorm: 'train' });
    expect(untouched(stats['block1']!), 'block1 (frozen)').to.equal(true);
    expect(untouched(stats['block2']!), 'block2 (frozen)').to.equal(true);
    expect(untouched(stats['block3']!), 'block3 (unfrozen, batchNorm: train)').to.equal(false);
  });

  it('keeps BatchNormalization of unfrozen units in inference mode with batchNorm: frozen', async () => {
    const container = await testContainer(dir);
    const stats = await trainAndReadBatchNorm(container, dir, { plugin: 'fine-tune', unfreeze: 'all', batchNorm: 'frozen' });
    for (const block of ['block1', 'block2', 'block3']) expect(untouched(stats[block]!), block).to.equal(true);
  });

  it('with batchNorm: inference (the default), trains gamma and beta of unfrozen BN layers while their statistics stay fixed', async () => {
    const container = await testContainer(dir);
    const gammaBeta: Record<string, number[]> = {};
    container.bind(TrialObserver).toConstantValue({
      async onTrialEnd(result: TrialResult) {
        for (const unit of result.built.units) {
          const weights = result.built.model.getLayer(`${unit.name}_bn`).weights;
          const values = await Promise.all(
            ['gamma', 'beta'].map((n) =>
              weights
                .find((w) => w.name.includes(n))!
                .read()
                .data(),
            ),
          );
          gammaBeta[unit.name] = values.flatMap((v) => Array.from(v));
        }
      },
    } satisfies TrialObserver);
    const stats = await trainAndReadBatchNorm(container, dir, { plugin: 'fine-tune', unfreeze: 1 });
    for (const block of ['block1', 'block2', 'block3']) expect(untouched(stats[block]!), block).to.equal(true);
    const initial = (values: number[]) => values.every((v, i) => v === (i < values.length / 2 ? 1 : 0));
    expect(initial(gammaBeta['block2']!), 'block2 (frozen)').to.equal(true);
    expect(initial(gammaBeta['block3']!), 'block3 (unfrozen: gamma and beta train)').to.equal(false);
  });

  it('gives feature-extraction and fine-tune with unfreeze 0 the same trainable set and the same results', async () => {
    const run = async (strategy: Record<string, unknown>, name: string) => {
      const container = await testContainer(dir);
      const loaded = await loadTinySpec(dir, { strategy }, name);
      return container.get<TrialPipeline>(TrialPipeline).run(loaded, { backend: tf.getBackend() });
    };
    const fineTune = await run({ plugin: 'fine-tune', unfreeze: 0 }, 'ft0.yaml');
    const extraction = await run({ plugin: 'feature-extraction' }, 'fe.yaml');
    expect(extraction.phases.map((p) => p.trainableUnits)).to.deep.equal(fineTune.phases.map((p) => p.trainableUnits));
    expect(extraction.facts).to.deep.equal(fineTune.facts);
    expect(extraction.facts.trainableUnits).to.equal(0);
    expect(extraction.train.epochs.map((e) => [e.loss, e.valLoss])).to.deep.equal(fineTune.train.epochs.map((e) => [e.loss, e.valLoss]));
    expect(extraction.evaluation.confusionMatrix).to.deep.equal(fineTune.evaluation.confusionMatrix);
    expect(extraction.evaluation.loss).to.equal(fineTune.evaluation.loss);
  });

  it('trains exactly the top k units: trainable params grow with the unfreeze depth', async () => {
    const container = await testContainer(dir);
    const pipeline = container.get<TrialPipeline>(TrialPipeline);
    const params: number[] = [];
    for (const unfreeze of [0, 1, 2]) {
      const loaded = await loadTinySpec(
        dir,
        { strategy: { plugin: 'fine-tune', unfreeze, batchNorm: 'train' }, train: { epochs: 1, batchSize: 16 } },
        `k${unfreeze}.yaml`,
      );
      const result = await pipeline.run(loaded, { backend: tf.getBackend() });
      expect(result.facts.trainableUnits).to.equal(unfreeze);
      params.push(result.facts.trainableParams);
    }
    // head: 8 → 3 dense = 27; block2: 3·3·4·8 conv + 2·8 BN = 304; block1: 3·3·1·4 + 2·4 = 44
    expect(params).to.deep.equal([27, 27 + 304, 27 + 304 + 44]);
  });
});
