import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { expect } from 'chai';
import { ContainerModule, type Container } from 'inversify';
import { z } from 'zod';
import {
  BaseModelPlugin,
  DatasetPlugin,
  PluginRegistry,
  StrategyPlugin,
  ThawError,
  TrialPlanner,
  configHash,
  loadSpec,
  planningMemo,
  silentLogger,
  type BaseModel,
  type BaseModelContext,
  type DatasetContext,
  type DatasetFacts,
  type DatasetSplits,
  type Phase,
  type StrategyContext,
} from '@thaw/core';
import { FashionMnistDataset, SmallConvnet } from '@thaw/plugins';
import { loadTinySpec, recordingLogger, temporaryFolder, testContainer, tinySpec, writeSpec } from '../helpers/fixtures.js';

type FashionOptions = Parameters<FashionMnistDataset['load']>[0];
type ConvnetOptions = Parameters<SmallConvnet['build']>[0];

/** The built-in plugins the test plugins delegate to. */
const fashion = new FashionMnistDataset();
const convnet = new SmallConvnet();

/** A third-party dataset: fashion-mnist under its own id, counting the calls of its check and load. */
class CountingDataset implements DatasetPlugin<FashionOptions> {
  readonly id = 'counting-fashion';
  readonly description = 'fashion-mnist, counting checks and loads';
  readonly optionsSchema = fashion.optionsSchema;
  checks = 0;
  loads = 0;

  check(options: FashionOptions, context: DatasetContext): Promise<DatasetFacts> {
    this.checks++;
    return fashion.check(options, context);
  }

  load(options: FashionOptions, context: DatasetContext): Promise<DatasetSplits> {
    this.loads++;
    return fashion.load(options, context);
  }
}

/** A third-party dataset written before `check` existed: thaw learns what it delivers by loading it. */
class LoadOnlyDataset implements DatasetPlugin<FashionOptions> {
  readonly id = 'load-only-fashion';
  readonly description = 'fashion-mnist without a check';
  readonly optionsSchema = fashion.optionsSchema;
  loads = 0;

  load(options: FashionOptions, context: DatasetContext): Promise<DatasetSplits> {
    this.loads++;
    return fashion.load(options, context);
  }
}

/** small-convnet under its own id, without a check (thaw builds it to learn its units), counting builds. */
class CountingConvnet implements BaseModelPlugin<ConvnetOptions> {
  readonly id = 'counting-convnet';
  readonly description = 'small-convnet, counting builds';
  readonly optionsSchema = convnet.optionsSchema;
  builds = 0;

  build(options: ConvnetOptions, context: BaseModelContext): Promise<BaseModel> {
    this.builds++;
    return convnet.build(options, context);
  }
}

const oddBaseOptions = z.strictObject({
  /** The input shape the base is built for, whatever the data; default: the data's. */
  inputShape: z.array(z.number().int().positive().nullable()).length(3).optional(),
  /** A layer name the base's units list but its model lacks. */
  missingLayer: z.string().optional(),
  /** List the conv layer in both units. */
  sharedLayer: z.boolean().default(false),
});
type OddBaseOptions = z.output<typeof oddBaseOptions>;

/** A base of two one-layer units whose facts can be made wrong in the ways the planner refuses. */
class OddBase implements BaseModelPlugin<OddBaseOptions> {
  readonly id = 'odd-base';
  readonly description = 'two conv units, optionally with a fixed input shape or a unit naming a missing layer';
  readonly optionsSchema = oddBaseOptions;

  build(options: OddBaseOptions, context: BaseModelContext): Promise<BaseModel> {
    const input = tf.input({ shape: options.inputShape ?? [...context.inputShape], name: 'input' });
    const conv1 = tf.layers.conv2d({ filters: 2, kernelSize: 3, name: 'conv1' });
    const conv2 = tf.layers.conv2d({ filters: 2, kernelSize: 3, name: 'conv2' });
    const output = conv2.apply(conv1.apply(input)) as tf.SymbolicTensor;
    return Promise.resolve({
      model: tf.model({ inputs: input, outputs: output, name: 'odd_base' }),
      units: [
        { name: 'u1', layers: ['conv1', ...(options.missingLayer === undefined ? [] : [options.missingLayer])] },
        { name: 'u2', layers: options.sharedLayer ? ['conv1', 'conv2'] : ['conv2'] },
      ],
      description: 'odd base',
    });
  }
}

