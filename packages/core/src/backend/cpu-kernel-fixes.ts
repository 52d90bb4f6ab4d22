import * as tf from '@tensorflow/tfjs';
import { KernelScope, type Backend } from './kernel-scope.js';

let original: tf.KernelConfig | undefined;

/**
 * TF.js' cpu `Transform` kernel returns after the first image of a batch (the rest stay at the
 * fill value), so augmentation on the cpu backend would blank all but one image per batch. This
 * runs it one image at a time and concatenates.
 */
function transform(args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap; backend: unknown }): tf.TensorInfo {
  const image = args.inputs['image']!;
  const transforms = args.inputs['transforms']!;
  const [batch, height, width, channels] = image.shape as [number, number, number, number];
  if (batch <= 1) return original!.kernelFunc(args as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
  const scope = new KernelScope('cpu', args.backend as Backend);
  const outputs: tf.TensorInfo[] = [];
  for (let b = 0; b < batch; b++) {
    const one = scope.run('Slice', { x: image }, { begin: [b, 0, 0, 0], size: [1, height, width, channels] });
    const matrix = transforms.shape[0] === 1 ? transforms : scope.run('Slice', { x: transforms }, { begin: [b, 0], size: [1, 8] });
    const out = original!.kernelFunc({
      ...args,
      inputs: { image: one, transforms: matrix },
    } as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
    scope.adopt(out);
    outputs.push(out);
  }
  return scope.finish(scope.run('Concat', outputs as unknown as Record<string, tf.TensorInfo>, { axis: 0 }));
}

/** Replaces cpu kernels that compute wrong results (once). */
export function registerCpuKernelFixes(): void {
  if (original) return;
  original = tf.getKernel('Transform', 'cpu');
  if (!original) return;
  tf.unregisterKernel('Transform', 'cpu');
  tf.registerKernel({ kernelName: 'Transform', backendName: 'cpu', kernelFunc: transform });
}
