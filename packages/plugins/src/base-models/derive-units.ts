import type * as tf from '@tensorflow/tfjs';
import type { ModelUnit } from '@thaw/core';

/** Layers that start a unit: the ones with weights of their own, except normalisation. */
function startsUnit(layer: tf.layers.Layer): boolean {
  return layer.trainableWeights.length > 0 && layer.getClassName() !== 'BatchNormalization';
}

/**
 * Units of a functional model, input → output: each weighted layer with the BatchNormalization,
 * activations and pooling that follow it. Where a boundary is not a clean cut (a skip connection
 * crosses it), the units on both sides are merged, so every unit boundary is a single tensor.
 */
export function deriveUnits(model: tf.LayersModel): ModelUnit[] {
  const layers = model.layers.filter((layer) => layer.getClassName() !== 'InputLayer');
  const groups: tf.layers.Layer[][] = [];
  for (const layer of layers) {
    if (groups.length === 0 || startsUnit(layer)) {
      if (groups.length === 1 && !groups[0]!.some(startsUnit)) groups[0]!.push(layer);
      else groups.push([layer]);
    } else groups[groups.length - 1]!.push(layer);
  }
  const indexOf = new Map(layers.map((layer, index) => [layer, index]));
  const producer = new Map<number, number>();
  layers.forEach((layer, index) => layer.inboundNodes[0]!.outputTensors.forEach((tensor) => producer.set(tensor.id, index)));
  /** True when the only tensor flowing from layers ≤ last to layers > last is last's own output. */
  const cleanCut = (last: tf.layers.Layer) => {
    const lastIndex = indexOf.get(last)!;
    const ownOutput = last.inboundNodes[0]!.outputTensors[0]!.id;
    return layers
      .slice(lastIndex + 1)
      .every((layer) =>
        layer.inboundNodes[0]!.inputTensors.every((tensor) => tensor.id === ownOutput || (producer.get(tensor.id) ?? -1) > lastIndex),
      );
  };
  for (let i = 0; i < groups.length - 1;) {
    if (cleanCut(groups[i]![groups[i]!.length - 1]!)) i++;
    else groups.splice(i, 2, [...groups[i]!, ...groups[i + 1]!]);
  }
  return groups.map((group) => ({ name: (group.find(startsUnit) ?? group[0]!).name, layers: group.map((layer) => layer.name) }));
}
