import * as tf from '@tensorflow/tfjs';
import { injectable } from 'inversify';
import { z } from 'zod';
import { ThawError, disposeModel, type BaseModel, type BaseModelContext, type BaseModelPlugin, type ModelUnit } from '@thaw/core';
import { adaptInput } from './adapt-input.js';
import { copySequentialLayers } from './copy-layers.js';
import { loadLayersModelFrom } from './load-layers-model-from.js';

export const MOBILENET_V1_ALPHAS = [0.25, 0.5, 0.75, 1.0] as const;
export const MOBILENET_V1_SIZES = [128, 160, 192, 224] as const;

const optionsSchema = z.strictObject({
  alpha: z
    .number()
    .default(1.0)
    .describe(`width multiplier of the hosted model: one of ${MOBILENET_V1_ALPHAS.join(', ')}`),
  size: z
    .number()
    .int()
    .default(224)
    .describe(`input size of the hosted model: one of ${MOBILENET_V1_SIZES.join(', ')}`),
  path: z
    .string()
    .min(1)
    .optional()
    .describe('a local copy (folder or model.json) or URL of the model; default: the TF.js-hosted mobilenet_v1_<alpha>_<size>/model.json'),
  cutAt: z.string().min(1).default('conv_pw_13_relu').describe('the layer whose output is the base output'),
});
type Options = z.output<typeof optionsSchema>;

/** Where TF.js hosts the Keras MobileNet v1 layers models. */
export function hostedMobileNetV1Url(alpha: number, size: number): string {
  const text = alpha === 1 ? '1.0' : String(alpha);
  return `https://storage.googleapis.com/tfjs-models/tfjs/mobilenet_v1_${text}_${size}/model.json`;
}

/** Units of a Keras MobileNet v1: the stem (conv1…) and each depthwise-separable block (conv_dw_i, conv_pw_i, conv_pad_i). */
export function mobileNetV1Units(layerNames: readonly string[], where: string): ModelUnit[] {
  const units = new Map<string, string[]>();
  for (const name of layerNames) {
    const block = /^conv_(?:dw|pw|pad)_(\d+)(?:_|$)/.exec(name)?.[1];
    const unit = block !== undefined ? `block_${block}` : /^conv1(?:_|$)/.test(name) ? 'stem' : undefined;
    if (unit === undefined) {
      throw new ThawError(`${where}: layer ${name} is not part of MobileNet v1 (expected conv1…, conv_dw_i…, conv_pw_i…, conv_pad_i…)`);
    }
    units.set(unit, [...(units.get(unit) ?? []), name]);
  }
  return [...units].map(([name, layers]) => ({ name, layers }));
}

/** The TF.js-hosted Keras MobileNet v1 (or a local copy), cut at a named layer; units are its depthwise-separable blocks. */
@injectable()
export class MobileNetV1Base implements BaseModelPlugin<Options> {
  readonly id = 'mobilenet-v1';
  readonly description =
    'the TF.js-hosted Keras MobileNet v1 (mobilenet_v1_<alpha>_<size>) or a local copy, cut at conv_pw_13_relu; units: stem, 13 blocks';
  readonly optionsSchema = optionsSchema;

  async build(options: Options, context: BaseModelContext): Promise<BaseModel> {
    if (options.path === undefined) {
      if (!MOBILENET_V1_ALPHAS.includes(options.alpha as (typeof MOBILENET_V1_ALPHAS)[number])) {
        throw new ThawError(`${context.where}.alpha: received ${options.alpha}; expected one of ${MOBILENET_V1_ALPHAS.join(', ')}`);
      }
      if (!MOBILENET_V1_SIZES.includes(options.size as (typeof MOBILENET_V1_SIZES)[number])) {
        throw new ThawError(`${context.where}.size: received ${options.size}; expected one of ${MOBILENET_V1_SIZES.join(', ')}`);
      }
    }
    const { model: loaded, location } = await loadLayersModelFrom(
      options.path ?? hostedMobileNetV1Url(options.alpha, options.size),
      context,
      'path',
    );
    try {
      const names = loaded.layers.map((layer) => layer.name);
      const cut = names.indexOf(options.cutAt);
      if (cut === -1) {
        throw new ThawError(
          `${context.where}.cutAt: received ${JSON.stringify(options.cutAt)}, which is not a layer of ${location}; expected e.g. conv_pw_13_relu or conv_pw_11_relu`,
        );
      }
      const layers = loaded.layers.slice(1, cut + 1);
      const units = mobileNetV1Units(
        layers.map((layer) => layer.name),
        `${context.where}.path`,
      );
      const size = loaded.inputs[0]!.shape[1]!;
      const input = tf.input({ shape: [...context.inputShape], name: 'input_1' });
      const adapted = adaptInput(input, size);
      const output = copySequentialLayers(layers, adapted.output);
      const model = tf.model({ inputs: input, outputs: output, name: `mobilenet_v1_to_${options.cutAt}` });
      return {
        model,
        units,
        adapterLayers: adapted.layers,
        inputRange: [-1, 1],
        description: `MobileNet v1 from ${location} (${size}×${size}), cut at ${options.cutAt}, ${units.length} units`,
      };
    } finally {
      disposeModel(loaded);
    }
  }
}
