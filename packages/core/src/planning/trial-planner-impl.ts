import { resolve } from 'node:path';
import { inject, injectable } from 'inversify';
import {
  Logger,
  ThawError,
  Tracker,
  baseFacts,
  planningMemo,
  pluginOptions,
  validatePluginOptions,
  type BaseFacts,
  type BaseModelPlugin,
  type DatasetContext,
  type DatasetFacts,
  type DatasetPlugin,
  type LoadedSpec,
  type Phase,
  type PlanningMemo,
  type PluginContribution,
  type PluginSection,
  type Prerequisite,
  type TrialPlan,
  type TrialPlanner,
} from '@thaw/contracts';
import { disposeModel } from '../model/dispose-model.js';
import { disposeSplits } from '../model/dispose-splits.js';
import { PluginRegistry } from '../plugins/plugin-registry.js';
import { configHash } from '../spec/flatten-spec.js';
import { loadSpec } from '../spec/spec-loader.js';
import { checkWritableFolder } from '../util/check-writable-folder.js';
import { displayPath } from '../util/display-path.js';

/**
 * Resolves every plugin section of a spec, validates its options, asks each plugin to check them
 * against the files and runs they name, plans the strategy's phases on the base's units, and
 * checks where outputs go: a spec mistake is refused here, before any run exists.
 */
@injectable()
export class TrialPlannerImpl implements TrialPlanner {
  constructor(
    @inject(PluginRegistry) private readonly registry: PluginRegistry,
    @inject(Logger) private readonly log: Logger,
    @inject(Tracker) private readonly tracker: Tracker,
  ) {}

  plan(loaded: LoadedSpec, memo: PlanningMemo = planningMemo()): Promise<TrialPlan> {
    return this.planChain(loaded, memo, []);
  }

  /** `chain`: the specs whose bases lead here, outermost first; a base that needs itself is refused before it is awaited. */
  private async planChain(loaded: LoadedSpec, memo: PlanningMemo, chain: readonly string[]): Promise<TrialPlan> {
    if (chain.includes(loaded.file)) {
      throw new ThawError(
        `${displayPath(loaded.file)}: its base depends on itself (${[...chain, loaded.file].map(displayPath).join(' → ')})`,
      );
    }
    return this.planSpec(loaded, memo, [...chain, loaded.file]);
  }

  private async planSpec(loaded: LoadedSpec, memo: PlanningMemo, chain: readonly string[]): Promise<TrialPlan> {
    const { spec } = loaded;
    const file = displayPath(loaded.file);
    const dataSection = resolveSection(spec.data, `${file}: data`, (id, where) => this.registry.dataset(id, where));
    const baseSection = resolveSection(spec.model.base, `${file}: model.base`, (id, where) => this.registry.baseModel(id, where));
    const strategySection = resolveSection(spec.strategy, `${file}: strategy`, (id, where) => this.registry.strategy(id, where));

    const dataContext = datasetContext(loaded, this.log, dataSection.where);
    const data = await remember(memo.datasets, memoKey(dataSection, loaded.dir, dataContext.seed, dataContext.baseSize), () =>
      this.datasetFacts(dataSection.plugin, dataSection.options, dataContext),
    );
    checkDataset(data, dataSection.where, spec.evaluate.split);
    const units = spec.model.head.units;
    if (units !== undefined && units !== data.classNames.length && !(units === 1 && data.classNames.length === 2)) {
      throw new ThawError(
        `${file}: model.head.units: received ${units} for ${data.classNames.length} classes (${data.classNames.join(', ')}); expected ${data.classNames.length}${data.classNames.length === 2 ? ', or 1 for one logit' : ''}`,
      );
    }

    const base = await remember(memo.bases, memoKey(baseSection, loaded.dir, data.inputShape), () =>
      this.baseFacts(baseSection.plugin, baseSection.options, {
        inputShape: data.inputShape,
        seed: spec.seed,
        specDir: loaded.dir,
        log: this.log,
        where: baseSection.where,
        planSpec: async (specFile) => this.planChain(await loadSpec(specFile), memo, chain),
      }),
    );
    checkBase(base, baseSection.where, data.inputShape);

    const phases = strategySection.plugin.plan(strategySection.options, {
      units: base.units,
      layers: base.layers,
      train: spec.train,
      log: this.log,
      where: strategySection.where,
    });
    checkPhases(phases, base, strategySection.where, strategySection.plugin.id);

    const outputBase = spec.output.base === undefined ? undefined : resolve(loaded.dir, spec.output.base);
    if (outputBase !== undefined) checkWritableFolder(outputBase, `${file}: output.base`);
    this.tracker.checkWritable?.(`${file}: tracking.store`);

    const prerequisites: Prerequisite[] = base.prerequisite ? [base.prerequisite] : [];
    return {
      loaded,
      configHash: configHash(spec),
      data: { ...dataSection, facts: data },
      base: { ...baseSection, facts: base },
      strategy: { ...strategySection, facts: undefined },
      phases,
      prerequisites,
      ...(outputBase === undefined ? {} : { outputBase }),
    };
  }

