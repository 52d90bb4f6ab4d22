import * as tf from '@tensorflow/tfjs';
import type { OptimizerName } from '@thaw/contracts';
import { FlatOptimizer } from './flat-optimizer.js';

/** TF.js' optimizer of that name, stepping variable by variable. */
function perVariableOptimizer(name: OptimizerName, momentum: number, learningRate: number): tf.Optimizer {
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

/**
 * A fresh optimizer for one phase, stepping all its variables at once (FlatOptimizer: the same
 * numbers as TF.js' own, far fewer dispatches); the caller disposes it (the slots leak otherwise).
 */
export function makeOptimizer(name: OptimizerName, momentum: number, learningRate: number): tf.Optimizer {
  return new FlatOptimizer(perVariableOptimizer(name, momentum, learningRate));
}
