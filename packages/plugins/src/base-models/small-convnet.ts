import * as tf from '@tensorflow/tfjs';
import { injectable } from 'inversify';
import { z } from 'zod';
import type { BaseModel, BaseModelContext, BaseModelPlugin, ModelUnit } from '@thaw/core';

const optionsSchema = z.strictObject({
  filters: z
    .array(z.number().int().min(1), { error: 'expected a list of filter counts, one per conv block' })
    .min(1, { error: 'expected at least one conv block' })
    .max(6, { error: 'expected at most 6 conv blocks' })
    .default([32, 64, 128])
    .describe('filters of each conv block, input → output'),
  kernelSize: z.number().int().min(1).max(7).default(3).describe('square kernel size of every convolution'),
  batchNormMomentum: z
    .number()
    .gt(0)
    .lt(1)
    .default(0.9)
    .describe('momentum of the BN moving statistics; Keras uses 0.99, which needs thousands of steps to forget their initial values'),
});
type Options = z.output<typeof optionsSchema>;

/**
 * A compact CNN: conv blocks of conv (no bias) + BatchNormalization + ReLU + 2×2 max pooling.
 * Each block is a unit. Initialised randomly (seeded by the trial); train it with
 * `strategy.unfreeze: all`, save it with `output.base`, and reuse it through `from-run`.
 */
@injectable()
export class SmallConvnet implements BaseModelPlugin<Options> {
  readonly id = 'small-convnet';
  readonly description = 'compact CNN of conv+BN+ReLU+max-pool blocks, randomly initialised; each block is a unit';
  readonly optionsSchema = optionsSchema;

  build(options: Options, context: BaseModelContext): Promise<BaseModel> {
    const input = tf.input({ shape: [...context.inputShape], name: 'input' });
    const units: ModelUnit[] = [];
    let x: tf.SymbolicTensor = input;
    let size = Math.min(context.inputShape[0], context.inputShape[1]);
    options.filters.forEach((filters, index) => {
      const name = `block${index + 1}`;
      const layers: tf.layers.Layer[] = [
        tf.layers.conv2d({ filters, kernelSize: options.kernelSize, padding: 'same', useBias: false, name: `${name}_conv` }),
        tf.layers.batchNormalization({ momentum: options.batchNormMomentum, name: `${name}_bn` }),
        tf.layers.activation({ activation: 'relu', name: `${name}_relu` }),
      ];
      if (size >= 2) {
        layers.push(tf.layers.maxPooling2d({ poolSize: 2, name: `${name}_pool` }));
        size = Math.floor(size / 2);
      }
      x = layers.reduce<tf.SymbolicTensor>((tensor, layer) => layer.apply(tensor) as tf.SymbolicTensor, x);
      units.push({ name, layers: layers.map((layer) => layer.name) });
    });
    const model = tf.model({ inputs: input, outputs: x, name: 'small_convnet' });
    return Promise.resolve({ model, units, description: `small-convnet filters [${options.filters.join(', ')}], random initialisation` });
  }
}
