import * as tf from '@tensorflow/tfjs';
import { injectable } from 'inversify';
import { z } from 'zod';
import { ThawError, type BaseModel, type BaseModelContext, type BaseModelPlugin } from '@thaw/core';
import { deriveUnits } from './derive-units.js';
import { loadLayersModelFrom } from './load-layers-model-from.js';

const optionsSchema = z.strictObject({
  path: z
    .string()
    .min(1)
    .describe('a TF.js layers model: its folder or model.json (relative to the spec), or an http(s) URL of model.json'),
  cutAt: z.string().min(1).optional().describe('the layer whose output is the base output (default: the last layer)'),
  units: z
    .array(z.strictObject({ name: z.string().min(1), layers: z.array(z.string().min(1)).min(1) }))
    .min(1)
    .optional()
    .describe('units, input → output (default: each weighted layer with the BN, activation and pooling after it)'),
  inputRange: z.tuple([z.number(), z.number()]).default([0, 1]).describe('the value range the model expects its input in'),
});
type Options = z.output<typeof optionsSchema>;

/** Any TF.js LayersModel from a file or URL, cut at a named layer, with units derived or listed. */
@injectable()
export class LayersModelBase implements BaseModelPlugin<Options> {
  readonly id = 'layers-model';
  readonly description = 'any TF.js layers model (folder, model.json or URL), cut at a named layer; units derived or listed';
  readonly optionsSchema = optionsSchema;

  async build(options: Options, context: BaseModelContext): Promise<BaseModel> {
    const { model, location } = await loadLayersModelFrom(options.path, context, 'path');
    let base = model;
    if (options.cutAt !== undefined) {
      const names = model.layers.map((layer) => layer.name);
      if (!names.includes(options.cutAt)) {
        const shown = names.length > 12 ? [...names.slice(0, 6), '…', ...names.slice(-5)] : names;
        throw new ThawError(
          `${context.where}.cutAt: received ${JSON.stringify(options.cutAt)}, which is not a layer of ${location}; layers: ${shown.join(', ')}`,
        );
      }
      base = tf.model({
        inputs: model.inputs,
        outputs: model.getLayer(options.cutAt).getOutputAt(0),
        name: `${model.name}_to_${options.cutAt}`,
      });
    }
    const units = options.units ?? deriveUnits(base);
    return {
      model: base,
      units,
      inputRange: options.inputRange,
      description: `TF.js layers model ${location}${options.cutAt ? ` cut at ${options.cutAt}` : ''}, ${units.length} units`,
    };
  }
}
