import * as tf from '@tensorflow/tfjs';
import { injectable } from 'inversify';
import { z } from 'zod';
import {
  ThawError,
  baseFacts,
  type BaseCheckContext,
  type BaseFacts,
  type BaseModel,
  type BaseModelContext,
  type BaseModelPlugin,
  type ModelUnit,
} from '@thaw/core';
import { checkWeightsLocation } from './check-weights-location.js';
import { adaptInput } from './adapt-input.js';
import { loadWeightsByName } from './load-weights-by-name.js';

export const MOBILENET_V2_ALPHAS = [0.35, 0.5, 0.75, 1.0, 1.3, 1.4] as const;

const optionsSchema = z.strictObject({
  alpha: z
    .number()
    .default(1.0)
    .describe(`width multiplier: one of ${MOBILENET_V2_ALPHAS.join(', ')}`),
  size: z
    .number()
    .int()
    .optional()
    .describe('square input size in pixels, ≥ 32 (96, 128, 160, 192, 224 …); images are resized to it (default: the images’ own size)'),
  weights: z
    .string()
    .min(1)
    .optional()
    .describe(
      'weights loaded by layer name from a TF.js layers model (folder, model.json or URL) or a Keras file (path or URL): a Keras 2 .h5 as keras.applications downloads it (mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{alpha}_{size}_no_top.h5), a Keras 3 .weights.h5 or a .keras archive',
    ),
});
type Options = z.output<typeof optionsSchema>;

/** Keras' _make_divisible: channels rounded to a multiple of 8, never below 90% of the target. */
export function makeDivisible(value: number, divisor = 8): number {
  let rounded = Math.max(divisor, Math.floor((value + divisor / 2) / divisor) * divisor);
  if (rounded < 0.9 * value) rounded += divisor;
  return rounded;
}

/** (filters, stride, expansion) of the 17 inverted-residual blocks, as in keras.applications. */
const BLOCKS: readonly (readonly [number, number, number])[] = [
  [16, 1, 1],
  [24, 2, 6],
  [24, 1, 6],
  [32, 2, 6],
  [32, 1, 6],
  [32, 1, 6],
  [64, 2, 6],
  [64, 1, 6],
  [64, 1, 6],
  [64, 1, 6],
  [96, 1, 6],
  [96, 1, 6],
  [96, 1, 6],
  [160, 2, 6],
  [160, 1, 6],
  [160, 1, 6],
  [320, 1, 6],
];

const bn = (name: string) => tf.layers.batchNormalization({ epsilon: 1e-3, momentum: 0.999, name });
const relu6 = (name: string) => tf.layers.reLU({ maxValue: 6, name });

/**
 * MobileNetV2 as keras.applications.MobileNetV2(include_top=False) builds it: the same layers, in
 * the same order, with the same names, types and shapes, from `input` (size × size × 3, in [-1, 1]).
 */
