import type * as tf from '@tensorflow/tfjs';
import type { InferenceFunction } from './inference-function.js';
import type { BaseModel, ModelUnit } from './base-model-plugin.js';

/**
 * What a head's output means: `softmax` — one probability per class; `logit` — one logit for two
 * classes (Keras' Dense(1) with BinaryCrossentropy(from_logits=True)).
 */
export type HeadOutput = 'softmax' | 'logit';

/** The whole network of a trial: input → base → head → class probabilities. */
export interface BuiltModel {
  readonly model: tf.LayersModel;
  readonly base: BaseModel;
  /** The base's units, ordered input → output. */
  readonly units: readonly ModelUnit[];
  /** Names of the layers the build stage added on top of the base (always trainable). */
  readonly headLayers: readonly string[];
  /** Name of the base's last layer: the head starts from its output. */
  readonly baseOutputLayer: string;
  /** What the head outputs: class probabilities (softmax), or one logit for two classes. */
  readonly output: HeadOutput;
}

/** Counts that say what a configuration trains; recorded as params of the run. */
export interface ModelFacts {
  readonly layers: number;
  /** Layers of the base set trainable, as Keras counts them after `layer.trainable = …`. */
  readonly trainableBaseLayers: number;
  readonly units: number;
  readonly trainableUnits: number;
  readonly trainableParams: number;
  readonly nonTrainableParams: number;
  readonly trainableVariables: number;
  readonly nonTrainableVariables: number;
}

/**
 * A network prepared for one phase. Below the lowest trainable unit it is a fixed function, so it
 * is split there: `frozenPrefix` runs in inference mode (no gradients, BN with moving statistics)
 * and its outputs can be computed once; `trainable` takes them and holds every trainable variable.
 * Both share their layers with the BuiltModel: training `trainable` trains the BuiltModel.
 */
export interface FrozenModel {
  readonly frozenPrefix: tf.LayersModel | undefined;
  /** `frozenPrefix` compiled for inference (BatchNormalization folded, fused convolutions); how the frozen part is run. */
  readonly frozenInference: InferenceFunction | undefined;
  readonly trainable: tf.LayersModel;
  /** The unit whose output is the cut, or undefined when nothing is frozen below the trainable part. */
  readonly cutAfterUnit: string | undefined;
  readonly facts: ModelFacts;
  /** Undoes what freezing changed on shared layers (trainable flags, BN modes). */
  release(): void;
}
