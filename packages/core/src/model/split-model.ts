import * as tf from '@tensorflow/tfjs';
import { ThawError } from '@thaw/contracts';

/** `prefix`: inputs → the cut tensor; `suffix`: the cut tensor → the model's outputs. Both share the model's layers. */
export interface SplitModel {
  readonly prefix: tf.LayersModel;
  readonly suffix: tf.LayersModel;
}

type SymbolicTensor = tf.SymbolicTensor;

/**
 * Cuts a functional model at the output of one layer. Every path from the inputs to the outputs
 * must pass through that tensor (true at unit boundaries); otherwise the cut is refused, naming
 * the layer that reaches across it.
 */
export function splitModel(model: tf.LayersModel, cutLayerName: string): SplitModel {
  const cutLayer = model.getLayer(cutLayerName);
  const cutTensor = cutLayer.getOutputAt(0) as SymbolicTensor;
  const prefix = tf.model({ inputs: model.inputs, outputs: cutTensor, name: `${model.name}_to_${cutLayerName}` });
  const featureInput = tf.input({ shape: cutTensor.shape.slice(1), name: `${cutLayerName}_features` });
  const mapped = new Map<number, SymbolicTensor>([[cutTensor.id, featureInput]]);
  for (const layer of model.layers) {
    const node = layer.inboundNodes[0];
    if (!node || node.inputTensors.length === 0 || layer.getClassName() === 'InputLayer') continue;
    const inputs = node.inputTensors.map((tensor) => mapped.get(tensor.id));
    const known = inputs.filter((tensor) => tensor !== undefined);
    if (known.length === 0) continue;
    if (known.length !== inputs.length) {
      throw new ThawError(
        `cannot cut ${model.name} after layer ${cutLayerName}: layer ${layer.name} also takes a tensor from below the cut; expected the cut at a unit boundary`,
      );
    }
    const applied = layer.apply(known.length === 1 ? known[0]! : known) as SymbolicTensor | SymbolicTensor[];
    const outputs = Array.isArray(applied) ? applied : [applied];
    node.outputTensors.forEach((tensor, index) => mapped.set(tensor.id, outputs[index]!));
  }
  const outputs = model.outputs.map((tensor) => mapped.get(tensor.id));
  if (outputs.some((tensor) => tensor === undefined)) {
    throw new ThawError(`cannot cut ${model.name} after layer ${cutLayerName}: not every output depends on it`);
  }
  const suffix = tf.model({ inputs: featureInput, outputs: outputs as SymbolicTensor[], name: `${model.name}_from_${cutLayerName}` });
  return { prefix, suffix };
}
