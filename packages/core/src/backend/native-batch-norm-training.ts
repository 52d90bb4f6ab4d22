import * as tf from '@tensorflow/tfjs';

/**
 * BatchNormalization in training mode (statistics of the batch) on the native backend, as
 * TensorFlow's fused ops: FusedBatchNormV3 normalises and gives the batch's mean and variance in
 * one pass, FusedBatchNormGradV3 gives the gradients of x (through the statistics too), scale and
 * offset in one more. tfjs-layers computes the same from tf.moments and tf.batchNorm, whose
 * backward pass walks the statistics' own gradients over the whole activation several times
 * (the small CNN's step: 3 such layers). The layer keeps updating its moving mean and variance
 * exactly as tfjs-layers does, from the batch's (biased) variance.
 */

export const THAW_BATCH_NORM_TRAIN = 'ThawFusedBatchNormTrain';
export const THAW_BATCH_NORM_TRAIN_GRAD = 'ThawFusedBatchNormTrainGrad';

/** The fields of tfjs-layers' BatchNormalization that the training path reads (not in its typings). */
interface BatchNormLayer {
  axis: number;
  momentum: number;
  epsilon: number;
  gamma?: { read(): tf.Tensor };
  beta?: { read(): tf.Tensor };
  movingMean: { read(): tf.Tensor; write(value: tf.Tensor): void };
  movingVariance: { read(): tf.Tensor; write(value: tf.Tensor): void };
}

type Call = (this: BatchNormLayer, inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) => tf.Tensor | tf.Tensor[];

/** y, and the batch's mean and biased variance (kept: the caller frees them), with the fused gradient. */
function fusedTraining(x: tf.Tensor, scale: tf.Tensor, offset: tf.Tensor, epsilon: number): [tf.Tensor, tf.Tensor, tf.Tensor] {
  let statistics: [tf.Tensor, tf.Tensor] | undefined;
  const normalise = tf.customGrad((...args: (tf.Tensor | ((tensors: tf.Tensor[]) => void))[]) => {
    const [input, gamma, beta, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, (tensors: tf.Tensor[]) => void];
    const [y, batchMean, batchVariance, reserveMean, reserveVariance, reserve] = tf
      .engine()
      .runKernel<tf.Tensor[]>(THAW_BATCH_NORM_TRAIN, { x: input, scale: gamma, offset: beta }, { epsilon });
    tf.dispose([batchMean!, batchVariance!]);
    statistics = [tf.keep(reserveMean!.clone()), tf.keep(reserveVariance!.clone())];
    save([input, gamma, reserveMean!, reserveVariance!, reserve!]);
    return {
      value: y!,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [savedX, savedScale, savedMean, savedVariance, savedReserve] = saved as [
          tf.Tensor,
          tf.Tensor,
          tf.Tensor,
          tf.Tensor,
          tf.Tensor,
        ];
        return tf
          .engine()
          .runKernel<tf.Tensor[]>(
            THAW_BATCH_NORM_TRAIN_GRAD,
            { dy, x: savedX, scale: savedScale, mean: savedMean, variance: savedVariance, reserve: savedReserve },
            { epsilon },
          );
      },
    };
  });
  const y = normalise(x, scale, offset);
  return [y, statistics![0], statistics![1]];
}

let patched = false;

/**
 * Routes tfjs-layers' BatchNormalization in training mode through fusedTraining on the native
 * backend (NHWC, channels last, float32, with scale and offset); everything else keeps
 * tfjs-layers' own code. Once per process.
 */
export function patchBatchNormTraining(): void {
  if (patched) return;
  const entry = tf.serialization.SerializationMap.getMap().classNameMap['BatchNormalization'];
  if (!entry) return;
  patched = true;
  const prototype = (entry[0] as unknown as { prototype: { call: Call } }).prototype;
  const original = prototype.call;
  prototype.call = function (this: BatchNormLayer, inputs, kwargs) {
    const input = Array.isArray(inputs) ? inputs[0]! : inputs;
    if (
      kwargs['training'] !== true ||
      tf.getBackend() !== 'tensorflow' ||
      input.rank !== 4 ||
      input.dtype !== 'float32' ||
      (this.axis !== -1 && this.axis !== 3) ||
      !this.gamma ||
      !this.beta
    )
      return original.call(this, inputs, kwargs);
    const gamma = this.gamma;
    const beta = this.beta;
    return tf.tidy(() => {
      const [y, mean, variance] = fusedTraining(input, gamma.read(), beta.read(), this.epsilon);
      // tfjs-layers' moving averages: value − (value − batch statistic) · (1 − momentum).
      for (const [variable, statistic] of [
        [this.movingMean, mean],
        [this.movingVariance, variance],
      ] as const) {
        tf.tidy(() => {
          const value = variable.read();
          variable.write(tf.sub(value, tf.mul(tf.sub(value, statistic), 1 - this.momentum)));
        });
      }
      tf.dispose([mean, variance]);
      return y;
    });
  };
}
