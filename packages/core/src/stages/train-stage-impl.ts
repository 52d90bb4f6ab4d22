import * as tf from '@tensorflow/tfjs';
import { inject, injectable } from 'inversify';
import type { EpochLogs, PhaseRequest, PhaseResult, TrainStage } from '../contracts/train-stage.js';
import { EarlyStopping } from '../training/early-stopping.js';
import { makeOptimizer } from '../training/make-optimizer.js';
import type { InferenceFunction } from '../model/inference-function.js';
import { FrozenFeatureCache } from '../training/frozen-feature-cache.js';
import { countCorrect, crossEntropy, lossAndAccuracy } from '../training/batches.js';

/**
 * Inputs of the trainable part for one phase. Below the cut the network is a fixed function, so
 * when nothing random comes before it its outputs come from the frozen-feature cache (computed
 * once, reused every epoch and by later trials); otherwise each batch is augmented and passed
 * through the frozen prefix in inference mode.
 */
/** An inference function over many images, a batch at a time, concatenated. */
function runInBatches(inference: InferenceFunction, images: tf.Tensor4D, batchSize: number): tf.Tensor {
  return tf.tidy(() => {
    const count = images.shape[0];
    const parts: tf.Tensor[] = [];
    for (let start = 0; start < count; start += batchSize) {
      parts.push(inference.run(images.slice(start, Math.min(batchSize, count - start))));
    }
    return parts.length === 1 ? parts[0]! : tf.concat(parts);
  });
}

class PhaseInputs {
  private constructor(
    private readonly request: PhaseRequest,
    private readonly trainFeatures: tf.Tensor | undefined,
    private readonly validationFeatures: tf.Tensor | undefined,
  ) {}

  static async create(request: PhaseRequest, cache: FrozenFeatureCache): Promise<PhaseInputs> {
    const { data, augmenter, config, frozen } = request;
    const prefix = frozen.frozenPrefix;
    if (!prefix || !config.cacheFrozen) return new PhaseInputs(request, undefined, undefined);
    const compute = (images: tf.Tensor4D) => runInBatches(frozen.frozenInference!, images, config.batchSize);
    const train = augmenter.active ? undefined : await cache.features(prefix, data.train.images, compute);
    return new PhaseInputs(request, train, await cache.features(prefix, data.validation.images, compute));
  }

  /** The trainable part's input for the given training rows (caller disposes, e.g. within tidy). */
  batch(indices: tf.Tensor1D): tf.Tensor {
    if (this.trainFeatures) return tf.gather(this.trainFeatures, indices);
    const images = this.request.augmenter.apply(tf.gather<tf.Tensor4D>(this.request.data.train.images, indices));
    const inference = this.request.frozen.frozenInference;
    return inference ? inference.run(images) : images;
  }

  /** Loss and accuracy on the validation split; without the cache the frozen part runs again, as it would in Keras' fit. */
  async validate(classes: number): Promise<{ loss: number; accuracy: number }> {
    const { data, config } = this.request;
    const inference = this.request.frozen.frozenInference;
    const features =
      this.validationFeatures ?? (inference ? runInBatches(inference, data.validation.images, config.batchSize) : data.validation.images);
    try {
      return await lossAndAccuracy(this.request.frozen.trainable, features, data.validation.labels, classes, config.batchSize);
    } finally {
      if (features !== this.validationFeatures && features !== data.validation.images) features.dispose();
    }
  }

  dispose(): void {
    this.trainFeatures?.dispose();
    this.validationFeatures?.dispose();
  }
}

@injectable()
export class TrainStageImpl implements TrainStage {
  constructor(@inject(FrozenFeatureCache) private readonly cache: FrozenFeatureCache) {}

  async trainPhase(request: PhaseRequest): Promise<PhaseResult> {
    const { data, config, events, phase, frozen, random, firstEpoch } = request;
    const classes = data.classNames.length;
    const model = frozen.trainable;
    const variables = model.trainableWeights.map((weight) => weight.read() as tf.Variable);
    const optimizer = makeOptimizer(config, phase.learningRate);
    const inputs = await PhaseInputs.create(request, this.cache);
    const stopping = config.earlyStopping ? new EarlyStopping(config.earlyStopping, variables) : undefined;
    const count = data.train.labels.shape[0];
    const logs: EpochLogs[] = [];
    let images = 0;
    let seconds = 0;
    let stoppedEarly = false;
    try {
      for (let e = 0; e < phase.epochs; e++) {
        const epoch = firstEpoch + e;
        await events.emit('onEpochBegin', epoch, phase);
        const started = performance.now();
        const order = random.permutation(count);
        // Per-batch values are read only when an observer wants them; otherwise sums stay on the
        // device until the epoch ends, sparing a synchronisation per batch.
        const perBatch = events.listens('onBatchEnd');
        let lossSum: tf.Tensor = tf.scalar(0);
        let correctSum: tf.Tensor = tf.scalar(0);
        for (let start = 0, batch = 0; start < count; start += config.batchSize, batch++) {
          await events.emit('onBatchBegin', epoch, batch);
          const rows = order.subarray(start, Math.min(start + config.batchSize, count));
          const [loss, correct] = tf.tidy(() => {
            const indices = tf.tensor1d(rows, 'int32');
            const x = inputs.batch(indices);
            const y = tf.oneHot(tf.gather(data.train.labels, indices), classes);
            let correctCount: tf.Scalar | undefined;
            const cost = optimizer.minimize(
              () => {
                const probabilities = model.apply(x, { training: true }) as tf.Tensor;
                correctCount = tf.keep(countCorrect(y, probabilities));
                return crossEntropy(y, probabilities);
              },
              true,
              variables,
            )!;
            return [cost, correctCount!];
          });
          const [nextLoss, nextCorrect] = [tf.tidy(() => lossSum.add(loss.mul(rows.length))), tf.tidy(() => correctSum.add(correct))];
          tf.dispose([lossSum, correctSum]);
          [lossSum, correctSum] = [nextLoss, nextCorrect];
          if (perBatch) await events.emit('onBatchEnd', { epoch, batch, size: rows.length, loss: (await loss.data())[0]! });
          tf.dispose([loss, correct]);
        }
        const trainLoss = (await lossSum.data())[0]! / count;
        const trainAccuracy = (await correctSum.data())[0]! / count;
        tf.dispose([lossSum, correctSum]);
        const trainSeconds = (performance.now() - started) / 1000;
        images += count;
        seconds += trainSeconds;
        const validation = await inputs.validate(classes);
        const epochLogs: EpochLogs = {
          epoch,
          phase: phase.name,
          loss: trainLoss,
          accuracy: trainAccuracy,
          valLoss: validation.loss,
          valAccuracy: validation.accuracy,
          seconds: (performance.now() - started) / 1000,
        };
        logs.push(epochLogs);
        await events.emit('onEpochEnd', epochLogs);
        if (stopping?.update(epochLogs)) {
          stoppedEarly = true;
          break;
        }
      }
      stopping?.finish();
    } finally {
      stopping?.disposeSnapshot();
      optimizer.dispose();
      inputs.dispose();
    }
    return { epochs: logs, images, seconds, stoppedEarly };
  }
}
