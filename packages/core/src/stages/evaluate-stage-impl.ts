import * as tf from '@tensorflow/tfjs';
import { injectable } from 'inversify';
import type { LabeledImages } from '../contracts/dataset-plugin.js';
import type { ClassMetrics, EvaluateStage, Evaluation } from '../contracts/evaluate-stage.js';
import { crossEntropy, predictAll } from '../training/batches.js';

const EVALUATION_BATCH = 128;

@injectable()
export class EvaluateStageImpl implements EvaluateStage {
  async evaluate(model: tf.LayersModel, data: LabeledImages, classNames: readonly string[], split: string): Promise<Evaluation> {
    const classes = classNames.length;
    const [lossTensor, predictedTensor] = tf.tidy((): [tf.Scalar, tf.Tensor] => {
      const probabilities = predictAll(model, data.images, EVALUATION_BATCH);
      return [crossEntropy(tf.oneHot(data.labels, classes), probabilities), tf.argMax(probabilities, -1)];
    });
    const loss = (await lossTensor.data())[0]!;
    const predicted = await predictedTensor.data();
    const truth = await data.labels.data();
    lossTensor.dispose();
    predictedTensor.dispose();

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
