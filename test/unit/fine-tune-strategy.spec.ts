import { expect } from 'chai';
import { ThawError, type ModelUnit, type Phase, type StrategyContext, type StrategyPlugin, type TrainConfig } from '@thaw/core';
import { FeatureExtractionStrategy, FineTuneStrategy } from '@thaw/plugins';
import { recordingLogger, type RecordingLogger } from '../helpers/fixtures.js';

/** A base as a strategy sees it: the input layer first (Keras index 0), then four units of 2, 3, 2 and 1 layers. */
const UNITS: readonly ModelUnit[] = [
  { name: 'stem', layers: ['stem_conv', 'stem_bn'] },
  { name: 'b1', layers: ['b1_conv', 'b1_bn', 'b1_relu'] },
  { name: 'b2', layers: ['b2_conv', 'b2_bn'] },
  { name: 'top', layers: ['top_conv'] },
];
const LAYERS: readonly string[] = ['input', ...UNITS.flatMap((unit) => unit.layers)];

const TRAIN: TrainConfig = { epochs: 5, batchSize: 16, optimizer: 'adam', learningRate: 0.001, momentum: 0, cacheFrozen: true };

function context(log: RecordingLogger = recordingLogger()): StrategyContext {
  return { units: UNITS, layers: LAYERS, train: TRAIN, log, where: 'x.yaml: strategy' };
}

/** Plans with options as a spec gives them: validated (defaults filled in) by the plugin's own schema. */
function plan(strategy: StrategyPlugin, options: Record<string, unknown>, log?: RecordingLogger): Phase[] {
  return strategy.plan(strategy.optionsSchema.parse(options), context(log));
}

function errorOf(work: () => unknown): ThawError {
  try {
    work();
  } catch (error) {
    expect(error).to.be.instanceOf(ThawError);
    return error as ThawError;
  }
  throw new Error('expected a ThawError');
}

