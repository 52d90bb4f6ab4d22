import type { LoadedSpec } from './loaded-spec.js';
import type { BaseModelPlugin, ModelUnit } from './base-model-plugin.js';
import type { DatasetPlugin } from './dataset-plugin.js';
import type { Phase, StrategyPlugin } from './strategy-plugin.js';

/** What a dataset will deliver, known before any image is loaded. */
export interface DatasetFacts {
  /** One image, [height, width, channels]. */
  readonly inputShape: readonly [number, number, number];
  /** Names of the classes, indexed by label. */
  readonly classNames: readonly string[];
  /** Images per split. */
  readonly counts: { readonly train: number; readonly validation: number; readonly test: number };
  /** Where the data come from, for the record. */
  readonly source: string;
}

/** What a base model is, known before its weights are loaded. */
export interface BaseFacts {
  /** Input shape without the batch dimension; null where any size is accepted. */
  readonly inputShape: readonly (number | null)[];
  /** Units, ordered input → output. */
  readonly units: readonly ModelUnit[];
  /** Layers in Keras' order (model.layers, without thaw's input adapters), for `fineTuneAt`. */
  readonly layers: readonly string[];
  /** A trial that must run first because it produces the base (from-run with `ifMissing: run`). */
  readonly prerequisite?: Prerequisite;
}

/** A trial to run before another, and the folder whose `model.json` it produces. */
export interface Prerequisite {
  readonly plan: TrialPlan;
  readonly produces: string;
}

/** A plugin resolved from a spec section, with its validated options. */
export interface PlannedPlugin<Plugin, Facts = undefined> {
  readonly plugin: Plugin;
  readonly options: unknown;
  /** `experiments/x.yaml: model.base`, for messages. */
  readonly where: string;
  readonly facts: Facts;
}

/**
 * A trial, fully resolved and checked before any run exists: the plugins and their options, what
 * the data and the base are, the phases the strategy trains and what must run first. Every stage
 * works from it; nothing in it is trained or loaded.
 */
export interface TrialPlan {
  readonly loaded: LoadedSpec;
  readonly configHash: string;
  readonly data: PlannedPlugin<DatasetPlugin, DatasetFacts>;
  readonly base: PlannedPlugin<BaseModelPlugin, BaseFacts>;
  readonly strategy: PlannedPlugin<StrategyPlugin>;
  readonly phases: readonly Phase[];
  /** Trials to run before this one, in order. */
  readonly prerequisites: readonly Prerequisite[];
  /** Where the trained base is saved (absolute), when the spec asks for it. */
  readonly outputBase?: string;
}

/** Facts remembered while planning many trials (a sweep), so that each dataset and base is checked once. */
export interface PlanningMemo {
  readonly datasets: Map<string, Promise<DatasetFacts>>;
  readonly bases: Map<string, Promise<BaseFacts>>;
}

export function planningMemo(): PlanningMemo {
  return { datasets: new Map(), bases: new Map() };
}

/** Turns a spec into a trial plan, refusing every mistake it can find before anything is recorded. */
export const TrialPlanner = Symbol('TrialPlanner');
export interface TrialPlanner {
  plan(loaded: LoadedSpec, memo?: PlanningMemo): Promise<TrialPlan>;
}
