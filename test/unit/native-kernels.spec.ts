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
