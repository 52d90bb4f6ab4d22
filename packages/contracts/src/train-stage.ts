import type { TrainConfig } from './experiment-spec.js';
import type { SeededRandom } from './seeded-random.js';
import type { HeadOutput } from './built-model.js';
import type { Augmenter } from './augment-stage.js';
import type { ModelUnit } from './base-model-plugin.js';
import type { FrozenModel, ModelFacts } from './built-model.js';
import type { DatasetSplits } from './dataset-plugin.js';
import type { Phase } from './strategy-plugin.js';
import type { TrialEvents } from './trial-observer.js';

export interface EpochLogs {
  /** Epoch number on one axis across all phases, starting at 0. */
  readonly epoch: number;
  readonly phase: string;
  readonly loss: number;
  readonly accuracy: number;
  readonly valLoss: number;
  readonly valAccuracy: number;
  readonly seconds: number;
}

/** What the phases of a trial trained, together. */
export interface TrainResult {
  readonly epochs: readonly EpochLogs[];
  /** Phases ended by early stopping. */
  readonly stoppedEarly: readonly string[];
  readonly imagesPerSecond: number;
  /** What the last phase trained. */
  readonly finalFacts: ModelFacts;
  /** The epoch (index into `epochs`) whose weights the model holds at the end: the best one restored by early stopping, else the last. */
  readonly keptEpoch: number;
  /** Splits whose frozen-part features this trial computed (rather than read from the cache). */
  readonly featureSetsComputed: number;
}

export interface PhaseRequest {
  readonly phase: Phase;
  /** The network as the freeze stage prepared it for this phase. */
  readonly frozen: FrozenModel;
  /** What the head outputs (class probabilities, or one logit for two classes). */
  readonly output: HeadOutput;
  /** The base's units, input → output: which unit a trainable layer belongs to (per-unit learning rates). */
  readonly units: readonly ModelUnit[];
  readonly data: DatasetSplits;
  readonly augmenter: Augmenter;
  readonly config: TrainConfig;
  /** The trial's shuffling stream, shared by its phases. */
  readonly random: SeededRandom;
  /** Number of the phase's first epoch on the trial's epoch axis. */
  readonly firstEpoch: number;
  readonly events: TrialEvents;
}

export interface PhaseResult {
  readonly epochs: readonly EpochLogs[];
  readonly images: number;
  /** Seconds spent in training steps (validation excluded). */
  readonly seconds: number;
  readonly stoppedEarly: boolean;
  /** The epoch whose weights the model holds after the phase (early stopping may restore an earlier one than the last). */
  readonly keptEpoch: number;
  /** Splits whose frozen-part features the phase computed (0 when the cache had them, or none were cached). */
  readonly featureSetsComputed: number;
}

/** Stage 5: trains one phase, reporting batches and epochs to the observers. The runner loops over the phases. */
export const TrainStage = Symbol('TrainStage');
export interface TrainStage {
  trainPhase(request: PhaseRequest): Promise<PhaseResult>;
}
