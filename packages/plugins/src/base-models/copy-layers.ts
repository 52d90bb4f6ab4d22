import * as tf from '@tensorflow/tfjs';
import { ThawError } from '@thaw/core';

type LayerClass = tf.serialization.SerializableConstructor<tf.layers.Layer>;
type FromConfig = (cls: LayerClass, config: tf.serialization.ConfigDict) => tf.layers.Layer;

/**
 * Copies a sequential stack of layers (same classes, names, configs and weights) onto a new input
 * tensor: how a loaded model gets an input adapter in front without nesting it as one layer.
 */
export function copySequentialLayers(layers: readonly tf.layers.Layer[], input: tf.SymbolicTensor): tf.SymbolicTensor {
  const classes = tf.serialization.SerializationMap.getMap().classNameMap as unknown as Record<string, [LayerClass, FromConfig]>;
  let x = input;
  for (const layer of layers) {
    if (layer.inboundNodes[0]!.inboundLayers.length > 1) {
      throw new ThawError(
        `layer ${layer.name} has ${layer.inboundNodes[0]!.inboundLayers.length} inputs; only a sequential model can be adapted to other images`,
      );
    }
    const entry = classes[layer.getClassName()];
    if (!entry) throw new ThawError(`layer ${layer.name} is of class ${layer.getClassName()}, which TF.js cannot rebuild`);
    const copy = entry[1](entry[0], layer.getConfig());
    x = copy.apply(x) as tf.SymbolicTensor;
    copy.setWeights(layer.getWeights());
  }
  return x;
}
