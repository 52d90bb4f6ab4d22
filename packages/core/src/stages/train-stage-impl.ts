import * as tf from '@tensorflow/tfjs';
import { inject, injectable } from 'inversify';
import type { EpochLogs, ImageSplit, PhaseRequest, PhaseResult, TrainStage } from '@thaw/contracts';
import { labeledBatches } from '../data/labeled-batches.js';
import { splitBatches } from '../data/split-batches.js';
import { predictBatches, tensorBatches } from '../training/batches.js';
import { EarlyStopping } from '../training/early-stopping.js';
import { FrozenFeatureCache } from '../training/frozen-feature-cache.js';
import { makeOptimizer } from '../training/make-optimizer.js';
import { objectiveFor, type Objective } from '../training/objective.js';
import { unitLearningRates } from '../training/unit-learning-rates.js';
import { yieldToEvents } from '../util/yield-to-events.js';

/** Features larger than this (all rows of a split, float32) are not precomputed: the frozen part runs per batch instead. */
const FEATURE_BYTES_LIMIT = Number(process.env['THAW_FEATURE_CACHE_MB'] ?? 1024) * 2 ** 20;

/**
 * Inputs of the trainable part for one phase. Below the cut the network is a fixed function, so
 * when nothing random comes before it and its outputs fit, they come from the frozen-feature cache
 * (computed once, reused every epoch and by later trials); otherwise each batch is read, augmented
 * and passed through the frozen prefix in inference mode.
 */
class PhaseInputs {
  private constructor(
    private readonly request: PhaseRequest,
    private readonly trainFeatures: tf.Tensor | undefined,
    private readonly validationFeatures: tf.Tensor | undefined,
    /** Splits whose features were computed here, not read from the cache. */
    readonly computed: number,
  ) {}

  static async create(request: PhaseRequest, cache: FrozenFeatureCache): Promise<PhaseInputs> {
    const { data, augmenter, config, frozen } = request;
    const prefix = frozen.frozenPrefix;
    if (!prefix || !config.cacheFrozen) return new PhaseInputs(request, undefined, undefined, 0);
    const featureSize = (prefix.outputs[0]!.shape.slice(1) as number[]).reduce((a, b) => a * b, 1) * 4;
    const fits = (split: ImageSplit) => split.count * featureSize <= FEATURE_BYTES_LIMIT;
    let computed = 0;
    const compute = (split: ImageSplit) => () => {
      computed++;
      return runFrozen(split, config.batchSize, (images) => frozen.frozenInference!.run(images));
    };
    const train = augmenter.active || !fits(data.train) ? undefined : await cache.features(prefix, data.train, compute(data.train));
    const validation = fits(data.validation) ? await cache.features(prefix, data.validation, compute(data.validation)) : undefined;
    return new PhaseInputs(request, train, validation, computed);
  }

  /** The trainable part's inputs for a batch of training rows, read ahead one batch. */
  async *epoch(order: Uint32Array | Int32Array): AsyncGenerator<{ inputs: tf.Tensor; rows: Int32Array }> {
    const { data, config, augmenter, frozen } = this.request;
    if (this.trainFeatures) {
      for (let start = 0; start < order.length; start += config.batchSize) {
        const rows = Int32Array.from(order.subarray(start, Math.min(start + config.batchSize, order.length)));
        await yieldToEvents();
        yield { inputs: tf.tidy(() => tf.gather(this.trainFeatures!, tf.tensor1d(rows, 'int32'))), rows };
      }
      return;
    }
    for await (const { images, rows } of splitBatches(data.train, config.batchSize, order)) {
      const inputs = tf.tidy(() => {
        const augmented = augmenter.apply(images);
        return frozen.frozenInference ? frozen.frozenInference.run(augmented) : augmented;
      });
      if (inputs !== images) images.dispose();
      yield { inputs, rows };
    }
  }

  /** Loss and accuracy on the validation split; without cached features the frozen part runs again, as it would in Keras' fit. */
  async validate(objective: Objective): Promise<{ loss: number; accuracy: number }> {
    const { data, config, frozen } = this.request;
    const batches = this.validationFeatures
      ? tensorBatches(this.validationFeatures, data.validation.labels, config.batchSize)
      : labeledBatches(
          data.validation,
          config.batchSize,
          frozen.frozenInference ? (images) => frozen.frozenInference!.run(images) : undefined,
        );
    const { loss, accuracy } = await predictBatches(frozen.trainable, batches, objective);
    return { loss, accuracy };
  }

  dispose(): void {
    this.trainFeatures?.dispose();
    this.validationFeatures?.dispose();
  }
}

/** The frozen part's outputs for every row of a split, computed a batch at a time and concatenated. */
async function runFrozen(split: ImageSplit, batchSize: number, run: (images: tf.Tensor4D) => tf.Tensor): Promise<tf.Tensor> {
  const parts: tf.Tensor[] = [];
  try {
    for await (const { images } of splitBatches(split, batchSize)) {
      parts.push(run(images));
      images.dispose();
    }
    return parts.length === 1 ? parts[0]! : tf.concat(parts);
  } finally {
    if (parts.length > 1) tf.dispose(parts);
  }
}

