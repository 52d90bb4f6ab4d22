import type * as tf from '@tensorflow/tfjs';
import type { Logger } from './logger.js';
import type { PluginContribution } from './plugin-contribution.js';
import type { BaseFacts, TrialPlan } from './trial-plan.js';

/**
 * A group of layers that is unfrozen together (a conv block, an inverted-residual block, a
 * single weighted layer). The output of a unit's last layer is the only tensor that flows to
 * the units above it, so the network can be cut there.
 */
export interface ModelUnit {
  readonly name: string;
  readonly layers: readonly string[];
}

/** A pretrained base: a LayersModel (input → features) and its units, ordered input → output. */
export interface BaseModel {
  readonly model: tf.LayersModel;
  readonly units: readonly ModelUnit[];
  /** The value range the base expects its input in; data arrive in [0, 1]. */
  readonly inputRange?: readonly [number, number];
  /** Weightless layers that fit the data to the base (resize, grey → RGB), before its input proper: not counted in Keras' layer indices. */
  readonly adapterLayers?: readonly string[];
  /** What was built or loaded, for the record (architecture, weights file …). */
  readonly description: string;
}

/** The base's layers as Keras indexes them (`fine_tune_at`): its model.layers without thaw's input adapters. */
export function kerasLayerNames(base: BaseModel): string[] {
  const adapters = new Set(base.adapterLayers ?? []);
  return base.model.layers.map((layer) => layer.name).filter((name) => !adapters.has(name));
}

export interface BaseModelContext {
  /** Shape of one input image, [height, width, channels]. */
  readonly inputShape: readonly [number, number, number];
  readonly seed: number;
  readonly specDir: string;
  readonly log: Logger;
  /** `experiments/x.yaml: model.base`, for error messages. */
  readonly where: string;
}

export interface BaseCheckContext extends BaseModelContext {
  /** Plans another spec: a base that another trial produces makes that trial a prerequisite. */
  planSpec(file: string): Promise<TrialPlan>;
}

/** Facts of a built base, as the planner needs them. */
export function baseFacts(base: BaseModel): BaseFacts {
  return { inputShape: base.model.inputs[0]!.shape.slice(1), units: base.units, layers: kerasLayerNames(base) };
}

export const BaseModelPlugin = Symbol('BaseModelPlugin');
export interface BaseModelPlugin<Options = unknown> extends PluginContribution<Options> {
  /**
   * Checks the options (sizes, files, runs) and says what the base is — its units and layers —
   * without loading weights or training. Without it, thaw builds the base once to find out.
   */
  check?(options: Options, context: BaseCheckContext): Promise<BaseFacts>;
  build(options: Options, context: BaseModelContext): Promise<BaseModel>;
}
