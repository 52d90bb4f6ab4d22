import * as tf from '@tensorflow/tfjs';

import type { InferenceFunction } from '@thaw/contracts';

type Activation = 'linear' | 'relu' | 'relu6' | 'elu' | 'sigmoid';
const FUSABLE: readonly string[] = ['linear', 'relu', 'relu6', 'elu', 'sigmoid'];

interface Step {
  readonly inputs: number[];
  readonly output: number;
  readonly apply: (inputs: tf.Tensor[]) => tf.Tensor;
}

function config(layer: tf.layers.Layer): Record<string, unknown> {
  return layer.getConfig();
}

/** The activation a layer applies by itself, if it is one that TF.js' fused ops can take. */
function activationOf(layer: tf.layers.Layer): Activation | undefined {
  const name = layer.getClassName();
  if (name === 'Activation') {
    const activation = config(layer)['activation'] as string;
    return FUSABLE.includes(activation) ? (activation as Activation) : undefined;
  }
  if (name === 'ReLU') {
    const max = config(layer)['maxValue'] as number | null | undefined;
    return max === undefined || max === null ? 'relu' : max === 6 ? 'relu6' : undefined;
  }
  return undefined;
}

function weightOf(layer: tf.layers.Layer, suffix: string): tf.Tensor | undefined {
  return layer.weights.find((weight) => weight.originalName.endsWith(suffix) || weight.name.endsWith(suffix))?.read();
}

/**
 * Compiles a frozen functional model into an inference-only function: no gradient tape, and each
 * Conv2D / DepthwiseConv2D followed by BatchNormalization (and an activation) becomes one fused
 * convolution whose weights absorb the normalisation: w' = w·γ/√(σ²+ε), b' = (b − μ)·γ/√(σ²+ε) + β.
 * Every other layer runs as itself in inference mode.
 */
export function compileInference(model: tf.LayersModel): InferenceFunction {
  const layers = model.layers.filter((layer) => layer.getClassName() !== 'InputLayer');
  const consumers = new Map<number, tf.layers.Layer[]>();
  for (const layer of layers) {
    for (const tensor of layer.inboundNodes[0]!.inputTensors) consumers.set(tensor.id, [...(consumers.get(tensor.id) ?? []), layer]);
  }
  const soleConsumer = (tensor: tf.SymbolicTensor) => {
    const list = consumers.get(tensor.id) ?? [];
    return list.length === 1 && !model.outputs.some((output) => output.id === tensor.id) ? list[0] : undefined;
  };
  const owned: tf.Tensor[] = [];
  const steps: Step[] = [];
  const absorbed = new Set<tf.layers.Layer>();
  let fused = 0;
  for (const layer of layers) {
    if (absorbed.has(layer)) continue;
    const node = layer.inboundNodes[0]!;
    const inputs = node.inputTensors.map((tensor) => tensor.id);
    const kind = layer.getClassName();
    const output = node.outputTensors[0]!;
    const batchNorm = kind === 'Conv2D' || kind === 'DepthwiseConv2D' ? soleConsumer(output) : undefined;
    const ownActivation = config(layer)['activation'] as string | undefined;
    if (batchNorm?.getClassName() === 'BatchNormalization' && ownActivation === 'linear' && config(batchNorm)['axis'] === -1) {
      const normalized = batchNorm.inboundNodes[0]!.outputTensors[0]!;
      const next = soleConsumer(normalized);
      const activation = next ? activationOf(next) : undefined;
      const last = activation && next ? next : batchNorm;
      const [filter, bias] = tf.tidy((): [tf.Tensor4D, tf.Tensor1D] => {
        const epsilon = config(batchNorm)['epsilon'] as number;
        const mean = weightOf(batchNorm, 'moving_mean')!;
        const variance = weightOf(batchNorm, 'moving_variance')!;
        const gamma = weightOf(batchNorm, 'gamma') ?? tf.onesLike(mean);
        const beta = weightOf(batchNorm, 'beta') ?? tf.zerosLike(mean);
        const scale = gamma.div(variance.add(epsilon).sqrt());
        const kernel = weightOf(layer, kind === 'Conv2D' ? 'kernel' : 'depthwise_kernel')!;
        const scaledKernel = kind === 'Conv2D' ? kernel.mul(scale) : kernel.mul(scale.reshape([1, 1, kernel.shape[2]!, kernel.shape[3]!]));
        const ownBias = weightOf(layer, 'bias') ?? tf.zerosLike(mean);
        return [scaledKernel as tf.Tensor4D, ownBias.sub(mean).mul(scale).add<tf.Tensor1D>(beta)];
      });
      owned.push(filter, bias);
      const { strides, padding, dilationRate } = config(layer) as {
        strides: [number, number];
        padding: 'same' | 'valid';
        dilationRate: [number, number];
      };
      const fusedActivation = activation ?? 'linear';
      const convolve = kind === 'Conv2D' ? tf.fused.conv2d : tf.fused.depthwiseConv2d;
      steps.push({
        inputs,
        output: last.inboundNodes[0]!.outputTensors[0]!.id,
        apply: ([x]) =>
          convolve({ x: x as tf.Tensor4D, filter, strides, pad: padding, dilations: dilationRate, bias, activation: fusedActivation }),
      });
      absorbed.add(batchNorm);
      if (activation && next) absorbed.add(next);
      fused++;
      continue;
    }
    steps.push({
      inputs,
      output: output.id,
      apply: (values) => layer.apply(values.length === 1 ? values[0]! : values, { training: false }) as tf.Tensor,
    });
  }
  const inputId = model.inputs[0]!.id;
  const outputId = model.outputs[0]!.id;
  return {
    fused,
    run: (x) =>
      tf.tidy(() => {
        const values = new Map<number, tf.Tensor>([[inputId, x]]);
        for (const step of steps) values.set(step.output, step.apply(step.inputs.map((id) => values.get(id)!)));
        return values.get(outputId)!;
      }),
    dispose: () => tf.dispose(owned),
  };
}
