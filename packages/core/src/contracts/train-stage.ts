import type { TrainConfig } from '../spec/experiment-spec.js';
import type { Augmenter } from './augment-stage.js';
import type { BuiltModel, ModelFacts } from './built-model.js';
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

export interface TrainResult {
  readonly epochs: readonly EpochLogs[];
  /** Phases ended by early stopping. */
  readonly stoppedEarly: readonly string[];
  readonly imagesPerSecond: number;
  /** What the last phase trained. */
  readonly finalFacts: ModelFacts;
}

export interface TrainRequest {
  readonly built: BuiltModel;
  readonly phases: readonly Phase[];
  readonly data: DatasetSplits;
  readonly augmenter: Augmenter;
  readonly config: TrainConfig;
  readonly seed: number;
  readonly events: TrialEvents;
}

/** Stage 5: runs the phases, reporting batches and epochs to the observers. */
export const TrainStage = Symbol('TrainStage');
export interface TrainStage {
  train(request: TrainRequest): Promise<TrainResult>;
}
