import type * as tf from '@tensorflow/tfjs';

/**
 * Frees every weight of a model. `LayersModel.dispose()` counts references per layer, and each
 * symbolic application (the frozen/trainable split re-applies layers) adds one, so it would leave
 * the weights of split models alive; a trial owns its model outright, so it frees them directly.
 */
export function disposeModel(model: tf.LayersModel): void {
  const seen = new Set<tf.LayerVariable>();
  for (const layer of model.layers) {
    for (const weight of layer.weights) {
      if (seen.has(weight)) continue;
      seen.add(weight);
      weight.dispose();
    }
  }
}
