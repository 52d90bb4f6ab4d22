import * as tf from '@tensorflow/tfjs';
import type { OptimizerName } from '@thaw/contracts';

/** A fresh optimizer for one phase; the caller disposes it (Adam's slots leak otherwise). */
export function makeOptimizer(name: OptimizerName, momentum: number, learningRate: number): tf.Optimizer {
  switch (name) {
    case 'adam':
      return tf.train.adam(learningRate);
    case 'sgd':
      return momentum > 0 ? tf.train.momentum(learningRate, momentum) : tf.train.sgd(learningRate);
    case 'rmsprop':
      // Keras' RMSprop: rho 0.9, epsilon 1e-7.
      return tf.train.rmsprop(learningRate, 0.9, momentum, 1e-7);
  }
}
