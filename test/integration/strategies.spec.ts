import * as tf from '@tensorflow/tfjs';
import { expect } from 'chai';
import type { Container } from 'inversify';
import {
  FileStoreTracker,
  FreezeStage,
  FreezeStageImpl,
  TrialObserver,
  TrialPipeline,
  type BuiltModel,
  type FrozenModel,
  type Phase,
  type TrialResult,
} from '@thaw/core';
import { loadTinySpec, temporaryFolder, testContainer } from '../helpers/fixtures.js';

type Snapshot = Map<string, Float32Array>;

async function snapshot(model: tf.LayersModel): Promise<Snapshot> {
  const out: Snapshot = new Map();
  for (const layer of model.layers) {
    for (const [index, weight] of layer.trainableWeights.entries())
      out.set(`${layer.name}/${index}`, (await weight.read().data()) as Float32Array);
  }
  return out;
}

/** Records the network's trainable weights as each phase begins and once the trial ends: what each phase changed. */
function recordPhases(container: Container): { phases: string[]; snapshots: Promise<Snapshot>[] } {
  const record = { phases: [] as string[], snapshots: [] as Promise<Snapshot>[] };
  const inner = new FreezeStageImpl();
  container.rebind(FreezeStage).toConstantValue({
    apply(built: BuiltModel, phase: Phase): FrozenModel {
      record.phases.push(phase.name);
      // Read synchronously: the phase's first step must not run before the copy is taken.
      record.snapshots.push(
        Promise.resolve(
          new Map(
            built.model.layers.flatMap((layer) =>
              layer.trainableWeights.map((weight, index) => [`${layer.name}/${index}`, weight.read().dataSync() as Float32Array] as const),
            ),
          ),
        ),
      );
      return inner.apply(built, phase);
    },
  } satisfies FreezeStage);
  container.bind(TrialObserver).toConstantValue({
    onTrialEnd: (result: TrialResult) => void record.snapshots.push(snapshot(result.built.model)),
  } satisfies TrialObserver);
  return record;
}

/** Prefixes of the layers whose weights differ between two snapshots. */
function changed(before: Snapshot, after: Snapshot): string[] {
  const layers = new Set<string>();
  for (const [key, values] of before) {
    const other = after.get(key)!;
    if (values.some((value, i) => value !== other[i])) layers.add(key.split('/')[0]!);
  }
  return [...layers].sort();
}