const oddStrategyOptions = z.strictObject({ mode: z.enum(['unknown-unit', 'no-phases', 'zero-epochs']) });
type OddStrategyOptions = z.output<typeof oddStrategyOptions>;

/** A strategy that plans what the planner must refuse. */
class OddStrategy implements StrategyPlugin<OddStrategyOptions> {
  readonly id = 'odd-strategy';
  readonly description = 'plans an unknown unit, no phases, or a phase of no epochs';
  readonly optionsSchema = oddStrategyOptions;

  plan(options: OddStrategyOptions, context: StrategyContext): Phase[] {
    const phase = {
      name: 'odd',
      trainableUnits: [context.units.at(-1)!.name],
      batchNorm: 'frozen',
      epochs: 1,
      learningRate: 0.01,
    } as const;
    switch (options.mode) {
      case 'unknown-unit':
        return [phase, { ...phase, name: 'odd-2', trainableUnits: ['block9'] }];
      case 'no-phases':
        return [];
      case 'zero-epochs':
        return [{ ...phase, epochs: 0 }];
    }
  }
}

interface TestPlugins {
  readonly counting: CountingDataset;
  readonly loadOnly: LoadOnlyDataset;
  readonly convnet: CountingConvnet;
}

/** The test plugins, as a plugin module like any other, loaded into a container with the built-in ones. */
async function containerWithTestPlugins(dir: string): Promise<{ container: Container; planner: TrialPlanner; plugins: TestPlugins }> {
  const plugins: TestPlugins = { counting: new CountingDataset(), loadOnly: new LoadOnlyDataset(), convnet: new CountingConvnet() };
  const module = new ContainerModule(({ bind }) => {
    bind(DatasetPlugin).toConstantValue(plugins.counting);
    bind(DatasetPlugin).toConstantValue(plugins.loadOnly);
    bind(BaseModelPlugin).toConstantValue(plugins.convnet);
    bind(BaseModelPlugin).toConstantValue(new OddBase());
    bind(StrategyPlugin).toConstantValue(new OddStrategy());
  });
  const container = await testContainer(dir, silentLogger);
  await container.get<PluginRegistry>(PluginRegistry).load(module, { kind: 'file', name: 'test-plugins' });
  return { container, planner: container.get<TrialPlanner>(TrialPlanner), plugins };
}

async function errorOf(promise: Promise<unknown>): Promise<ThawError> {
  try {
    await promise;
  } catch (error) {
    expect(error).to.be.instanceOf(ThawError);
    return error as ThawError;
  }
  throw new Error('expected a ThawError');
}

const TINY_DATA = tinySpec()['data'] as Record<string, unknown>;
const TINY_BASE = { plugin: 'small-convnet', filters: [4, 8] };

