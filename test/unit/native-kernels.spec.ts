import * as tf from '@tensorflow/tfjs';
import { expect } from 'chai';
import { SeededRandom } from '@thaw/core';

// The native backend's own training kernels (backend/native-kernels.ts) against TF.js' composites
// on the cpu backend: the same gradients, to float32 rounding. Skipped where no native backend loads.

function randomValues(random: SeededRandom, count: number, scale = 1, offset = 0): Float32Array {
  return Float32Array.from({ length: count }, () => offset + scale * (2 * random.next() - 1));
}

/** The gradients of f with respect to each input, computed on one backend. */
async function gradientsOn(
  backend: string,
  f: (...xs: tf.Tensor[]) => tf.Scalar,
  inputs: [Float32Array, number[]][],
): Promise<Float32Array[]> {
  const previous = tf.getBackend();
  await tf.setBackend(backend);
  try {
    const tensors = inputs.map(([values, shape]) => tf.tensor(values, shape));
    const grads = tf.grads(f)(tensors);
    const values = await Promise.all(grads.map(async (g) => (await g.data()) as Float32Array));
    tf.dispose([...tensors, ...grads]);
    return values;
  } finally {
    await tf.setBackend(previous);
  }
}

/** Largest |a − b| relative to the largest |b|. */
function relativeError(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / scale;
}

describe('native training kernels (skipped where no native backend loads)', function () {
  before(function () {
    if (!tf.findBackend('tensorflow')) this.skip();
  });

  const random = new SeededRandom(7);
  const [n, h, w, c] = [4, 5, 6, 3];
  const size = n * h * w * c;
  const x: [Float32Array, number[]] = [randomValues(random, size, 2, 0.5), [n, h, w, c]];
  const weightValues = randomValues(new SeededRandom(8), size);
  const weights = () => tf.tensor(weightValues, [n, h, w, c]);
  const gamma: [Float32Array, number[]] = [randomValues(random, c, 0.5, 1), [c]];
  const beta: [Float32Array, number[]] = [randomValues(random, c), [c]];

  it('BatchNormalization in training mode (statistics of the batch): the gradients of x, scale and offset', async () => {
    // As tfjs-layers normalises a batch in training: moments over all axes but the channels, then batchNorm.
    const f = (...[input, scale, offset]: tf.Tensor[]): tf.Scalar => {
      const { mean, variance } = tf.moments(input!, [0, 1, 2]);
      return tf.sum(tf.mul(tf.batchNorm(input!, mean, variance, offset, scale, 1e-3), weights()));
    };
    const native = await gradientsOn('tensorflow', f, [x, gamma, beta]);
    const composite = await gradientsOn('cpu', f, [x, gamma, beta]);
    native.forEach((values, i) => expect(relativeError(values, composite[i]!), `input ${i}`).to.be.below(1e-5));
  });

  it('the BatchNormalization layer in training: output, gradients and moving statistics as tfjs-layers computes them', async () => {
    /** One training step of a fresh layer (seeded weights) on a backend: y, the gradients of x, gamma and beta, the moving mean and variance. */
    const step = async (backend: string): Promise<Float32Array[]> => {
      const previous = tf.getBackend();
      await tf.setBackend(backend);
      try {
        const layer = tf.layers.batchNormalization({
          momentum: 0.9,
          epsilon: 1e-3,
          gammaInitializer: tf.initializers.randomUniform({ minval: 0.5, maxval: 1.5, seed: 3 }),
          betaInitializer: tf.initializers.randomUniform({ minval: -1, maxval: 1, seed: 4 }),
          movingMeanInitializer: tf.initializers.randomUniform({ minval: -1, maxval: 1, seed: 5 }),
          movingVarianceInitializer: tf.initializers.randomUniform({ minval: 0.5, maxval: 1.5, seed: 6 }),
        });
        layer.build([n, h, w, c]);
        const [gammaVariable, betaVariable] = layer.trainableWeights.map((weight) => weight.read() as tf.Variable);
        const input = tf.tensor(x[0], x[1]);
        let y: tf.Tensor | undefined;
        const { grads } = tf.variableGrads(() => {
          y = tf.keep(layer.apply(input, { training: true }) as tf.Tensor);
          return tf.sum(tf.mul(y, weights()));
        }, [gammaVariable!, betaVariable!]);
        const dx = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(layer.apply(v, { training: true }) as tf.Tensor, weights())))(input);
        const values = await Promise.all(
          [
            y!,
            dx,
            grads[gammaVariable!.name]!,
            grads[betaVariable!.name]!,
            ...layer.nonTrainableWeights.map((weight) => weight.read()),
          ].map(async (t) => Float32Array.from(await t.data())),
        );
        tf.dispose([input, y!, dx, ...Object.values(grads)]);
        tf.dispose(layer.weights.map((weight) => weight.read()));
        return values;
      } finally {
        await tf.setBackend(previous);
      }
    };
    const native = await step('tensorflow');
    const composite = await step('cpu');
    const names = ['y', 'dx', 'd gamma', 'd beta', 'moving mean', 'moving variance'];
    native.forEach((values, i) => expect(relativeError(values, composite[i]!), names[i]).to.be.below(1e-5));
  });

  it('BatchNormalization with fixed statistics, ReLU and ReLU6: the gradients of x, scale and offset', async () => {
    const means = randomValues(new SeededRandom(9), c);
    const variances = randomValues(new SeededRandom(10), c, 0.4, 1);
    const f = (...[input, scale, offset]: tf.Tensor[]): tf.Scalar => {
      const y = tf.batchNorm(input!, tf.tensor1d(means), tf.tensor1d(variances), offset, scale, 1e-3);
      return tf.sum(tf.mul(tf.add(tf.relu(y), tf.relu6(tf.mul(y, 4))), weights()));
    };
    const native = await gradientsOn('tensorflow', f, [x, gamma, beta]);
    const composite = await gradientsOn('cpu', f, [x, gamma, beta]);
    native.forEach((values, i) => expect(relativeError(values, composite[i]!), `input ${i}`).to.be.below(1e-5));
  });
});
