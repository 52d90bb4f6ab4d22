import type * as tf from '@tensorflow/tfjs';
import type { ImageSplit } from './dataset-plugin.js';
import type { HeadOutput } from './built-model.js';

export interface ClassMetrics {
  readonly className: string;
  readonly precision: number;
  readonly recall: number;
  readonly support: number;
}

export interface Evaluation {
  readonly split: string;
  readonly loss: number;
  readonly accuracy: number;
  readonly perClass: readonly ClassMetrics[];
  /** Rows: true class; columns: predicted class. */
  readonly confusionMatrix: readonly (readonly number[])[];
}

/** Stage 6: loss, accuracy, per-class precision/recall and the confusion matrix on a held-out split. */
export const EvaluateStage = Symbol('EvaluateStage');
export interface EvaluateStage {
  evaluate(model: tf.LayersModel, output: HeadOutput, data: ImageSplit, classNames: readonly string[], split: string): Promise<Evaluation>;
}