describe('trial planner', function () {
  let dir: string;
  let remove: () => Promise<void>;
  before(async () => ({ dir, remove } = await temporaryFolder()));
  after(() => remove());

  it('plans the tiny spec: plugins with validated options, data and base facts, the phases, the config hash', async () => {
    const container = await testContainer(dir, recordingLogger());
    const loaded = await loadTinySpec(dir);
    const plan = await container.get<TrialPlanner>(TrialPlanner).plan(loaded);

    expect(plan.loaded).to.equal(loaded);
    expect(plan.configHash).to.equal(configHash(loaded.spec));
    expect(plan.data.plugin.id).to.equal('fashion-mnist');
    expect(plan.data.where).to.match(/tiny\.yaml: data$/);
    expect(plan.data.options).to.include({ trainPerClass: 16, validationPerClass: 8, testPerClass: 8, splitSeed: 0, download: true });
    const facts = plan.data.facts;
    expect(facts.inputShape).to.deep.equal([28, 28, 1]);
    expect(facts.classNames).to.deep.equal(['T-shirt/top', 'Trouser', 'Pullover']);
    expect(facts.counts).to.deep.equal({ train: 48, validation: 24, test: 24 });
    expect(facts.source).to.be.a('string').and.not.equal('');

    expect(plan.base.plugin.id).to.equal('small-convnet');
    expect(plan.base.where).to.match(/tiny\.yaml: model\.base$/);
    expect(plan.base.options).to.deep.equal({ filters: [4, 8], kernelSize: 3, batchNormMomentum: 0.9 });
    const block = (name: string) => ({ name, layers: ['conv', 'bn', 'relu', 'pool'].map((layer) => `${name}_${layer}`) });
    expect(plan.base.facts.units).to.deep.equal([block('block1'), block('block2')]);
    expect(plan.base.facts.layers).to.deep.equal(['input', ...block('block1').layers, ...block('block2').layers]);
    expect(plan.base.facts.inputShape).to.deep.equal([28, 28, 1]);
    expect(plan.base.facts.prerequisite).to.equal(undefined);

    expect(plan.strategy.plugin.id).to.equal('fine-tune');
    expect(plan.strategy.options).to.deep.equal({ unfreeze: 1, batchNorm: 'train' });
    expect(plan.phases).to.deep.equal([
      { name: 'fine-tune-1', trainableUnits: ['block2'], batchNorm: 'train', epochs: 2, learningRate: 0.01 },
    ]);
    expect(plan.prerequisites).to.deep.equal([]);
    expect(plan).to.not.have.property('outputBase');
  });

  it('resolves output.base against the spec’s folder', async () => {
    const container = await testContainer(dir);
    const loaded = await loadTinySpec(dir, { output: { base: 'models/tiny-base' } }, 'with-output.yaml');
    const plan = await container.get<TrialPlanner>(TrialPlanner).plan(loaded);
    expect(plan.outputBase).to.equal(resolve(dir, 'models/tiny-base'));
  });

  it('checks a dataset and builds a base once for trials that share them (one memo), and again without it', async () => {
    const { planner, plugins } = await containerWithTestPlugins(dir);
    const shared = {
      data: { ...TINY_DATA, plugin: 'counting-fashion' },
      model: { base: { ...TINY_BASE, plugin: 'counting-convnet' }, head: { dropout: 0.1 } },
    };
    const depth0 = await loadTinySpec(dir, { ...shared, strategy: { plugin: 'fine-tune', unfreeze: 0 } }, 'memo-0.yaml');
    const depth1 = await loadTinySpec(dir, { ...shared, strategy: { plugin: 'fine-tune', unfreeze: 1 } }, 'memo-1.yaml');
    const memo = planningMemo();
    const plans = [await planner.plan(depth0, memo), await planner.plan(depth1, memo)];
    expect(plugins.counting.checks).to.equal(1);
    expect(plugins.counting.loads).to.equal(0);
    expect(plugins.convnet.builds).to.equal(1);
    expect(plans[0]!.data.facts).to.equal(plans[1]!.data.facts);
    expect(plans.map((plan) => plan.phases[0]!.name)).to.deep.equal(['feature-extraction', 'fine-tune-1']);

    await planner.plan(depth0);
    await planner.plan(depth1);
    expect(plugins.counting.checks).to.equal(3);
    expect(plugins.convnet.builds).to.equal(3);
  });

  it('does not remember a failed check: the next trial is checked (and refused) again', async () => {
    const { planner, plugins } = await containerWithTestPlugins(dir);
    const loaded = await loadTinySpec(dir, { data: { ...TINY_DATA, plugin: 'counting-fashion', trainPerClass: 100000 } }, 'too-many.yaml');
    const memo = planningMemo();
    for (let attempt = 1; attempt <= 2; attempt++) {
      const error = await errorOf(planner.plan(loaded, memo));
      expect(error.message).to.match(/too-many\.yaml: data: class 0 \(T-shirt\/top\) has \d+ training images/);
      expect(plugins.counting.checks).to.equal(attempt);
    }
  });

  it('learns the facts of a dataset plugin without check by loading it once, keeping no tensor', async () => {
    const { planner, plugins } = await containerWithTestPlugins(dir);
    const loaded = await loadTinySpec(dir, { data: { ...TINY_DATA, plugin: 'load-only-fashion' } }, 'load-only.yaml');
    const tensors = tf.memory().numTensors;
    const memo = planningMemo();
    const plan = await planner.plan(loaded, memo);
    await planner.plan(loaded, memo);
    expect(plugins.loadOnly.loads).to.equal(1);
    expect(tf.memory().numTensors).to.equal(tensors);

    const { plugin: _plugin, ...options } = TINY_DATA;
    const expected = await fashion.check(fashion.optionsSchema.parse(options), { specDir: dir, seed: 3, log: silentLogger, where: 'test' });
    expect(plan.data.facts).to.deep.equal(expected);
  });

  it('refuses a strategy that names a unit the base does not have, listing the units', async () => {
    const { planner } = await containerWithTestPlugins(dir);
    const loaded = await loadTinySpec(dir, { strategy: { plugin: 'odd-strategy', mode: 'unknown-unit' } }, 'unknown-unit.yaml');
    const error = await errorOf(planner.plan(loaded));
    expect(error.message).to.match(
      /unknown-unit\.yaml: strategy: strategy odd-strategy named unit block9; expected one of block1, block2$/,
    );
  });

  it('refuses a strategy that plans no phases, or a phase without epochs', async () => {
    const { planner } = await containerWithTestPlugins(dir);
    const none = await loadTinySpec(dir, { strategy: { plugin: 'odd-strategy', mode: 'no-phases' } }, 'no-phases.yaml');
    expect((await errorOf(planner.plan(none))).message).to.match(
      /no-phases\.yaml: strategy: strategy odd-strategy planned no phases; expected at least one$/,
    );
    const zero = await loadTinySpec(dir, { strategy: { plugin: 'odd-strategy', mode: 'zero-epochs' } }, 'zero-epochs.yaml');
    expect((await errorOf(planner.plan(zero))).message).to.match(
      /zero-epochs\.yaml: strategy: strategy odd-strategy planned phase odd with 0 epochs; expected at least 1$/,
    );
  });

  it('refuses strategy options its schema rejects, naming the field', async () => {
    const { planner } = await containerWithTestPlugins(dir);
    const loaded = await loadTinySpec(dir, { strategy: { plugin: 'fine-tune', unfreeze: -1 } }, 'bad-unfreeze.yaml');
    const error = await errorOf(planner.plan(loaded));
    expect(error.message).to.contain('bad-unfreeze.yaml: invalid options for fine-tune').and.contain('strategy.unfreeze');
  });

  it('refuses a base whose units name a layer it lacks, or list a layer twice', async () => {
    const { planner } = await containerWithTestPlugins(dir);
    const missing = await loadTinySpec(
      dir,
      { model: { base: { plugin: 'odd-base', missingLayer: 'conv_gone' } }, strategy: { plugin: 'fine-tune', unfreeze: 1 } },
      'missing-layer.yaml',
    );
    expect((await errorOf(planner.plan(missing))).message).to.match(
      /missing-layer\.yaml: model\.base: unit u1 names layer conv_gone, which the base model does not have$/,
    );
    const shared = await loadTinySpec(
      dir,
      { model: { base: { plugin: 'odd-base', sharedLayer: true } }, strategy: { plugin: 'fine-tune', unfreeze: 1 } },
      'shared-layer.yaml',
    );
    expect((await errorOf(planner.plan(shared))).message).to.match(
      /shared-layer\.yaml: model\.base: layer conv1 belongs to more than one unit$/,
    );
  });

  it('refuses a base whose input shape the data do not fit; accepts any size where the base has none', async () => {
    const { planner } = await containerWithTestPlugins(dir);
    const fixed = await loadTinySpec(
      dir,
      { model: { base: { plugin: 'odd-base', inputShape: [32, 32, 3] } }, strategy: { plugin: 'fine-tune', unfreeze: 1 } },
      'shape.yaml',
    );
    expect((await errorOf(planner.plan(fixed))).message).to.match(
      /shape\.yaml: model\.base: the base expects input of shape \[32, 32, 3\] but the data have \[28, 28, 1\]$/,
    );
    const anySize = await loadTinySpec(
      dir,
      { model: { base: { plugin: 'odd-base', inputShape: [null, null, 1] } }, strategy: { plugin: 'fine-tune', unfreeze: 1 } },
      'any-size.yaml',
    );
    const plan = await planner.plan(anySize);
    expect(plan.base.facts.inputShape).to.deep.equal([null, null, 1]);
    expect(plan.phases[0]!.trainableUnits).to.deep.equal(['u2']);
  });

  it('refuses an output.base that cannot be created (a path under a regular file)', async () => {
    await writeFile(join(dir, 'a-file'), 'not a folder');
    const container = await testContainer(dir);
    const loaded = await loadTinySpec(dir, { output: { base: 'a-file/base' } }, 'unwritable.yaml');
    const error = await errorOf(container.get<TrialPlanner>(TrialPlanner).plan(loaded));
    expect(error.message).to.match(/unwritable\.yaml: output\.base: .*a-file is a file, so .*a-file\/base cannot be created/);
  });

  it('plans the trial that makes a from-run base as a prerequisite, with that base’s facts', async () => {
    const container = await testContainer(dir);
    const pretrain = await writeSpec(
      dir,
      'pretrain.yaml',
      tinySpec({ name: 'pretrain', strategy: { plugin: 'fine-tune', unfreeze: 'all' }, output: { base: 'models/pretrain' } }),
    );
    const transfer = await loadTinySpec(
      dir,
      { model: { base: { plugin: 'from-run', spec: 'pretrain.yaml', ifMissing: 'run' }, head: { dropout: 0 } } },
      'transfer.yaml',
    );
    const plan = await container.get<TrialPlanner>(TrialPlanner).plan(transfer);
    expect(plan.prerequisites).to.have.length(1);
    const [prerequisite] = plan.prerequisites;
    expect(prerequisite!.produces).to.equal(resolve(dir, 'models/pretrain'));
    expect(prerequisite!.plan.loaded.file).to.equal(pretrain);
    expect(prerequisite!.plan.outputBase).to.equal(resolve(dir, 'models/pretrain'));
    expect(plan.base.facts.units.map((unit) => unit.name)).to.deep.equal(['block1', 'block2']);
    expect(plan.base.facts.layers).to.deep.equal(prerequisite!.plan.base.facts.layers);
    expect(plan.phases[0]!.trainableUnits).to.deep.equal(['block2']);

    const refuse = await loadTinySpec(dir, { model: { base: { plugin: 'from-run', spec: 'pretrain.yaml' } } }, 'transfer-error.yaml');
    expect((await errorOf(container.get<TrialPlanner>(TrialPlanner).plan(refuse))).message).to.match(
      /transfer-error\.yaml: model\.base: the base .*models\/pretrain does not exist yet; it is produced by `thaw run .*pretrain\.yaml`/,
    );
  });

  it('refuses from-run specs whose bases depend on themselves, naming the chain; then plans on', async () => {
    const container = await testContainer(dir);
    const planner = container.get<TrialPlanner>(TrialPlanner);
    const fromRun = (name: string, spec: string) =>
      tinySpec({
        name,
        model: { base: { plugin: 'from-run', spec, ifMissing: 'run' }, head: { dropout: 0 } },
        output: { base: `models/${name}` },
      });
    await writeSpec(dir, 'cycle-a.yaml', fromRun('cycle-a', 'cycle-b.yaml'));
    await writeSpec(dir, 'cycle-b.yaml', fromRun('cycle-b', 'cycle-a.yaml'));
    const two = await errorOf(planner.plan(await loadSpec(join(dir, 'cycle-a.yaml'))));
    expect(two.message).to.match(/cycle-a\.yaml: its base depends on itself \(\S*cycle-a\.yaml → \S*cycle-b\.yaml → \S*cycle-a\.yaml\)$/);

    await writeSpec(dir, 'cycle-self.yaml', fromRun('cycle-self', 'cycle-self.yaml'));
    const self = await errorOf(planner.plan(await loadSpec(join(dir, 'cycle-self.yaml'))));
    expect(self.message).to.match(/cycle-self\.yaml: its base depends on itself \(\S*cycle-self\.yaml → \S*cycle-self\.yaml\)$/);

    // The refusal leaves nothing behind: the same planner plans a sound spec.
    const plan = await planner.plan(await loadTinySpec(dir, {}, 'after-cycle.yaml'));
    expect(plan.phases).to.have.length(1);
  });
});
