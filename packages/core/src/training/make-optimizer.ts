import * as tf from '@tensorflow/tfjs';
import type { TrainConfig } from '../spec/experiment-spec.js';

/** A fresh optimizer for one phase; the caller disposes it (Adam's slots leak otherwise). */
export function makeOptimizer(config: Pick<TrainConfig, 'optimizer' | 'momentum'>, learningRate: number): tf.Optimizer {
  switch (config.optimizer) {
    case 'adam':
      return tf.train.adam(learningRate);
    case 'sgd':
      return config.momentum > 0 ? tf.train.momentum(learningRate, config.momentum) : tf.train.sgd(learningRate);
    case 'rmsprop':
      return tf.train.rmsprop(learningRate, 0.9, config.momentum);
  }
}
