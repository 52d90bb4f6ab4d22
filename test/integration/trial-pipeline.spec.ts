import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { expect } from 'chai';
import { AugmentStage, TrialPipeline, type AugmentOp, type Augmenter } from '@thaw/core';
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
    const runDir = result.runLocation!;
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
