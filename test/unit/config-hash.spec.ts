import { expect } from 'chai';
import { configHash, flattenSpec, validateSpec, type ExperimentSpec } from '@thaw/core';
import { tinySpec } from '../helpers/fixtures.js';

/** The tiny spec, validated as loadSpec would (every default filled in), with overrides on top. */
function spec(overrides: Record<string, unknown> = {}): ExperimentSpec {
  return validateSpec(tinySpec(overrides), 'tiny.yaml');
}

/** A copy of a plain value with the keys of every object in reverse order. */
function reverseKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reverseKeys);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .reverse()
        .map(([key, child]) => [key, reverseKeys(child)]),
    );
  }
  return value;
}

describe('configHash', () => {
  const base = configHash(spec());

  it('is 16 hexadecimal characters, the same for the same spec', () => {
    expect(base).to.match(/^[0-9a-f]{16}$/);
    expect(configHash(spec())).to.equal(base);
  });

  it('ignores name, description, tracking and sweep', () => {
    expect(configHash(spec({ name: 'other-name' }))).to.equal(base);
    expect(configHash(spec({ description: 'a note' }))).to.equal(base);
    expect(configHash(spec({ tracking: { store: 'elsewhere', experiment: 'x', uri: 'http://mlflow:5000' } }))).to.equal(base);
    expect(configHash(spec({ sweep: { grid: { seed: [1, 2] }, metric: { name: 'val_loss', goal: 'min' } } }))).to.equal(base);
  });

  it('ignores train.cacheFrozen (a speed switch: results are identical)', () => {
    const train = tinySpec()['train'] as Record<string, unknown>;
    expect(configHash(spec({ train: { ...train, cacheFrozen: false } }))).to.equal(base);
    expect(configHash(spec({ train: { ...train, cacheFrozen: true } }))).to.equal(base);
  });

  it('does not depend on the order of keys, at the top or nested', () => {
    const raw = tinySpec({ augment: [{ mode: 'vertical', op: 'flip' }] });
    const reordered = reverseKeys(raw) as Record<string, unknown>;
    expect(Object.keys(reordered)[0]).to.equal(Object.keys(raw).at(-1));
    expect(configHash(validateSpec(reordered, 'tiny.yaml'))).to.equal(configHash(validateSpec(raw, 'tiny.yaml')));
    // A spec object built by hand in another key order (plugin options keep their input order after validation).
    const parsed = spec();
    expect(configHash(reverseKeys(parsed) as ExperimentSpec)).to.equal(base);
  });

  it('changes with the seed, the strategy, the data options, the model and each train value', () => {
    const train = tinySpec()['train'] as Record<string, unknown>;
    const data = tinySpec()['data'] as Record<string, unknown>;
    const variants: [string, Record<string, unknown>][] = [
      ['seed', { seed: 4 }],
      ['strategy.unfreeze', { strategy: { plugin: 'fine-tune', unfreeze: 2, batchNorm: 'train' } }],
      ['strategy.batchNorm', { strategy: { plugin: 'fine-tune', unfreeze: 1, batchNorm: 'frozen' } }],
      ['strategy.plugin', { strategy: { plugin: 'feature-extraction' } }],
      ['data.classes', { data: { ...data, classes: [0, 1, 3] } }],
      ['data.trainPerClass', { data: { ...data, trainPerClass: 17 } }],
      ['data.plugin', { data: { ...data, plugin: 'other-data' } }],
      ['model.base', { model: { base: { plugin: 'small-convnet', filters: [4, 4] }, head: { dropout: 0.1 } } }],
      ['model.head', { model: { base: { plugin: 'small-convnet', filters: [4, 8] }, head: { dropout: 0.2 } } }],
      ['augment', { augment: [{ op: 'flip' }] }],
      ['evaluate.split', { evaluate: { split: 'validation' } }],
      ['train.epochs', { train: { ...train, epochs: 3 } }],
      ['train.batchSize', { train: { ...train, batchSize: 8 } }],
      ['train.learningRate', { train: { ...train, learningRate: 0.02 } }],
      ['train.optimizer', { train: { ...train, optimizer: 'sgd' } }],
      ['train.momentum', { train: { ...train, momentum: 0.5 } }],
      ['train.earlyStopping', { train: { ...train, earlyStopping: { patience: 2 } } }],
    ];
    const hashes = new Map<string, string>([['base', base]]);
    for (const [what, overrides] of variants) {
      const hash = configHash(spec(overrides));
      expect(hash, what).to.not.equal(base);
      hashes.set(what, hash);
    }
    expect(new Set(hashes.values()).size, 'every variant differs from every other').to.equal(variants.length + 1);
  });

  it('treats an option left to its default and the same value written out as one configuration', () => {
    const train = tinySpec()['train'] as Record<string, unknown>;
    expect(configHash(spec({ train: { ...train, optimizer: 'adam', momentum: 0 } }))).to.equal(base);
    expect(configHash(spec({ evaluate: { split: 'test' } }))).to.equal(base);
  });
});

describe('flattenSpec', () => {
  it('gives dotted keys for every leaf of a resolved spec, strings as they are and other values as JSON', () => {
    const flat = flattenSpec(spec({ augment: [{ op: 'flip' }, { op: 'rotation', factor: 0.1 }] }));
    expect(flat).to.include({
      name: 'tiny',
      seed: '3',
      'data.plugin': 'fashion-mnist',
      'data.classes': '[0,1,2]',
      'data.trainPerClass': '16',
      'model.base.plugin': 'small-convnet',
      'model.base.filters': '[4,8]',
      'model.head.pooling': 'average',
      'model.head.hidden': '[]',
      'model.head.dropout': '0.1',
      'strategy.plugin': 'fine-tune',
      'strategy.unfreeze': '1',
      'strategy.batchNorm': 'train',
      'train.epochs': '2',
      'train.learningRate': '0.01',
      'train.cacheFrozen': 'true',
      'augment.0.op': 'flip',
      'augment.0.mode': 'horizontal',
      'augment.1.op': 'rotation',
      'augment.1.factor': '0.1',
      'evaluate.split': 'test',
      'tracking.store': 'mlruns',
    });
    expect(Object.keys(flat).every((key) => !key.endsWith('.'))).to.equal(true);
    // Absent optional values leave no key: output.base, train.earlyStopping, description.
    expect(flat).to.not.have.any.keys('output.base', 'output', 'train.earlyStopping', 'description');
  });

  it('descends into objects inside values (unfreeze: { from }) and lists of objects, and keeps lists of plain values whole', () => {
    expect(flattenSpec({ strategy: { unfreeze: { from: 'block_14' } } })).to.deep.equal({ 'strategy.unfreeze.from': 'block_14' });
    expect(flattenSpec({ a: [1, { b: 'x' }], c: ['p', 'q'], d: null, e: undefined, f: false })).to.deep.equal({
      'a.0': '1',
      'a.1.b': 'x',
      c: '["p","q"]',
      d: 'null',
      f: 'false',
    });
  });

  it('puts a prefix before every key', () => {
    expect(flattenSpec({ x: 1, y: { z: 'w' } }, 'p')).to.deep.equal({ 'p.x': '1', 'p.y.z': 'w' });
  });
});
