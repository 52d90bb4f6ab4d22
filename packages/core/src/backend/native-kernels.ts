import * as tf from '@tensorflow/tfjs';
import { THAW_BATCH_NORM_TRAIN, THAW_BATCH_NORM_TRAIN_GRAD, patchBatchNormTraining } from './native-batch-norm-training.js';

type OpAttr = { name: string; type: number; value: unknown };
type KernelArgs = { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap; backend: unknown };
interface NativeBackend {
  binding: Record<string, number>;
  executeSingleOutput(name: string, attrs: OpAttr[], inputs: tf.TensorInfo[]): tf.TensorInfo;
  executeMultipleOutputs(name: string, attrs: OpAttr[], inputs: tf.TensorInfo[], numOutputs: number): tf.Tensor[];
}

/**
 * tfjs-node has no `Transform` kernel (tf.image.transform, which the augment stage uses), though
 * TensorFlow has the op: run ImageProjectiveTransformV3 natively.
 */
function transform({ inputs, attrs, backend }: KernelArgs): tf.TensorInfo {
  const native = backend as NativeBackend;
  const { interpolation, fillMode, fillValue, outputShape } = attrs as {
    interpolation: string;
    fillMode: string;
    fillValue: number;
    outputShape?: [number, number];
  };
  const image = inputs['image']!;
  const [, height, width] = image.shape as [number, number, number, number];
  return tf.tidy(() => {
    const shape = tf.tensor1d(outputShape ?? [height, width], 'int32');
    const fill = tf.scalar(fillValue, 'float32');
    const { binding } = native;
    return native.executeSingleOutput(
      'ImageProjectiveTransformV3',
      [
        { name: 'dtype', type: binding['TF_ATTR_TYPE']!, value: binding['TF_FLOAT'] },
        { name: 'interpolation', type: binding['TF_ATTR_STRING']!, value: interpolation.toUpperCase() },
        { name: 'fill_mode', type: binding['TF_ATTR_STRING']!, value: fillMode.toUpperCase() },
      ],
      [image, inputs['transforms']!, shape, fill],
    ) as tf.Tensor;
  });
}

/** TensorFlow's ReluGrad (dy where x > 0, else 0): one pass, where TF.js' gradient of Relu is dy · step(x), 7 dispatches on tfjs-node. */
function reluGrad({ inputs, backend }: KernelArgs): tf.TensorInfo {
  const native = backend as NativeBackend;
  const { binding } = native;
  return native.executeSingleOutput(
    'ReluGrad',
    [{ name: 'T', type: binding['TF_ATTR_TYPE']!, value: binding['TF_FLOAT'] }],
    [inputs['dy']!, inputs['x']!],
  );
}

/** TensorFlow's ClipByValue in one op; tfjs-node runs Minimum then Maximum (MobileNetV2's ReLU(6) layers clip every activation). */
function clipByValue(tfjsNodeClip: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const native = args.backend as NativeBackend;
    const { clipValueMin, clipValueMax } = args.attrs as { clipValueMin: number; clipValueMax: number };
    const x = args.inputs['x']!;
    if (x.dtype !== 'float32') return tfjsNodeClip(args);
    return tf.tidy(() => {
      const { binding } = native;
      return native.executeSingleOutput(
        'ClipByValue',
        [{ name: 'T', type: binding['TF_ATTR_TYPE']!, value: binding['TF_FLOAT'] }],
        [x, tf.scalar(clipValueMin), tf.scalar(clipValueMax)],
      ) as tf.Tensor;
    });
  };
}

const THAW_RELU_GRAD = 'ThawReluGrad';
const THAW_BATCH_NORM_GRAD = 'ThawFusedBatchNormGrad';

/** The attributes of TensorFlow's fused BatchNormalization ops, float32 and NHWC; V3 ops also name the statistics' type. */
function batchNormAttrs(binding: Record<string, number>, epsilon: number, isTraining: boolean, v3: boolean): OpAttr[] {
  return [
    { name: 'T', type: binding['TF_ATTR_TYPE']!, value: binding['TF_FLOAT'] },
    ...(v3 ? [{ name: 'U', type: binding['TF_ATTR_TYPE']!, value: binding['TF_FLOAT'] }] : []),
    { name: 'epsilon', type: binding['TF_ATTR_FLOAT']!, value: epsilon },
    { name: 'data_format', type: binding['TF_ATTR_STRING']!, value: 'NHWC' },
    { name: 'is_training', type: binding['TF_ATTR_BOOL']!, value: isTraining },
  ];
}

/** A fused BatchNormalization gradient op's gradients of x, scale and offset (its two reserve outputs freed). */
function batchNormGradients(native: NativeBackend, op: string, attrs: OpAttr[], inputs: tf.TensorInfo[]): tf.TensorInfo[] {
  const outputs = native.executeMultipleOutputs(op, attrs, inputs, 5);
  tf.dispose(outputs.slice(3));
  return outputs.slice(0, 3);
}

/**
 * TensorFlow's FusedBatchNormGrad with the statistics as given (is_training false): the gradients
 * of x, scale and offset in one op, where TF.js' composite makes about 8 passes over the activation.
 */
function batchNormGrad({ inputs, attrs, backend }: KernelArgs): tf.TensorInfo[] {
  const native = backend as NativeBackend;
  const epsilon = (attrs as { varianceEpsilon: number }).varianceEpsilon;
  return batchNormGradients(native, 'FusedBatchNormGrad', batchNormAttrs(native.binding, epsilon, false, false), [
    inputs['dy']!,
    inputs['x']!,
    inputs['scale']!,
    inputs['mean']!,
    inputs['variance']!,
  ]);
}

