import * as tf from '@tensorflow/tfjs';
import { inject, injectable } from 'inversify';
import {
  Logger,
  ThawError,
  type BaseModel,
  type BuildStage,
  type BuiltModel,
  type HeadConfig,
  type HeadOutput,
  type TrialPlan,
} from '@thaw/contracts';
import { disposeModel } from '../model/dispose-model.js';

@injectable()
export class BuildStageImpl implements BuildStage {
  constructor(@inject(Logger) private readonly log: Logger) {}

  async build(plan: TrialPlan): Promise<BuiltModel> {
    const { plugin, options, where } = plan.base;
    const { inputShape, classNames } = plan.data.facts;
    const base = await plugin.build(options, {
      inputShape,
      seed: plan.loaded.spec.seed,
      specDir: plan.loaded.dir,
      log: this.log,
      where,
    });
    const units = base.units.map((unit) => unit.name).join();
    if (units !== plan.base.facts.units.map((unit) => unit.name).join()) {
      disposeModel(base.model);
      throw new ThawError(
        `${where}: base plugin ${plugin.id} built units ${units}, but its check promised ${plan.base.facts.units.map((u) => u.name).join()}`,
      );
    }
    return addHead(base, plan.loaded.spec.model.head, classNames.length);
  }
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
  // One logit for two classes (Keras' Dense(1) with from_logits), else one probability per class.
  const output: HeadOutput = head.units === 1 ? 'logit' : 'softmax';
  layers.push(
    tf.layers.dense({
      units: output === 'logit' ? 1 : classes,
      activation: output === 'logit' ? 'linear' : 'softmax',
      name: 'head_output',
    }),
  );
  const outputTensor = layers.reduce<tf.SymbolicTensor>((tensor, layer) => layer.apply(tensor) as tf.SymbolicTensor, baseOutput);
  const model = tf.model({ inputs: base.model.inputs, outputs: outputTensor, name: 'thaw_model' });
  return {
    model,
    base,
    units: base.units,
    headLayers: layers.map((layer) => layer.name),
    baseOutputLayer: base.model.outputLayers[0]!.name,
    output,
  };
}
