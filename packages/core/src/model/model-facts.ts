import type * as tf from '@tensorflow/tfjs';
import type { ModelFacts } from '@thaw/contracts';

function countParams(weights: readonly tf.LayerVariable[]): number {
  return weights.reduce((sum, weight) => sum + weight.shape.reduce<number>((product, size) => product * (size ?? 1), 1), 0);
}

/** Counts of the model as currently frozen. Variables are weight tensors (a kernel, a bias, a moving mean …). */
export function modelFacts(model: tf.LayersModel, units: number, trainableUnits: number, headLayers: readonly string[] = []): ModelFacts {
  const head = new Set(headLayers);
  return {
    layers: model.layers.length,
    trainableBaseLayers: model.layers.filter((layer) => !head.has(layer.name) && layer.trainable && layer.getClassName() !== 'InputLayer')
      .length,
    units,
    trainableUnits,
    trainableParams: countParams(model.trainableWeights),
    nonTrainableParams: countParams(model.nonTrainableWeights),
    trainableVariables: model.trainableWeights.length,
    nonTrainableVariables: model.nonTrainableWeights.length,
  };
}
