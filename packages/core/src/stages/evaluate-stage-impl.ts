import type * as tf from '@tensorflow/tfjs';
import { injectable } from 'inversify';
import type { ClassMetrics, EvaluateStage, Evaluation, HeadOutput, ImageSplit } from '@thaw/contracts';
import { labeledBatches } from '../data/labeled-batches.js';
import { predictBatches } from '../training/batches.js';
import { objectiveFor } from '../training/objective.js';

const EVALUATION_BATCH = 128;

@injectable()
export class EvaluateStageImpl implements EvaluateStage {
  async evaluate(
    model: tf.LayersModel,
    output: HeadOutput,
    data: ImageSplit,
    classNames: readonly string[],
    split: string,
  ): Promise<Evaluation> {
    const classes = classNames.length;
    const { loss, predicted } = await predictBatches(model, labeledBatches(data, EVALUATION_BATCH), objectiveFor(output, classes));
    const truth = data.labels;
    const confusion = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
    truth.forEach((label, index) => (confusion[label]![predicted[index]!]! += 1));
    const perClass: ClassMetrics[] = classNames.map((className, c) => {
      const truePositives = confusion[c]![c]!;
      const support = confusion[c]!.reduce((sum, n) => sum + n, 0);
      const predictedAs = confusion.reduce((sum, row) => sum + row[c]!, 0);
      return {
        className,
        precision: predictedAs === 0 ? 0 : truePositives / predictedAs,
        recall: support === 0 ? 0 : truePositives / support,
        support,
      };
    });
    const correct = perClass.reduce((sum, _, c) => sum + confusion[c]![c]!, 0);
    return { split, loss, accuracy: truth.length === 0 ? 0 : correct / truth.length, perClass, confusionMatrix: confusion };
  }
}