describe('strategies', function () {
  let dir: string;
  let remove: () => Promise<void>;
  before(async () => ({ dir, remove } = await temporaryFolder()));
  after(() => remove());
  const base = { base: { plugin: 'small-convnet', filters: [4, 6, 8] }, head: { dropout: 0 } };

  it('gradual-unfreeze: the head alone, then one more unit from the top each stage; each stage changes exactly what it unfroze', async () => {
    const container = await testContainer(dir);
    const record = recordPhases(container);
    const loaded = await loadTinySpec(
      dir,
      {
        name: 'gradual',
        model: base,
        strategy: { plugin: 'gradual-unfreeze', every: 1, to: 2, finalEpochs: 2, batchNorm: 'frozen' },
        train: { epochs: 9, batchSize: 16 },
      },
      'gradual.yaml',
    );
    const result = await container.get<TrialPipeline>(TrialPipeline).run(loaded, { backend: tf.getBackend() });
    expect(result.phases.map((p) => [p.name, p.trainableUnits, p.epochs])).to.deep.equal([
      ['head', [], 1],
      ['unfreeze-1', ['block3'], 1],
      ['unfreeze-2', ['block2', 'block3'], 2],
    ]);
    expect(result.train.epochs.map((e) => e.phase)).to.deep.equal(['head', 'unfreeze-1', 'unfreeze-2', 'unfreeze-2']);
    const snapshots = await Promise.all(record.snapshots);
    expect(changed(snapshots[0]!, snapshots[1]!)).to.deep.equal(['head_output']);
    expect(changed(snapshots[1]!, snapshots[2]!)).to.deep.equal(['block3_conv', 'head_output']);
    expect(changed(snapshots[2]!, snapshots[3]!)).to.deep.equal(['block2_conv', 'block3_conv', 'head_output']);

    const [run] = await new FileStoreTracker(`${dir}/mlruns`).findRuns('gradual', {});
    expect(run!.params).to.include({ 'phase.0.units': '(head only)', 'phase.1.units': 'block3', 'phase.2.units': 'block2, block3' });
  });

  it('transfer-n: the first n units keep the base’s weights (frozen, or fine-tuned with fineTune), the units above are drawn afresh and train', async () => {
    const run = async (strategy: Record<string, unknown>, name: string) => {
      const container = await testContainer(dir);
      const record = recordPhases(container);
      const loaded = await loadTinySpec(dir, { name, model: base, strategy, train: { epochs: 1, batchSize: 16 } }, `${name}.yaml`);
      const result = await container.get<TrialPipeline>(TrialPipeline).run(loaded, { backend: tf.getBackend() });
      const [start, end] = await Promise.all(record.snapshots);
      return { result, start: start!, end: end! };
    };
    // The base as built (same seed): what transfer-n copies from.
    const { start: original } = await run({ plugin: 'fine-tune', unfreeze: 0 }, 'as-built');
    const anb = await run({ plugin: 'transfer-n', n: 1 }, 'a1b');
    const anbPlus = await run({ plugin: 'transfer-n', n: 1, fineTune: true }, 'a1b-plus');
    expect(anb.result.phases.map((p) => [p.name, p.trainableUnits, p.reinitializeUnits])).to.deep.equal([
      ['transfer-1', ['block2', 'block3'], ['block2', 'block3']],
    ]);
    expect(anbPlus.result.phases.map((p) => [p.name, p.trainableUnits])).to.deep.equal([['transfer-1+', ['block1', 'block2', 'block3']]]);
    // Keras' glorot_uniform bound of block3's 3×3 kernel from 6 to 8 filters.
    const limit = Math.sqrt(6 / (9 * 6 + 9 * 8));
    for (const trial of [anb, anbPlus]) {
      // Copied: block1 as built. Drawn afresh: the kernels of block2 and block3, within glorot's bound.
      expect(changed(original, trial.start)).to.deep.equal(['block2_conv', 'block3_conv']);
      const kernel = trial.start.get('block3_conv/0')!;
      expect(Math.max(...kernel.map(Math.abs)))
        .to.be.at.most(limit)
        .and.greaterThan(limit / 2);
    }
    // Trained (BatchNorm in train mode, the default: re-initialised units need their statistics).
    expect(changed(anb.start, anb.end)).to.deep.equal(['block2_bn', 'block2_conv', 'block3_bn', 'block3_conv', 'head_output']);
    expect(changed(anbPlus.start, anbPlus.end)).to.deep.equal([
      'block1_bn',
      'block1_conv',
      'block2_bn',
      'block2_conv',
      'block3_bn',
      'block3_conv',
      'head_output',
    ]);
    // Seeded: drawn afresh the same way each time.
    const again = await run({ plugin: 'transfer-n', n: 1 }, 'a1b-again');
    expect(changed(anb.start, again.start)).to.deep.equal([]);
  });

  it('train.layerDecay: each unit steps at the phase’s rate × decay^(its depth below the top), the head at the phase’s rate', async () => {
    // One SGD step on one batch: the same gradient with and without decay, so the weight change scales exactly with the rate.
    const run = async (layerDecay: number | undefined, name: string) => {
      const container = await testContainer(dir);
      const record = recordPhases(container);
      const loaded = await loadTinySpec(
        dir,
        {
          name,
          data: { plugin: 'fashion-mnist', classes: [0, 1, 2], trainPerClass: 8, validationPerClass: 4, testPerClass: 4 },
          model: base,
          strategy: { plugin: 'fine-tune', unfreeze: 'all', batchNorm: 'frozen' },
          train: { epochs: 1, batchSize: 64, optimizer: 'sgd', learningRate: 0.1, ...(layerDecay === undefined ? {} : { layerDecay }) },
        },
        `${name}.yaml`,
      );
      await container.get<TrialPipeline>(TrialPipeline).run(loaded, { backend: tf.getBackend() });
      const [before, after] = await Promise.all(record.snapshots);
      return new Map([...before!].map(([key, values]) => [key, values.map((value, i) => after!.get(key)![i]! - value)]));
    };
    const plain = await run(undefined, 'plain');
    const decayed = await run(0.5, 'decayed');
    // Summed over the whole kernel: single float32 differences of nearly equal weights are too coarse.
    const ratio = (layer: string) => {
      const key = `${layer}/0`; // the kernel
      const sum = (values: Float32Array) => values.reduce((total, value) => total + Math.abs(value), 0);
      return sum(decayed.get(key)!) / sum(plain.get(key)!);
    };
    expect(ratio('head_output')).to.be.closeTo(1, 2e-3);
    expect(ratio('block3_conv')).to.be.closeTo(0.5, 2e-3);
    expect(ratio('block2_conv')).to.be.closeTo(0.25, 1e-3);
    expect(ratio('block1_conv')).to.be.closeTo(0.125, 1e-3);
  });
});