  private async datasetFacts(plugin: DatasetPlugin, options: unknown, context: DatasetContext): Promise<DatasetFacts> {
    if (plugin.check) return plugin.check(options, context);
    const data = await plugin.load(options, context);
    try {
      return {
        inputShape: data.train.imageShape,
        classNames: data.classNames,
        counts: { train: data.train.count, validation: data.validation.count, test: data.test.count },
        source: data.source,
      };
    } finally {
      disposeSplits(data);
    }
  }

  private async baseFacts(
    plugin: BaseModelPlugin,
    options: unknown,
    context: Parameters<NonNullable<BaseModelPlugin['check']>>[1],
  ): Promise<BaseFacts> {
    if (plugin.check) return plugin.check(options, context);
    const base = await plugin.build(options, context);
    try {
      return baseFacts(base);
    } finally {
      disposeModel(base.model);
    }
  }
}

/** What a dataset plugin is told about the trial, in check and in load alike. */
export function datasetContext(loaded: LoadedSpec, log: Logger, where: string): DatasetContext {
  const size = (loaded.spec.model.base as { size?: unknown }).size;
  return {
    specDir: loaded.dir,
    seed: loaded.spec.seed,
    log,
    where,
    ...(typeof size === 'number' && Number.isInteger(size) ? { baseSize: size } : {}),
  };
}

interface ResolvedSection<Plugin> {
  readonly plugin: Plugin;
  readonly options: unknown;
  readonly where: string;
}

function resolveSection<Plugin extends PluginContribution>(
  section: PluginSection,
  where: string,
  find: (id: string, where: string) => Plugin,
): ResolvedSection<Plugin> {
  const { id, options } = pluginOptions(section);
  const plugin = find(id, `${where}.plugin`);
  return { plugin, options: validatePluginOptions(plugin, options, where), where };
}

function memoKey(section: ResolvedSection<PluginContribution>, dir: string, ...more: unknown[]): string {
  return JSON.stringify([section.plugin.id, section.options, dir, ...more]);
}

function remember<T>(memo: Map<string, Promise<T>>, key: string, make: () => Promise<T>): Promise<T> {
  let value = memo.get(key);
  if (value === undefined) {
    value = make();
    memo.set(key, value);
    // A failed check is not remembered: the next trial reports it again with its own context.
    value.catch(() => memo.delete(key));
  }
  return value;
}

function checkDataset(data: DatasetFacts, where: string, evaluateSplit: 'test' | 'validation'): void {
  if (data.classNames.length < 2) {
    throw new ThawError(`${where}: ${data.classNames.length} class (${data.classNames.join(', ')}); expected at least 2 classes`);
  }
  const empty = (['train', 'validation', ...(evaluateSplit === 'test' ? (['test'] as const) : [])] as const).filter(
    (split) => data.counts[split] === 0,
  );
  if (empty.length > 0) {
    throw new ThawError(
      `${where}: the ${empty.join(' and ')} split${empty.length > 1 ? 's are' : ' is'} empty (${data.source}); expected images in train, validation${evaluateSplit === 'test' ? ' and test' : ''}`,
    );
  }
}

/** The units name layers of the base, each at most once; the base accepts the data's images. */
function checkBase(base: BaseFacts, where: string, inputShape: readonly number[]): void {
  const expected = base.inputShape;
  if (expected.length !== inputShape.length || expected.some((size, index) => size !== null && size !== inputShape[index])) {
    throw new ThawError(
      `${where}: the base expects input of shape [${expected.map((s) => s ?? 'any').join(', ')}] but the data have [${inputShape.join(', ')}]`,
    );
  }
  if (base.units.length === 0) throw new ThawError(`${where}: the base model has no units; expected at least one`);
  const layers = new Set(base.layers);
  const seen = new Set<string>();
  for (const unit of base.units) {
    for (const layer of unit.layers) {
      if (!layers.has(layer)) throw new ThawError(`${where}: unit ${unit.name} names layer ${layer}, which the base model does not have`);
      if (seen.has(layer)) throw new ThawError(`${where}: layer ${layer} belongs to more than one unit`);
      seen.add(layer);
    }
  }
}

function checkPhases(phases: readonly Phase[], base: BaseFacts, where: string, id: string): void {
  if (phases.length === 0) throw new ThawError(`${where}: strategy ${id} planned no phases; expected at least one`);
  const names = new Set(base.units.map((unit) => unit.name));
  for (const phase of phases) {
    const unknown = [...phase.trainableUnits, ...(phase.reinitializeUnits ?? [])].find((name) => !names.has(name));
    if (unknown !== undefined) {
      throw new ThawError(`${where}: strategy ${id} named unit ${unknown}; expected one of ${[...names].join(', ')}`);
    }
    if (!Number.isInteger(phase.epochs) || phase.epochs < 1) {
      throw new ThawError(`${where}: strategy ${id} planned phase ${phase.name} with ${phase.epochs} epochs; expected at least 1`);
    }
  }
}
