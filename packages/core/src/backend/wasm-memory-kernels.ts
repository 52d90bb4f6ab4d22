import * as tf from '@tensorflow/tfjs';

/**
 * wasm kernels that move or select values, run in JavaScript on views of the wasm heap: the wasm
 * backend's own copy a tensor where none is needed (Identity, which the gradient tape calls for
 * every value it saves), read a whole input out of the heap for every slice (SplitV of n parts
 * copies the input n times), or compose a selection from five kernels (ClipByValue's gradient).
 * Each gives the values of the kernel it replaces (test/unit/wasm-training-kernels.spec.ts).
 */

type TensorInfo = tf.TensorInfo;

/** The parts of tfjs-backend-wasm's BackendWasm used here. */
interface WasmBackend {
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): Float32Array | Int32Array | Uint8Array;
  incRef(dataId: object): void;
}

interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  attrs?: tf.NamedAttrMap;
  backend: unknown;
}

/** Values are never changed in place, so a copy shares the input's memory (as on cpu and native). */
function identity({ inputs, backend }: KernelArgs): TensorInfo {
  const x = inputs['x']!;
  (backend as WasmBackend).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

/** Consecutive slices along one axis; each part is a run of whole rows of the axes before it. */
function splitV({ inputs, attrs, backend }: KernelArgs): TensorInfo[] {
  const wasm = backend as WasmBackend;
  const x = inputs['x']!;
  const { numOrSizeSplits, axis } = attrs as { numOrSizeSplits: number | number[]; axis: number | number[] };
  const $axis = tf.util.parseAxisParam(axis, x.shape)[0]!;
  const sizes = tf.backend_util.prepareSplitSize(x, numOrSizeSplits, $axis);
  return splitBySizes(wasm, x, sizes, $axis);
}

function splitBySizes(wasm: WasmBackend, x: TensorInfo, sizes: number[], axis: number): TensorInfo[] {
  const outer = x.shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = x.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const along = x.shape[axis]!;
  // Outputs first: allocating may grow the heap, which detaches every view taken before.
  const outputs = sizes.map((size) =>
    wasm.makeOutput(
      x.shape.map((d, i) => (i === axis ? size : d)),
      x.dtype,
    ),
  );
  const source = wasm.typedArrayFromHeap(x);
  let offset = 0;
  for (let part = 0; part < sizes.length; part++) {
    const target = wasm.typedArrayFromHeap(outputs[part]!);
    const length = sizes[part]! * inner;
    for (let o = 0; o < outer; o++) {
      const from = (o * along + offset) * inner;
      target.set(source.subarray(from, from + length), o * length);
    }
    offset += sizes[part]!;
  }
  return outputs;
}

/** ClipByValue's gradient: dy where min ≤ x ≤ max, else 0 (TF.js: where(logicalAnd(x ≥ min, x ≤ max), dy, 0)). */
function clipByValueGrad({ inputs, attrs, backend }: KernelArgs): TensorInfo {
  const wasm = backend as WasmBackend;
  const dy = inputs['dy']!;
  const x = inputs['x']!;
  const { clipValueMin, clipValueMax } = attrs as { clipValueMin: number; clipValueMax: number };
  const min = Math.fround(clipValueMin);
  const max = Math.fround(clipValueMax);
  const out = wasm.makeOutput(dy.shape, 'float32');
  const xs = wasm.typedArrayFromHeap(x);
  const grads = wasm.typedArrayFromHeap(dy);
  const result = wasm.typedArrayFromHeap(out);
  for (let i = 0; i < result.length; i++) {
    const value = xs[i]!;
    result[i] = value >= min && value <= max ? grads[i]! : 0;
  }
  return out;
}

const THAW_CLIP_GRAD = 'ThawClipByValueGrad';

/** Kernels the wasm backend has, replaced by these. */
export const wasmMemoryKernels: readonly tf.KernelConfig[] = [
  { kernelName: 'Identity', backendName: 'wasm', kernelFunc: identity },
  { kernelName: 'SplitV', backendName: 'wasm', kernelFunc: splitV },
];

let registered = false;

/** Registers the kernels above and ClipByValue's gradient through one kernel on wasm (once per process). */
export function registerWasmMemoryKernels(): void {
  if (registered) return;
  registered = true;
  for (const config of wasmMemoryKernels) {
    if (tf.getKernel(config.kernelName, 'wasm')) tf.unregisterKernel(config.kernelName, 'wasm');
    tf.registerKernel(config);
  }
  tf.registerKernel({ kernelName: THAW_CLIP_GRAD, backendName: 'wasm', kernelFunc: clipByValueGrad });
  const original = tf.getGradient('ClipByValue');
  if (!original) return;
  // The registry of gradients is shared by all backends: the others keep TF.js' own.
  tf.registerGradient({
    ...original,
    gradFunc: (dy, saved, attrs) => {
      const x = saved[0]!;
      const grad = dy as tf.Tensor;
      if (tf.getBackend() !== 'wasm' || x.dtype !== 'float32' || grad.dtype !== 'float32' || !tf.util.arraysEqual(x.shape, grad.shape))
        return original.gradFunc(dy, saved, attrs);
      return { x: () => tf.engine().runKernel<tf.Tensor>(THAW_CLIP_GRAD, { dy: grad, x }, attrs) };
    },
  });
}
