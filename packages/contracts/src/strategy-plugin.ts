import type { OptimizerName, TrainConfig } from './experiment-spec.js';
import type { Logger } from './logger.js';
import type { ModelUnit } from './base-model-plugin.js';
import type { PluginContribution } from './plugin-contribution.js';

/**
 * One phase of training: which base units are trainable (the head always is), how
 * BatchNormalization layers in trainable units behave, and the schedule. Frozen units always
 * run in inference mode.
 */
export interface Phase {
  readonly name: string;
  readonly trainableUnits: readonly string[];
  /** Layers of trainable units that stay frozen (Keras' fine_tune_at may fall inside a unit). */
  readonly frozenLayers?: readonly string[];
  /**
   * BatchNormalization layers inside trainable units: `frozen` — inference mode, weights fixed;
   * `inference` — inference mode (moving statistics fixed) while gamma and beta train, as the
   * Keras tutorial intends with `base(x, training=False)`; `train` — batch statistics, everything trains.
   */
  readonly batchNorm: BatchNormMode;
  readonly epochs: number;
  readonly learningRate: number;
  /** The phase's optimizer (default: train.optimizer), e.g. Adam for the head, RMSprop for fine-tuning. */
  readonly optimizer?: OptimizerName;
  /** Units whose weights are drawn afresh (Keras' default initializers, seeded) before the phase: transfer-n's upper layers. */
  readonly reinitializeUnits?: readonly string[];
}

export type BatchNormMode = 'frozen' | 'inference' | 'train';

export interface StrategyContext {
  /** The base's units, ordered input → output. */
  readonly units: readonly ModelUnit[];
  /** The base's layers in Keras' order (model.layers, the input layer first), for `fineTuneAt`. */
  readonly layers: readonly string[];
  readonly train: TrainConfig;
  readonly log: Logger;
  readonly where: string;
}

export const StrategyPlugin = Symbol('StrategyPlugin');
export interface StrategyPlugin<Options = unknown> extends PluginContribution<Options> {
  /** Decides the phases of a trial. Called before anything is trained, so bad options fail early. */
  plan(options: Options, context: StrategyContext): Phase[];
}