/**
 * FusedBatchNorm's gradients of x, scale and offset from one native op (NHWC, float32, per-channel
 * statistics); those of mean and variance (BatchNormalization in training mode) stay TF.js' own.
 */
function registerBatchNormGradient(): void {
  const original = tf.getGradient('FusedBatchNorm');
  if (!original) return;
  tf.registerKernel({ kernelName: THAW_BATCH_NORM_GRAD, backendName: 'tensorflow', kernelFunc: batchNormGrad });
  tf.registerGradient({
    ...original,
    gradFunc: (dy, saved, attrs) => {
      const [x, mean, variance, scale] = saved;
      const grad = dy as tf.Tensor;
      if (tf.getBackend() !== 'tensorflow' || x!.rank !== 4 || mean!.rank !== 1 || !scale || grad.dtype !== 'float32')
        return original.gradFunc(dy, saved, attrs);
      // Computed here, not in the thunks: the tape runs each thunk in its own tidy, which would free the outputs the others need.
      const [dx, dscale, doffset] = tf
        .engine()
        .runKernel<tf.Tensor[]>(THAW_BATCH_NORM_GRAD, { dy: grad, x: x!, scale, mean: mean!, variance: variance! }, attrs);
      // Only BatchNormalization in training mode (statistics of the batch) asks for these. Both are
      // per-channel rescalings of sums the native op has made: with s = rsqrt(variance + ε),
      // d mean = −s · scale · Σ dy = −s · scale · d offset, and
      // d variance = −½ s³ · scale · Σ dy (x − mean) = −½ s² · scale · d scale,
      // where TF.js' composite makes two more passes over the activation for each.
      const epsilon = (attrs as { varianceEpsilon: number }).varianceEpsilon;
      return {
        x: () => dx!,
        scale: () => dscale!,
        offset: () => doffset!,
        mean: () => tf.mul(tf.mul(scale, tf.rsqrt(tf.add(variance!, epsilon))), tf.neg(doffset!)),
        variance: () => tf.div(tf.mul(scale, tf.mul(dscale!, -0.5)), tf.add(variance!, epsilon)),
      };
    },
  });
}

/** FusedBatchNormV3 with the batch's statistics: y, batch mean and variance (unbiased), then the three reserves the gradient takes. */
function batchNormTrain({ inputs, attrs, backend }: KernelArgs): tf.TensorInfo[] {
  const native = backend as NativeBackend;
  const { binding } = native;
  const epsilon = (attrs as { epsilon: number }).epsilon;
  return tf.tidy(() => {
    const empty = tf.tensor1d([], 'float32');
    return native.executeMultipleOutputs(
      'FusedBatchNormV3',
      [...batchNormAttrs(binding, epsilon, true, true), { name: 'exponential_avg_factor', type: binding['TF_ATTR_FLOAT']!, value: 1 }],
      [inputs['x']!, inputs['scale']!, inputs['offset']!, empty, empty],
      6,
    );
  });
}

/** FusedBatchNormGradV3 in training: the gradients of x (through the batch's statistics), scale and offset. */
function batchNormTrainGrad({ inputs, attrs, backend }: KernelArgs): tf.TensorInfo[] {
  const native = backend as NativeBackend;
  const epsilon = (attrs as { epsilon: number }).epsilon;
  return batchNormGradients(native, 'FusedBatchNormGradV3', batchNormAttrs(native.binding, epsilon, true, true), [
    inputs['dy']!,
    inputs['x']!,
    inputs['scale']!,
    inputs['mean']!,
    inputs['variance']!,
    inputs['reserve']!,
  ]);
}

/**
 * Relu's gradient through TensorFlow's ReluGrad on the native backend; the registry of gradients
 * is shared by all backends, so the others keep TF.js' own.
 */
function registerReluGradient(): void {
  const original = tf.getGradient('Relu');
  if (!original) return;
  tf.registerKernel({ kernelName: THAW_RELU_GRAD, backendName: 'tensorflow', kernelFunc: reluGrad });
  tf.registerGradient({
    ...original,
    gradFunc: (dy, saved, attrs) => {
      const x = saved[0]!;
      if (tf.getBackend() !== 'tensorflow' || x.dtype !== 'float32' || (dy as tf.Tensor).dtype !== 'float32')
        return original.gradFunc(dy, saved, attrs);
      return { x: () => tf.engine().runKernel<tf.Tensor>(THAW_RELU_GRAD, { dy: dy as tf.Tensor, x }) };
    },
  });
}

/** Registers the kernels thaw needs that tfjs-node lacks, and faster ones for training steps (once). */
export function registerNativeKernels(): void {
  if (!tf.getKernel('Transform', 'tensorflow'))
    tf.registerKernel({ kernelName: 'Transform', backendName: 'tensorflow', kernelFunc: transform });
  // THAW_NATIVE_FUSED=0 keeps tfjs-node's own, to measure the difference.
  if (process.env['THAW_NATIVE_FUSED'] === '0' || tf.getKernel(THAW_RELU_GRAD, 'tensorflow')) return;
  const tfjsNodeClip = tf.getKernel('ClipByValue', 'tensorflow');
  if (tfjsNodeClip) {
    tf.unregisterKernel('ClipByValue', 'tensorflow');
    tf.registerKernel({ kernelName: 'ClipByValue', backendName: 'tensorflow', kernelFunc: clipByValue(tfjsNodeClip.kernelFunc) });
  }
  registerReluGradient();
  registerBatchNormGradient();
  tf.registerKernel({ kernelName: THAW_BATCH_NORM_TRAIN, backendName: 'tensorflow', kernelFunc: batchNormTrain });
  tf.registerKernel({ kernelName: THAW_BATCH_NORM_TRAIN_GRAD, backendName: 'tensorflow', kernelFunc: batchNormTrainGrad });
  patchBatchNormTraining();
}
