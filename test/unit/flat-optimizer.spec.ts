import * as tf from '@tensorflow/tfjs';
import { expect } from 'chai';
import { FlatOptimizer, SeededRandom } from '@thaw/core';

// FlatOptimizer steps all variables as one vector; TF.js' optimizers step them one by one. On the
// backend the suite runs on, both must give the same values, bit for bit, step after step.

const SHAPES = [[3, 3, 2, 4], [4], [5, 7], [1], [2, 3, 1, 6]];

function randomTensors(random: SeededRandom): tf.Tensor[] {
  return SHAPES.map((shape) =>
    tf.tensor(
      Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => 2 * random.next() - 1),
      shape,
    ),
  );
}

/** The variables' values after `steps` steps of the optimizer, each with the same seeded gradients. */
async function stepped(optimizer: tf.Optimizer, steps: number, skip?: number): Promise<Float32Array[]> {
  const variables = tf.tidy(() => randomTensors(new SeededRandom(1)).map((t) => tf.variable(t)));
  const random = new SeededRandom(2);
  for (let step = 0; step < steps; step++) {
    const grads = randomTensors(random);
    optimizer.applyGradients(variables.map((v, i) => ({ name: v.name, tensor: i === skip ? (null as unknown as tf.Tensor) : grads[i]! })));
    tf.dispose(grads);
  }
  const values = await Promise.all(variables.map(async (v) => (await v.data()) as Float32Array));
  optimizer.dispose();
  tf.dispose(variables);
  return values;
}

describe('FlatOptimizer', () => {
  const optimizers: [string, () => tf.Optimizer][] = [
    ['Adam', () => tf.train.adam(0.01)],
    ['RMSprop', () => tf.train.rmsprop(0.01, 0.9, 0, 1e-7)],
    ['RMSprop with momentum', () => tf.train.rmsprop(0.01, 0.9, 0.8, 1e-7)],
    ['SGD', () => tf.train.sgd(0.1)],
    ['momentum', () => tf.train.momentum(0.1, 0.9)],
  ];

  for (const [name, make] of optimizers) {
    it(`${name}: the same values as TF.js' own, bit for bit, after 6 steps, and no tensor left behind of its own`, async () => {
      // TF.js' momentum optimizer leaves its learning-rate scalar behind on dispose: no more than that.
      const before = tf.memory().numTensors;
      const expected = await stepped(make(), 6);
      const leftByTfjs = tf.memory().numTensors - before;
      const flat = await stepped(new FlatOptimizer(make()), 6);
      expect(tf.memory().numTensors - before).to.equal(2 * leftByTfjs);
      flat.forEach((values, i) => expect(Array.from(values), `variable ${i}`).to.deep.equal(Array.from(expected[i]!)));
      const initial = tf.tidy(() => randomTensors(new SeededRandom(1)).map((t) => t.dataSync()));
      expected.forEach((values, i) => expect(Array.from(values), `variable ${i} moved`).to.not.deep.equal(Array.from(initial[i]!)));
    });
  }

  it('leaves a variable without a gradient alone, as TF.js does', async () => {
    const expected = await stepped(tf.train.adam(0.01), 3, 1);
    const flat = await stepped(new FlatOptimizer(tf.train.adam(0.01)), 3, 1);
    flat.forEach((values, i) => expect(Array.from(values), `variable ${i}`).to.deep.equal(Array.from(expected[i]!)));
  });

  it('refuses a step with other variables than the first', () => {
    const [a, b] = tf.tidy(() => [tf.variable(tf.ones([2])), tf.variable(tf.ones([3]))]);
    const optimizer = new FlatOptimizer(tf.train.sgd(0.1));
    try {
      tf.tidy(() => optimizer.applyGradients({ [a.name]: tf.ones([2]), [b.name]: tf.ones([3]) }));
      expect(() => tf.tidy(() => optimizer.applyGradients({ [a.name]: tf.ones([2]) }))).to.throw(/stepped first with .*, now with/);
    } finally {
      optimizer.dispose();
      tf.dispose([a, b]);
    }
  });
});