export function buildMobileNetV2(input: tf.SymbolicTensor, alpha: number): { output: tf.SymbolicTensor; units: ModelUnit[] } {
  const units: ModelUnit[] = [];
  const apply = (x: tf.SymbolicTensor, layers: tf.layers.Layer[]) => layers.reduce((t, layer) => layer.apply(t) as tf.SymbolicTensor, x);

  const stem = [
    tf.layers.conv2d({ filters: makeDivisible(32 * alpha), kernelSize: 3, strides: 2, padding: 'same', useBias: false, name: 'Conv1' }),
    bn('bn_Conv1'),
    relu6('Conv1_relu'),
  ];
  let x = apply(input, stem);
  units.push({ name: 'stem', layers: stem.map((l) => l.name) });

  BLOCKS.forEach(([filters, stride, expansion], id) => {
    const inChannels = x.shape[x.shape.length - 1]!;
    const outChannels = makeDivisible(Math.trunc(filters * alpha));
    const prefix = id === 0 ? 'expanded_conv_' : `block_${id}_`;
    const names: string[] = [];
    const blockInput = x;
    let y = x;
    const step = (layer: tf.layers.Layer) => {
      names.push(layer.name);
      y = layer.apply(y) as tf.SymbolicTensor;
    };
    if (id > 0) {
      step(tf.layers.conv2d({ filters: expansion * inChannels, kernelSize: 1, padding: 'same', useBias: false, name: `${prefix}expand` }));
      step(bn(`${prefix}expand_BN`));
      step(relu6(`${prefix}expand_relu`));
    }
    if (stride === 2) {
      // Keras' correct_pad: pad one more at the bottom and right when the size is even.
      const [height, width] = [y.shape[1]!, y.shape[2]!];
      const padding: [[number, number], [number, number]] = [
        [1 - (1 - (height % 2)), 1],
        [1 - (1 - (width % 2)), 1],
      ];
      step(tf.layers.zeroPadding2d({ padding, name: `${prefix}pad` }));
    }
    step(
      tf.layers.depthwiseConv2d({
        kernelSize: 3,
        strides: stride,
        padding: stride === 1 ? 'same' : 'valid',
        useBias: false,
        name: `${prefix}depthwise`,
      }),
    );
    step(bn(`${prefix}depthwise_BN`));
    step(relu6(`${prefix}depthwise_relu`));
    step(tf.layers.conv2d({ filters: outChannels, kernelSize: 1, padding: 'same', useBias: false, name: `${prefix}project` }));
    step(bn(`${prefix}project_BN`));
    if (inChannels === outChannels && stride === 1) {
      const add = tf.layers.add({ name: `${prefix}add` });
      names.push(add.name);
      y = add.apply([blockInput, y]) as tf.SymbolicTensor;
    }
    x = y;
    units.push({ name: id === 0 ? 'expanded_conv' : `block_${id}`, layers: names });
  });

  const top = [
    tf.layers.conv2d({ filters: alpha > 1.0 ? makeDivisible(1280 * alpha) : 1280, kernelSize: 1, useBias: false, name: 'Conv_1' }),
    bn('Conv_1_bn'),
    relu6('out_relu'),
  ];
  x = apply(x, top);
  units.push({ name: 'Conv_1', layers: top.map((l) => l.name) });
  return { output: x, units };
}

/** MobileNetV2 (Keras-faithful), randomly initialised or with weights loaded by layer name. */
@injectable()
export class MobileNetV2Base implements BaseModelPlugin<Options> {
  readonly id = 'mobilenet-v2';
  readonly description =
    'MobileNetV2 exactly as keras.applications builds it (include_top=False), weights by layer name; units: stem, 17 blocks, Conv_1';
  readonly optionsSchema = optionsSchema;

  /** Alpha, size and the weights file are checked, and the architecture built without weights, before any run. */
  check(options: Options, context: BaseCheckContext): Promise<BaseFacts> {
    if (options.weights !== undefined) checkWeightsLocation(options.weights, context, 'weights');
    const { model, units, adapters } = this.architecture(options, context);
    try {
      return Promise.resolve(baseFacts({ model, units, adapterLayers: adapters, description: '' }));
    } finally {
      model.dispose();
    }
  }

  private architecture(options: Options, context: BaseModelContext) {
    if (!MOBILENET_V2_ALPHAS.includes(options.alpha as (typeof MOBILENET_V2_ALPHAS)[number])) {
      throw new ThawError(`${context.where}.alpha: received ${options.alpha}; expected one of ${MOBILENET_V2_ALPHAS.join(', ')}`);
    }
    const size = options.size ?? context.inputShape[0];
    if (size < 32 || (options.size === undefined && context.inputShape[0] !== context.inputShape[1])) {
      throw new ThawError(
        `${context.where}.size: received ${size} (images are ${context.inputShape.join('×')}); expected a square input of at least 32 px, e.g. 96, 128, 160, 192 or 224`,
      );
    }
    const input = tf.input({ shape: [...context.inputShape], name: 'input_layer' });
    const adapted = adaptInput(input, size);
    const { output, units } = buildMobileNetV2(adapted.output, options.alpha);
    const model = tf.model({ inputs: input, outputs: output, name: `mobilenetv2_${options.alpha.toFixed(2)}_${size}` });
    return { model, units, adapters: adapted.layers, size };
  }

  async build(options: Options, context: BaseModelContext): Promise<BaseModel> {
    const { model, units, adapters, size } = this.architecture(options, context);
    let source = 'random initialisation';
    if (options.weights === undefined) {
      context.log.warn(
        `${context.where}: mobilenet-v2 has no weights, so it starts from random values: this run is not transfer learning (give weights: a converted Keras MobileNetV2)`,
      );
    } else {
      source = await loadWeightsByName(model, options.weights, context, 'weights');
    }
    return {
      model,
      units,
      adapterLayers: adapters,
      inputRange: [-1, 1],
      description: `MobileNetV2 alpha ${options.alpha}, ${size}×${size}×3, ${source}`,
    };
  }
}
