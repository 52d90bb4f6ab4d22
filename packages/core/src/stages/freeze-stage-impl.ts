import type * as tf from '@tensorflow/tfjs';
import { injectable } from 'inversify';
import type { BuiltModel, FreezeStage, FrozenModel, ModelUnit, Phase } from '@thaw/contracts';
import { isBatchNormalization, setInferenceMode } from '../model/batch-norm-mode.js';
import { compileInference } from '../model/inference-function.js';
import { modelFacts } from '../model/model-facts.js';
import { splitModel } from '../model/split-model.js';

/** Layers without weights that compute the same in training and inference: the frozen part may include them. */
const FIXED_FUNCTIONS = new Set(['GlobalAveragePooling2D', 'GlobalMaxPooling2D', 'Flatten', 'MaxPooling2D', 'AveragePooling2D']);

/**
 * Moves the cut past fixed, weightless layers that are the only consumer of its output (the
 * head's pooling, say), so that the cached features are the smallest tensor the trainable part
 * needs and the trainable part runs fewer ops per step.
 */
function extendCut(model: tf.LayersModel, layerName: string): string {
  let current = model.getLayer(layerName);
  for (;;) {
    const output = current.inboundNodes[0]!.outputTensors[0]!;
    if (model.outputs.some((tensor) => tensor.id === output.id)) return current.name;
    const consumers = model.layers.filter((layer) => layer.inboundNodes[0]?.inputTensors.some((tensor) => tensor.id === output.id));
    const next = consumers.length === 1 ? consumers[0]! : undefined;
    if (!next || !FIXED_FUNCTIONS.has(next.getClassName()) || next.weights.length > 0 || next.inboundNodes[0]!.inputTensors.length !== 1) {
      return current.name;
    }
    current = next;
  }
}

@injectable()
export class FreezeStageImpl implements FreezeStage {
  /**
   * Sets `trainable` on every layer for the phase and cuts the network below its lowest trainable
   * unit. Frozen BatchNormalization layers are put in inference mode (TF.js would otherwise update
   * their moving statistics); so are those of trainable units when the phase keeps BN frozen.
   */
  apply(built: BuiltModel, phase: Phase): FrozenModel {
    const trainableUnits = new Set(phase.trainableUnits);
    const unitOfLayer = new Map<string, ModelUnit>();
    for (const unit of built.units) for (const layer of unit.layers) unitOfLayer.set(layer, unit);
    const headLayers = new Set(built.headLayers);
    const frozenLayers = new Set(phase.frozenLayers ?? []);
    const changed: { layer: (typeof built.model.layers)[number]; trainable: boolean }[] = [];

    for (const layer of built.model.layers) {
      const unit = unitOfLayer.get(layer.name);
      const inTrainablePart =
        headLayers.has(layer.name) || (unit !== undefined && trainableUnits.has(unit.name) && !frozenLayers.has(layer.name));
      const batchNorm = isBatchNormalization(layer);
      // Frozen BN: fixed weights and statistics. Inference BN: fixed statistics, gamma and beta train.
      const fixedWeights = batchNorm && (!inTrainablePart || phase.batchNorm === 'frozen');
      const fixedStatistics = batchNorm && (!inTrainablePart || phase.batchNorm !== 'train');
      changed.push({ layer, trainable: layer.trainable });
      layer.trainable = inTrainablePart && !fixedWeights;
      if (batchNorm) setInferenceMode(layer, fixedStatistics);
    }

    const lowest = built.units.findIndex((unit) => trainableUnits.has(unit.name));
    const cutUnit = lowest === -1 ? built.units[built.units.length - 1] : lowest > 0 ? built.units[lowest - 1] : undefined;
    const unitEnd = lowest === -1 ? built.baseOutputLayer : cutUnit?.layers[cutUnit.layers.length - 1];
    const cutLayer = unitEnd === undefined ? undefined : extendCut(built.model, unitEnd);
    const split = cutLayer === undefined ? undefined : splitModel(built.model, cutLayer);
    const inference = split ? compileInference(split.prefix) : undefined;

    return {
      frozenPrefix: split?.prefix,
      frozenInference: inference,
      trainable: split?.suffix ?? built.model,
      cutAfterUnit: cutUnit?.name,
      facts: modelFacts(built.model, built.units.length, trainableUnits.size, built.headLayers),
      release: () => {
        inference?.dispose();
        for (const { layer, trainable } of changed) {
          layer.trainable = trainable;
          if (isBatchNormalization(layer)) setInferenceMode(layer, false);
        }
      },
    };
  }
}