describe('fine-tune strategy: plan()', () => {
  const fineTune = new FineTuneStrategy();

  it('unfreeze 0 is one feature-extraction phase that trains only the head', () => {
    expect(plan(fineTune, { unfreeze: 0 })).to.deep.equal([
      { name: 'feature-extraction', trainableUnits: [], batchNorm: 'inference', epochs: 5, learningRate: 0.001 },
    ]);
  });

  it('unfreeze k trains the top k units, named fine-tune-k', () => {
    expect(plan(fineTune, { unfreeze: 1 })).to.deep.equal([
      { name: 'fine-tune-1', trainableUnits: ['top'], batchNorm: 'inference', epochs: 5, learningRate: 0.001 },
    ]);
    const [phase] = plan(fineTune, { unfreeze: 3 });
    expect(phase!.name).to.equal('fine-tune-3');
    expect(phase!.trainableUnits).to.deep.equal(['b1', 'b2', 'top']);
    expect(phase).to.not.have.property('frozenLayers');
  });

  it('unfreeze all, or k equal to the number of units, trains every unit, named fine-tune-all', () => {
    for (const unfreeze of ['all', 4]) {
      const phases = plan(fineTune, { unfreeze });
      expect(phases, String(unfreeze)).to.have.length(1);
      expect(phases[0]!.name).to.equal('fine-tune-all');
      expect(phases[0]!.trainableUnits).to.deep.equal(['stem', 'b1', 'b2', 'top']);
    }
  });

  it('unfreeze k above the number of units warns and unfreezes them all', () => {
    const log = recordingLogger();
    const phases = plan(fineTune, { unfreeze: 9 }, log);
    expect(phases.map((p) => [p.name, p.trainableUnits])).to.deep.equal([['fine-tune-all', ['stem', 'b1', 'b2', 'top']]]);
    expect(log.lines).to.deep.equal(['warning: x.yaml: strategy.unfreeze: received 9 but the base has 4 units; unfreezing all 4']);
  });

  it('does not warn for a depth within the base', () => {
    const log = recordingLogger();
    plan(fineTune, { unfreeze: 2 }, log);
    plan(fineTune, { unfreeze: 'all' }, log);
    expect(log.lines).to.deep.equal([]);
  });

  it('{ from: unit } trains that unit and every unit above it', () => {
    expect(plan(fineTune, { unfreeze: { from: 'b2' } })).to.deep.equal([
      { name: 'fine-tune-from-b2', trainableUnits: ['b2', 'top'], batchNorm: 'inference', epochs: 5, learningRate: 0.001 },
    ]);
    expect(plan(fineTune, { unfreeze: { from: 'stem' } })[0]!.trainableUnits).to.deep.equal(['stem', 'b1', 'b2', 'top']);
  });

  it('{ from: unit } naming a unit the base lacks is refused, listing the units', () => {
    const error = errorOf(() => plan(fineTune, { unfreeze: { from: 'block_99' } }));
    expect(error.message).to.equal('x.yaml: strategy.unfreeze.from: received "block_99"; expected a unit of the base: stem, b1, b2, top');
  });

  it('{ fineTuneAt: i } follows Keras: layers[:i] frozen, the input layer at index 0, frozen layers inside the lowest unit listed', () => {
    // layers: 0 input, 1 stem_conv, 2 stem_bn, 3 b1_conv, 4 b1_bn, 5 b1_relu, 6 b2_conv, 7 b2_bn, 8 top_conv
    expect(plan(fineTune, { unfreeze: { fineTuneAt: 5 } })).to.deep.equal([
      {
        name: 'fine-tune-at-5',
        trainableUnits: ['b1', 'b2', 'top'],
        frozenLayers: ['b1_conv', 'b1_bn'],
        batchNorm: 'inference',
        epochs: 5,
        learningRate: 0.001,
      },
    ]);
    const atUnitStart = plan(fineTune, { unfreeze: { fineTuneAt: 3 } })[0]!;
    expect(atUnitStart.trainableUnits).to.deep.equal(['b1', 'b2', 'top']);
    expect(atUnitStart).to.not.have.property('frozenLayers');
    const insideStem = plan(fineTune, { unfreeze: { fineTuneAt: 2 } })[0]!;
    expect(insideStem.trainableUnits).to.deep.equal(['stem', 'b1', 'b2', 'top']);
    expect(insideStem.frozenLayers).to.deep.equal(['stem_conv']);
  });

  it('{ fineTuneAt: 0 } and { fineTuneAt: 1 } (only the input layer frozen) train everything', () => {
    for (const at of [0, 1]) {
      const [phase] = plan(fineTune, { unfreeze: { fineTuneAt: at } });
      expect(phase!.name).to.equal(`fine-tune-at-${at}`);
      expect(phase!.trainableUnits).to.deep.equal(['stem', 'b1', 'b2', 'top']);
      expect(phase).to.not.have.property('frozenLayers');
    }
  });

  it('{ fineTuneAt: layer count } freezes the whole base: feature extraction', () => {
    expect(plan(fineTune, { unfreeze: { fineTuneAt: 9 } })).to.deep.equal([
      { name: 'feature-extraction', trainableUnits: [], batchNorm: 'inference', epochs: 5, learningRate: 0.001 },
    ]);
    const lastLayerTrains = plan(fineTune, { unfreeze: { fineTuneAt: 8 } })[0]!;
    expect(lastLayerTrains.trainableUnits).to.deep.equal(['top']);
    expect(lastLayerTrains).to.not.have.property('frozenLayers');
  });

  it('{ fineTuneAt } beyond the layer count is refused, naming the field and the bound', () => {
    const error = errorOf(() => plan(fineTune, { unfreeze: { fineTuneAt: 10 } }));
    expect(error.message).to.equal('x.yaml: strategy.unfreeze.fineTuneAt: received 10; the base has 9 layers (expected 0 … 9)');
  });

  it('headFirst adds a head-only phase with its own learning rate before the unfrozen one', () => {
    const phases = plan(fineTune, { unfreeze: 2, headFirst: { epochs: 3, learningRate: 0.01 }, learningRate: 0.0001 });
    expect(phases).to.deep.equal([
      { name: 'head', trainableUnits: [], batchNorm: 'frozen', epochs: 3, learningRate: 0.01 },
      { name: 'fine-tune-2', trainableUnits: ['b2', 'top'], batchNorm: 'inference', epochs: 5, learningRate: 0.0001 },
    ]);
  });

  it('headFirst without a learning rate uses train.learningRate for the head phase', () => {
    const [head, unfrozen] = plan(fineTune, { unfreeze: 'all', headFirst: { epochs: 2 } });
    expect(head).to.deep.equal({ name: 'head', trainableUnits: [], batchNorm: 'frozen', epochs: 2, learningRate: 0.001 });
    expect(unfrozen!.name).to.equal('fine-tune-all');
    expect(unfrozen!.learningRate).to.equal(0.001);
  });

  it('headFirst with depth 0 plans no head phase (the one phase already trains only the head)', () => {
    for (const unfreeze of [0, { fineTuneAt: 9 }]) {
      const phases = plan(fineTune, { unfreeze, headFirst: { epochs: 3, learningRate: 0.01 } });
      expect(phases.map((p) => p.name)).to.deep.equal(['feature-extraction']);
      expect(phases[0]!.epochs).to.equal(5);
    }
  });

  it('learningRate sets the unfrozen phase only; feature extraction keeps train.learningRate', () => {
    expect(plan(fineTune, { unfreeze: 1, learningRate: 0.0002 })[0]!.learningRate).to.equal(0.0002);
    expect(plan(fineTune, { unfreeze: 0, learningRate: 0.0002 })[0]!.learningRate).to.equal(0.001);
    expect(plan(fineTune, { unfreeze: 1 })[0]!.learningRate).to.equal(0.001);
  });

  it('passes batchNorm (default inference) through to the unfrozen phase; the head phase keeps BN frozen', () => {
    expect(plan(fineTune, { unfreeze: 1 })[0]!.batchNorm).to.equal('inference');
    expect(plan(fineTune, { unfreeze: 1, batchNorm: 'frozen' })[0]!.batchNorm).to.equal('frozen');
    const phases = plan(fineTune, { unfreeze: 1, batchNorm: 'train', headFirst: { epochs: 1 } });
    expect(phases.map((p) => [p.name, p.batchNorm])).to.deep.equal([
      ['head', 'frozen'],
      ['fine-tune-1', 'train'],
    ]);
    expect(plan(fineTune, { unfreeze: 0, batchNorm: 'train' })[0]!.batchNorm).to.equal('train');
  });

  it('gives each phase its own optimizer when asked; without one a phase names none (train.optimizer)', () => {
    const phases = plan(fineTune, { unfreeze: 2, optimizer: 'rmsprop', headFirst: { epochs: 1, optimizer: 'adam' } });
    expect(phases.map((p) => [p.name, p.optimizer])).to.deep.equal([
      ['head', 'adam'],
      ['fine-tune-2', 'rmsprop'],
    ]);
    const headDefault = plan(fineTune, { unfreeze: 2, optimizer: 'sgd', headFirst: { epochs: 1 } });
    expect(headDefault[0]).to.not.have.property('optimizer');
    expect(headDefault[1]!.optimizer).to.equal('sgd');
    expect(plan(fineTune, { unfreeze: 0, optimizer: 'sgd' })[0]).to.not.have.property('optimizer');
    expect(plan(fineTune, { unfreeze: 1 })[0]).to.not.have.property('optimizer');
  });

  it('defaults to feature extraction when unfreeze is not given', () => {
    expect(plan(fineTune, {}).map((p) => p.name)).to.deep.equal(['feature-extraction']);
  });
});

describe('feature-extraction strategy: plan()', () => {
  const featureExtraction = new FeatureExtractionStrategy();

  it('is fine-tune with unfreeze 0: one phase, no trainable unit, train.epochs and train.learningRate', () => {
    expect(plan(featureExtraction, {})).to.deep.equal(plan(new FineTuneStrategy(), { unfreeze: 0 }));
    expect(plan(featureExtraction, {})).to.deep.equal([
      { name: 'feature-extraction', trainableUnits: [], batchNorm: 'inference', epochs: 5, learningRate: 0.001 },
    ]);
  });

  it('passes batchNorm through and accepts no unfreeze option', () => {
    expect(plan(featureExtraction, { batchNorm: 'train' })[0]!.batchNorm).to.equal('train');
    expect(featureExtraction.optionsSchema.safeParse({ unfreeze: 2 }).success).to.equal(false);
  });
});
