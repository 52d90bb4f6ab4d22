import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { expect } from 'chai';
import { AugmentStage, FileStoreTracker, FrozenFeatureCache, TrialPipeline, type AugmentOp, type Augmenter } from '@thaw/core';
import { loadTinySpec, temporaryFolder, testContainer } from '../helpers/fixtures.js';

describe('trial pipeline', () => {
  let dir: string;
  let remove: () => Promise<void>;
  before(async () => ({ dir, remove } = await temporaryFolder()));
  after(() => remove());

  it('returns tf.memory().numTensors to its baseline after two trials in one process', async () => {
    const container = await testContainer(dir);
    const pipeline = container.get<TrialPipeline>(TrialPipeline);
    const first = await loadTinySpec(dir, { augment: [{ op: 'flip' }], train: { epochs: 1, batchSize: 16, optimizer: 'adam' } }, 'm1.yaml');
    const second = await loadTinySpec(
      dir,
      {
        strategy: { plugin: 'fine-tune', unfreeze: 'all', headFirst: { epochs: 1 } },
        train: { epochs: 1, batchSize: 16, optimizer: 'rmsprop', earlyStopping: { patience: 1, restoreBestWeights: true } },
      },
      'm2.yaml',
    );
    const baseline = tf.memory().numTensors;
    await pipeline.run(first, { backend: tf.getBackend() });
    await pipeline.run(second, { backend: tf.getBackend() });
    expect(tf.memory().numTensors).to.equal(baseline);
    expect(
      container.get<FrozenFeatureCache>(FrozenFeatureCache).stats().entries,
      'the cache holds features, but no tensors',
    ).to.be.greaterThan(0);
  });

  it('gives identical results with and without the frozen-feature cache, and reuses features across trials', async () => {
    const container = await testContainer(dir);
    const pipeline = container.get<TrialPipeline>(TrialPipeline);
    const cache = container.get<FrozenFeatureCache>(FrozenFeatureCache);
    const spec = (cacheFrozen: boolean) => ({
      strategy: { plugin: 'fine-tune', unfreeze: 1, batchNorm: 'train' },
      train: { epochs: 3, batchSize: 16, cacheFrozen },
    });
    const without = await pipeline.run(await loadTinySpec(dir, spec(false), 'c0.yaml'), { backend: tf.getBackend() });
    expect(cache.stats().misses).to.equal(0);
    const first = await pipeline.run(await loadTinySpec(dir, spec(true), 'c1.yaml'), { backend: tf.getBackend() });
    expect(cache.stats()).to.include({ misses: 2, hits: 0 });
    const second = await pipeline.run(await loadTinySpec(dir, spec(true), 'c2.yaml'), { backend: tf.getBackend() });
    expect(cache.stats()).to.include({ misses: 2, hits: 2 });
    expect(without.trial.configHash).to.equal(first.trial.configHash);
    for (const result of [first, second]) {
      expect(result.train.epochs.map((e) => [e.loss, e.accuracy, e.valLoss, e.valAccuracy])).to.deep.equal(
        without.train.epochs.map((e) => [e.loss, e.accuracy, e.valLoss, e.valAccuracy]),
      );
      expect(result.evaluation.loss).to.equal(without.evaluation.loss);
      expect(result.evaluation.confusionMatrix).to.deep.equal(without.evaluation.confusionMatrix);
    }
  });

  it('shares frozen features between processes through the disk cache', async () => {
    const spec = { strategy: { plugin: 'feature-extraction' }, train: { epochs: 1, batchSize: 16 } };
    const writer = await testContainer(dir, undefined, 2 ** 24);
    await writer.get<TrialPipeline>(TrialPipeline).run(await loadTinySpec(dir, spec, 'd1.yaml'), { backend: tf.getBackend() });
    const reader = await testContainer(dir, undefined, 2 ** 24);
    const result = await reader
      .get<TrialPipeline>(TrialPipeline)
      .run(await loadTinySpec(dir, spec, 'd2.yaml'), { backend: tf.getBackend() });
    expect(reader.get<FrozenFeatureCache>(FrozenFeatureCache).stats()).to.include({ diskHits: 2, misses: 0 });
    expect(result.evaluation.accuracy).to.be.a('number');
  });

  it('is reproducible: the same seed gives the same losses, another seed different ones', async () => {
    const container = await testContainer(dir);
    const pipeline = container.get<TrialPipeline>(TrialPipeline);
    const spec = {
      augment: [
        { op: 'rotation', factor: 0.05 },
        { op: 'zoom', factor: 0.1 },
      ],
      train: { epochs: 1, batchSize: 16, optimizer: 'sgd', momentum: 0.9 },
    };
    const a = await pipeline.run(await loadTinySpec(dir, spec, 'r1.yaml'), { backend: tf.getBackend() });
    const b = await pipeline.run(await loadTinySpec(dir, spec, 'r2.yaml'), { backend: tf.getBackend() });
    const c = await pipeline.run(await loadTinySpec(dir, { ...spec, seed: 99 }, 'r3.yaml'), { backend: tf.getBackend() });
    expect(b.train.epochs[0]!.loss).to.equal(a.train.epochs[0]!.loss);
    expect(b.evaluation.loss).to.equal(a.evaluation.loss);
    expect(c.train.epochs[0]!.loss).to.not.equal(a.train.epochs[0]!.loss);
  });

  it("ends with early stopping's best epoch: test metrics and the logged kept_* values are that epoch's, as if training had stopped there", async () => {
    const container = await testContainer(dir);
    const pipeline = container.get<TrialPipeline>(TrialPipeline);
    // Validation accuracy on 24 images reaches its best (first) value before the last epoch.
    const train = { epochs: 12, batchSize: 16, optimizer: 'adam', learningRate: 0.02, cacheFrozen: false };
    const stopping = { monitor: 'val_accuracy', patience: 20 };
    const restored = await pipeline.run(await loadTinySpec(dir, { train: { ...train, earlyStopping: stopping } }, 'es1.yaml'), {
      backend: tf.getBackend(),
    });
    const accuracies = restored.train.epochs.map((epoch) => epoch.valAccuracy);
    const best = accuracies.indexOf(Math.max(...accuracies));
    expect(best, 'the best epoch is not the last (else this test shows nothing)').to.be.lessThan(accuracies.length - 1);
    expect(restored.train.keptEpoch).to.equal(best);
    const shorter = await pipeline.run(await loadTinySpec(dir, { train: { ...train, epochs: best + 1 } }, 'es2.yaml'), {
      backend: tf.getBackend(),
    });
    expect(restored.evaluation.loss).to.equal(shorter.evaluation.loss);
    expect(restored.evaluation.confusionMatrix).to.deep.equal(shorter.evaluation.confusionMatrix);
    const run = await new FileStoreTracker(join(dir, 'mlruns')).getRun(restored.runId);
    expect(run!.metrics['kept_val_accuracy']).to.deep.equal([accuracies[best]]);
    expect(run!.metrics['kept_epoch']).to.deep.equal([best + 1]);
    const last = await pipeline.run(
      await loadTinySpec(dir, { train: { ...train, earlyStopping: { ...stopping, restoreBestWeights: false } } }, 'es3.yaml'),
      { backend: tf.getBackend() },
    );
    expect(last.train.keptEpoch).to.equal(accuracies.length - 1);
    expect(last.evaluation.loss).to.not.equal(restored.evaluation.loss);
  });

  it('augments training batches only', async () => {
    const container = await testContainer(dir);
    const seen: number[] = [];
    const original = container.get<AugmentStage>(AugmentStage);
    await container.unbindAsync(AugmentStage);
    container.bind(AugmentStage).toConstantValue({
      prepare(ops: readonly AugmentOp[], seed: number): Augmenter {
        const inner = original.prepare(ops, seed);
        return { active: inner.active, apply: (images) => (seen.push(images.shape[0]), inner.apply(images)) };
      },
    });
    const loaded = await loadTinySpec(
      dir,
      { augment: [{ op: 'translation', factor: 0.1 }], train: { epochs: 2, batchSize: 20 } },
      'aug.yaml',
    );
    await container.get<TrialPipeline>(TrialPipeline).run(loaded, { backend: tf.getBackend() });
    // 3 classes × 16 training images = 48 per epoch, in batches of 20, 20, 8; validation and test never pass through.
    expect(seen).to.deep.equal([20, 20, 8, 20, 20, 8]);
  });

  it('records the trial in MLflow file-store layout', async () => {
    const container = await testContainer(dir);
    const loaded = await loadTinySpec(dir, { name: 'layout', train: { epochs: 2, batchSize: 16 } }, 'layout.yaml');
    const result = await container.get<TrialPipeline>(TrialPipeline).run(loaded, { backend: tf.getBackend() });
    const runDir = result.runLocation;
    const experimentDir = join(runDir, '..');
    expect(await readFile(join(experimentDir, 'meta.yaml'), 'utf8'))
      .to.match(/^name: layout$/m)
      .and.match(/^experiment_id: '\d+'$/m);
    expect(await readFile(join(experimentDir, 'tags', 'mlflow.experimentKind'), 'utf8')).to.equal('custom_model_development');
    expect(await readFile(join(experimentDir, '..', '0', 'meta.yaml'), 'utf8')).to.match(/^name: Default$/m);
    const meta = await readFile(join(runDir, 'meta.yaml'), 'utf8');
    expect(meta)
      .to.match(/^status: 3$/m)
      .and.match(/^source_type: 4$/m)
      .and.match(new RegExp(`^run_id: ${result.runId}$`, 'm'));
    expect(await readFile(join(runDir, 'params', 'strategy.unfreeze'), 'utf8')).to.equal('1');
    expect(await readFile(join(runDir, 'params', 'train.epochs'), 'utf8')).to.equal('2');
    expect(await readFile(join(runDir, 'params', 'model.trainableParams'), 'utf8')).to.equal(String(result.facts.trainableParams));
    expect(await readFile(join(runDir, 'tags', 'mlflow.runName'), 'utf8')).to.equal('layout');
    expect(await readFile(join(runDir, 'tags', 'thaw.configHash'), 'utf8')).to.equal(result.trial.configHash);
    const valLoss = (await readFile(join(runDir, 'metrics', 'val_loss'), 'utf8')).trim().split('\n');
    expect(valLoss).to.have.length(2);
    valLoss.forEach((line, step) => expect(line).to.match(new RegExp(`^\\d{13} -?\\d+\\.\\d+(e-?\\d+)? ${step}$`)));
    const artifacts = await readdir(join(runDir, 'artifacts'));
    expect(artifacts).to.include.members(['spec.yaml', 'model-summary.txt', 'learning-curves.csv', 'confusion-matrix.csv', 'model']);
    expect((await stat(join(runDir, 'artifacts', 'model', 'weights.bin'))).size).to.be.greaterThan(0);
  });
});
