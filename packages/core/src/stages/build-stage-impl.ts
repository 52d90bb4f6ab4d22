import * as tf from '@tensorflow/tfjs';
import { inject, injectable } from 'inversify';
import type { BaseModel } from '../contracts/base-model-plugin.js';
import type { BuildStage } from '../contracts/build-stage.js';
import type { BuiltModel } from '../contracts/built-model.js';
import type { DatasetSplits } from '../contracts/dataset-plugin.js';
import { Logger } from '../contracts/logger.js';
import { validatePluginOptions } from '../contracts/plugin-contribution.js';
import { ThawError } from '../errors/thaw-error.js';
import { PluginRegistry } from '../plugins/plugin-registry.js';
import { pluginOptions, type HeadConfig } from '../spec/experiment-spec.js';
import type { LoadedSpec } from '../spec/spec-loader.js';
import { displayPath } from '../util/display-path.js';

@injectable()
export class BuildStageImpl implements BuildStage {
  constructor(
    @inject(PluginRegistry) private readonly registry: PluginRegistry,
    @inject(Logger) private readonly log: Logger,
  ) {}

  async build(loaded: LoadedSpec, data: DatasetSplits): Promise<BuiltModel> {
    const where = `${displayPath(loaded.file)}: model.base`;
    const { id, options } = pluginOptions(loaded.spec.model.base);
    const plugin = this.registry.baseModel(id, `${where}.plugin`);
    const valid = validatePluginOptions(plugin, options, where);
    const [, height, width, channels] = data.train.images.shape;
    const base = await plugin.build(valid, {
      inputShape: [height, width, channels],
      seed: loaded.spec.seed,
      specDir: loaded.dir,
      log: this.log,
      where,
    });
    checkBase(base, where, [height, width, channels]);
    return addHead(base, loaded.spec.model.head, data.classNames.length);
  }
}

/** The units must name layers of the model, each layer at most once, in input → output order. */
function checkBase(base: BaseModel, where: string, inputShape: number[]): void {
  const expected = base.model.inputs[0]!.shape.slice(1);
  if (expected.some((size, index) => size !== null && size !== inputShape[index])) {
    throw new ThawError(`${where}: the base expects input of shape [${expected.join(', ')}] but the data have [${inputShape.join(', ')}]`);
  }
  const seen = new Set<string>();
  for (const unit of base.units) {
    for (const layer of unit.layers) {
      try {
        base.model.getLayer(layer);
      } catch {
        throw new ThawError(`${where}: unit ${unit.name} names layer ${layer}, which the base model does not have`);
      }
      if (seen.has(layer)) throw new ThawError(`${where}: layer ${layer} belongs to more than one unit`);
      seen.add(layer);
    }
  }
  if (base.units.length === 0) throw new ThawError(`${where}: the base model has no units; expected at least one`);
}

function addHead(base: BaseModel, head: HeadConfig, classes: number): BuiltModel {
  const baseOutput = base.model.outputs[0]!;
  const layers: tf.layers.Layer[] = [];
  if (baseOutput.shape.length === 4) {
    layers.push(
      head.pooling === 'average'
        ? tf.layers.globalAveragePooling2d({ name: 'head_pool' })
        : head.pooling === 'max'
          ? tf.layers.globalMaxPooling2d({ name: 'head_pool' })
          : tf.layers.flatten({ name: 'head_pool' }),
    );
  } else if (baseOutput.shape.length !== 2) {
    throw new ThawError(`the base's output has shape [${baseOutput.shape.join(', ')}]; expected [batch, h, w, c] or [batch, features]`);
  }
  head.hidden.forEach((units, index) => layers.push(tf.layers.dense({ units, activation: 'relu', name: `head_dense_${index + 1}` })));
  if (head.dropout > 0) layers.push(tf.layers.dropout({ rate: head.dropout, name: 'head_dropout' }));
  layers.push(tf.layers.dense({ units: classes, activation: 'softmax', name: 'head_output' }));
  const output = layers.reduce<tf.SymbolicTensor>((tensor, layer) => layer.apply(tensor) as tf.SymbolicTensor, baseOutput);
  const model = tf.model({ inputs: base.model.inputs, outputs: output, name: 'thaw_model' });
  return {
    model,
    base,
    units: base.units,
    headLayers: layers.map((layer) => layer.name),
    baseOutputLayer: base.model.outputLayers[0]!.name,
  };
}
