import * as tf from '@tensorflow/tfjs';

interface NativeBackend {
  binding: Record<string, number>;
  executeSingleOutput(name: string, attrs: { name: string; type: number; value: unknown }[], inputs: tf.TensorInfo[]): tf.TensorInfo;
}

/**
 * tfjs-node has no `Transform` kernel (tf.image.transform, which the augment stage uses), though
 * TensorFlow has the op: run ImageProjectiveTransformV3 natively.
 */
function transform({
  inputs,
  attrs,
  backend,
}: {
  inputs: tf.NamedTensorInfoMap;
  attrs?: tf.NamedAttrMap;
  backend: unknown;
}): tf.TensorInfo {
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

/** Registers the kernels thaw needs that tfjs-node lacks (once). */
export function registerNativeKernels(): void {
  if (!tf.getKernel('Transform', 'tensorflow'))
    tf.registerKernel({ kernelName: 'Transform', backendName: 'tensorflow', kernelFunc: transform });
}