/**
 * The phase's trainable variables grouped by learning rate, each group with its optimizer: one
 * group unless `train.layerDecay` gives units their own rates.
 */
function rateGroups(request: PhaseRequest, model: tf.LayersModel): { optimizer: tf.Optimizer; variables: tf.Variable[] }[] {
  const { phase, config, units } = request;
  const name = phase.optimizer ?? config.optimizer;
  const rates = unitLearningRates(units, phase, config.layerDecay);
  const unitOfLayer = new Map(units.flatMap((unit) => unit.layers.map((layer) => [layer, unit.name] as const)));
  const byRate = new Map<number, tf.Variable[]>();
  for (const layer of model.layers) {
    const rate = rates.get(unitOfLayer.get(layer.name) ?? 'head') ?? phase.learningRate;
    for (const weight of layer.trainableWeights) byRate.set(rate, [...(byRate.get(rate) ?? []), weight.read() as tf.Variable]);
  }
  if (byRate.size <= 1)
    return [{ optimizer: makeOptimizer(name, config.momentum, phase.learningRate), variables: [...byRate.values()].flat() }];
  return [...byRate].map(([rate, variables]) => ({ optimizer: makeOptimizer(name, config.momentum, rate), variables }));
}

@injectable()
export class TrainStageImpl implements TrainStage {
  constructor(@inject(FrozenFeatureCache) private readonly cache: FrozenFeatureCache) {}

  async trainPhase(request: PhaseRequest): Promise<PhaseResult> {
    const { data, config, events, phase, frozen, random, firstEpoch } = request;
    const objective = objectiveFor(request.output, data.classNames.length);
    const model = frozen.trainable;
    const variables = model.trainableWeights.map((weight) => weight.read() as tf.Variable);
    const groups = rateGroups(request, model);
    const optimizer = groups[0]!.optimizer;
    const inputs = await PhaseInputs.create(request, this.cache);
    const stopping = config.earlyStopping
      ? new EarlyStopping(
          config.earlyStopping,
          model.weights.map((weight) => weight.read() as tf.Variable),
        )
      : undefined;
    const count = data.train.count;
    const logs: EpochLogs[] = [];
    let images = 0;
    let seconds = 0;
    let stoppedEarly = false;
    try {
      for (let e = 0; e < phase.epochs; e++) {
        const epoch = firstEpoch + e;
        await events.emit('onEpochBegin', epoch, phase, { batches: Math.ceil(count / config.batchSize), images: count });
        const started = performance.now();
        const order = random.permutation(count);
        // Per-batch values are read only when an observer wants them; otherwise sums stay on the
        // device until the epoch ends, sparing a synchronisation per batch.
        const perBatch = events.listens('onBatchEnd');
        let lossSum: tf.Tensor = tf.scalar(0);
        let correctSum: tf.Tensor = tf.scalar(0);
        let batch = 0;
        for await (const { inputs: x, rows } of inputs.epoch(order)) {
          let loss: tf.Scalar;
          let correct: tf.Scalar;
          try {
            await events.emit('onBatchBegin', epoch, batch);
            [loss, correct] = tf.tidy(() => {
              const y = objective.targets(rows.map((row) => data.train.labels[row]!));
              let correctCount: tf.Scalar | undefined;
              const lossOf = () => {
                const outputs = model.apply(x, { training: true }) as tf.Tensor;
                correctCount = tf.keep(objective.correct(y, outputs));
                return objective.loss(y, outputs);
              };
              if (groups.length === 1) return [optimizer.minimize(lossOf, true, variables)!, correctCount!];
              // Per-unit rates: one gradient, each group stepped by its own optimizer (Adam's step does not scale with the gradient).
              const { value, grads } = tf.variableGrads(lossOf, variables);
              for (const group of groups)
                group.optimizer.applyGradients(Object.fromEntries(group.variables.map((v) => [v.name, grads[v.name]!])));
              return [value, correctCount!];
            });
          } finally {
            x.dispose();
          }
          const [nextLoss, nextCorrect] = [tf.tidy(() => lossSum.add(loss.mul(rows.length))), tf.tidy(() => correctSum.add(correct))];
          tf.dispose([lossSum, correctSum]);
          [lossSum, correctSum] = [nextLoss, nextCorrect];
          if (perBatch) await events.emit('onBatchEnd', { epoch, batch, size: rows.length, loss: (await loss.data())[0]! });
          tf.dispose([loss, correct]);
          batch++;
        }
        const trainLoss = (await lossSum.data())[0]! / count;
        const trainAccuracy = (await correctSum.data())[0]! / count;
        tf.dispose([lossSum, correctSum]);
        const trainSeconds = (performance.now() - started) / 1000;
        images += count;
        seconds += trainSeconds;
        const validation = await inputs.validate(objective);
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
      for (const group of groups) group.optimizer.dispose();
      inputs.dispose();
    }
    const last = logs.at(-1)?.epoch ?? firstEpoch - 1;
    return {
      epochs: logs,
      images,
      seconds,
      stoppedEarly,
      keptEpoch: stopping?.keptEpoch(last) ?? last,
      featureSetsComputed: inputs.computed,
    };
  }
}
