import * as tf from '@tensorflow/tfjs';
import { KernelScope } from './kernel-scope.js';
import { registerWasmMemoryKernels } from './wasm-memory-kernels.js';

/**
 * Gradient kernels that the wasm backend lacks, composed from its own fast kernels (XNNPACK
 * convolutions, transposes, pads, reductions), so that training runs on wasm without falling
 * back to the pure-JS cpu kernels. NHWC only, like the rest of TF.js' layers.
 */

type TensorInfo = tf.TensorInfo;
import type { Backend } from './kernel-scope.js';
type Attrs = Record<string, unknown>;

function pair(value: unknown): [number, number] {
  if (value === undefined || value === null) return [1, 1];
  return typeof value === 'number' ? [value, value] : (value as [number, number]);
}

interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  attrs?: tf.NamedAttrMap;
  backend: unknown;
}

/** The forward convolution's geometry (output size, padding) from a gradient kernel's attributes. */
function convInfo(a: Attrs, inputShape: readonly number[], filterShape: readonly number[], depthwise = false): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    inputShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    pair(a['strides']),
    pair(a['dilations']),
    a['pad'] as 'same' | 'valid' | number,
    a['dimRoundingMode'] as 'floor' | 'round' | 'ceil' | undefined,
    depthwise,
  );
}

function checkLayout(attrs: Attrs, kernel: string): void {
  if (attrs['dataFormat'] !== undefined && attrs['dataFormat'] !== 'NHWC' && attrs['dataFormat'] !== 'channelsLast') {
    throw new Error(`${kernel} on wasm supports NHWC only; received dataFormat ${JSON.stringify(attrs['dataFormat'])}`);
  }
}

/**
 * Pads that give the input exactly the rows and columns the filter gradient reads: the top/left
 * padding of the forward pass, and at the bottom/right whatever makes s·(out − 1) + d·(f − 1) + 1
 * fit (TF.js may report an output size that reads past the padded input; those reads are zeros).
 */
function coveringPads(
  info: tf.backend_util.Conv2DInfo,
  [fh, fw]: readonly number[],
  [sh, sw]: [number, number],
  [dh, dw]: [number, number],
): [number, number, number, number] {
  const { top, left } = info.padInfo;
  const bottom = sh * (info.outHeight - 1) + dh * (fh! - 1) + 1 - (info.inHeight + top);
  const right = sw * (info.outWidth - 1) + dw * (fw! - 1) + 1 - (info.inWidth + left);
  return [top, bottom, left, right];
}

/**
 * dW[a, b, ci, co] = Σ_n,oh,ow xpad[n, s·oh + d·a, s·ow + d·b, ci] · dy[n, oh, ow, co]: a
 * 'valid' convolution of the padded input, batch and channels swapped, with the output gradient
 * as its filter — strides become dilations and dilations become strides.
 */
function conv2dBackpropFilter({ inputs, attrs, backend }: KernelArgs): TensorInfo {
  const a = (attrs ?? {}) as Attrs;
  checkLayout(a, 'Conv2DBackpropFilter');
  const x = inputs['x']!;
  const dy = inputs['dy']!;
  const filterShape = a['filterShape'] as [number, number, number, number];
  const strides = pair(a['strides']);
  const dilations = pair(a['dilations']);
  const info = convInfo(a, x.shape, filterShape);
  const scope = new KernelScope('wasm', backend as Backend);
  const padded = scope.padOrCrop(x, ...coveringPads(info, filterShape, strides, dilations));
  const xT = scope.transpose(padded, [3, 1, 2, 0]);
  const dyT = scope.transpose(dy, [1, 2, 0, 3]);
  const conv = scope.run('Conv2D', { x: xT, filter: dyT }, { strides: dilations, dilations: strides, pad: 'valid', dataFormat: 'NHWC' });
  const [cin, outH, outW, cout] = conv.shape as [number, number, number, number];
  const [fh, fw] = filterShape;
  const cropped = outH === fh && outW === fw ? conv : scope.run('Slice', { x: conv }, { begin: [0, 0, 0, 0], size: [cin, fh, fw, cout] });
  return scope.finish(scope.transpose(cropped, [1, 2, 0, 3]));
}

/**
 * dW[a, b, c] = Σ_n Σ_oh,ow xpad[n, s·oh + d·a, s·ow + d·b, c] · dy[n, oh, ow, c] (multiplier 1):
 * for each image and channel, a 'valid' depthwise convolution of the padded input with that
 * image's output gradient as the filter (strides become dilations and dilations strides), so the
 * batch and channels become the channels of one image; then summed over the batch. One XNNPACK
 * call where the tap-by-tap kernel below copies a strided slice of the input per tap.
 */
function depthwiseBackpropFilterByConv(
  scope: KernelScope,
  padded: TensorInfo,
  dy: TensorInfo,
  [fh, fw]: [number, number],
  strides: [number, number],
  dilations: [number, number],
): TensorInfo {
  const [n, height, width, channels] = padded.shape as [number, number, number, number];
  const [, outH, outW] = dy.shape as [number, number, number, number];
  const images = scope.reshape(scope.transpose(padded, [1, 2, 0, 3]), [1, height, width, n * channels]);
  const filters = scope.reshape(scope.transpose(dy, [1, 2, 0, 3]), [outH, outW, n * channels, 1]);
  const perImage = scope.run(
    'DepthwiseConv2dNative',
    { x: images, filter: filters },
    { strides: dilations, dilations: strides, pad: 'valid' },
  );
  const [, rows, columns] = perImage.shape as [number, number, number, number];
  const cropped =
    rows === fh && columns === fw
      ? perImage
      : scope.run('Slice', { x: perImage }, { begin: [0, 0, 0, 0], size: [1, fh, fw, n * channels] });
  const summed = scope.run('Sum', { x: scope.reshape(cropped, [fh, fw, n, channels]) }, { axis: [2], keepDims: false });
  return scope.reshape(summed, [fh, fw, channels, 1]);
}

/**
 * dW[a, b, c, m] = Σ_n,oh,ow xpad[n, s·oh + d·a, s·ow + d·b, c] · dy[n, oh, ow, c·M + m]: with
 * multiplier 1 and strides or dilations of 1, as one depthwise convolution (above); otherwise per
 * filter tap, a strided slice of the input times the output gradient, summed over the batch and
 * positions. One tap at a time keeps memory at one slice.
 */
function depthwiseBackpropFilter({ inputs, attrs, backend }: KernelArgs): TensorInfo {
  const a = (attrs ?? {}) as Attrs;
  checkLayout(a, 'DepthwiseConv2dNativeBackpropFilter');
  const x = inputs['x']!;
  const dy = inputs['dy']!;
  const filterShape = a['filterShape'] as [number, number, number, number];
  const [sh, sw] = pair(a['strides']);
  const [dh, dw] = pair(a['dilations']);
  const info = convInfo(a, x.shape, filterShape, true);
  const scope = new KernelScope('wasm', backend as Backend);
  const [fh, fw, channels, multiplier] = filterShape;
  const [n] = x.shape as [number];
  const [, outH, outW] = dy.shape as [number, number, number, number];
  const positions = n * outH * outW;
  const padded = scope.padOrCrop(x, ...coveringPads(info, filterShape, [sh, sw], [dh, dw]));
  if (multiplier === 1 && ((sh === 1 && sw === 1) || (dh === 1 && dw === 1)) && process.env['THAW_WASM_DEPTHWISE_TAPS'] !== '1')
    return scope.finish(depthwiseBackpropFilterByConv(scope, padded, dy, [fh, fw], [sh, sw], [dh, dw]));
  const dyRows = scope.reshape(dy, [positions, channels, multiplier]);
  const taps: TensorInfo[] = [];
  for (let i = 0; i < fh; i++) {
    for (let j = 0; j < fw; j++) {
      const slice = scope.run(
        'StridedSlice',
        { x: padded },
        {
          begin: [0, dh * i, dw * j, 0],
          end: [n, dh * i + sh * (outH - 1) + 1, dw * j + sw * (outW - 1) + 1, channels],
          strides: [1, sh, sw, 1],
          beginMask: 0,
          endMask: 0,
          ellipsisMask: 0,
          newAxisMask: 0,
          shrinkAxisMask: 0,
        },
      );
      const rows = scope.reshape(slice, [positions, channels, 1]);
      const product = scope.run('Multiply', { a: rows, b: dyRows });
      taps.push(scope.run('Sum', { x: product }, { axis: [0], keepDims: true }));
      (backend as Backend).disposeData(product.dataId);
      (backend as Backend).disposeData(slice.dataId);
    }
  }
  const stacked = taps.length === 1 ? taps[0]! : scope.run('Concat', taps as unknown as Record<string, TensorInfo>, { axis: 0 });
  return scope.finish(scope.reshape(stacked, [fh, fw, channels, multiplier]));
}

/**
 * dx = the spread output gradient (see spreadForTransposedConv) under a 'valid' depthwise convolution with the filter rotated by 180° (same dilation) gives the input's
 * size; with a channel multiplier M the M gradients of each input channel are summed.
 */
function depthwiseBackpropInput({ inputs, attrs, backend }: KernelArgs): TensorInfo {
  const a = (attrs ?? {}) as Attrs;
  checkLayout(a, 'DepthwiseConv2dNativeBackpropInput');
  const dy = inputs['dy']!;
  const filter = inputs['filter']!;
  const inputShape = a['inputShape'] as [number, number, number, number];
  const [sh, sw] = pair(a['strides']);
  const [dh, dw] = pair(a['dilations']);
  const [fh, fw, channels, multiplier] = filter.shape as [number, number, number, number];
  const info = convInfo(a, inputShape, filter.shape, true);
  const scope = new KernelScope('wasm', backend as Backend);
  const n = dy.shape[0]!;
  const [, height, width] = inputShape;
  const padded = scope.spreadForTransposedConv(dy, [height, width], [fh, fw], [sh, sw], [dh, dw], info.padInfo);
  const rotated = scope.run('Reverse', { x: filter }, { dims: [0, 1] });
  const perChannel = scope.reshape(rotated, [fh, fw, channels * multiplier, 1]);
  const conv = scope.run(
    'DepthwiseConv2dNative',
    { x: padded, filter: perChannel },
    { strides: [1, 1], dilations: [dh, dw], pad: 'valid' },
  );
  if (multiplier === 1) return scope.finish(conv);
  const split = scope.reshape(conv, [n, height, width, channels, multiplier]);
  return scope.finish(scope.run('Sum', { x: split }, { axis: [4], keepDims: false }));
}

/**
 * dx = the spread output gradient under a 'valid' convolution with the filter rotated by 180° and
 * its in/out channels swapped. Replaces wasm's own kernel, which is many times slower than its
 * XNNPACK forward convolution.
 */
function conv2dBackpropInput({ inputs, attrs, backend }: KernelArgs): TensorInfo {
  const a = (attrs ?? {}) as Attrs;
  checkLayout(a, 'Conv2DBackpropInput');
  const dy = inputs['dy']!;
  const filter = inputs['filter']!;
  const inputShape = a['inputShape'] as [number, number, number, number];
  const strides = pair(a['strides']);
  const dilations = pair(a['dilations']);
  const [fh, fw] = filter.shape as [number, number, number, number];
  const info = convInfo(a, inputShape, filter.shape);
  const scope = new KernelScope('wasm', backend as Backend);
  const padded = scope.spreadForTransposedConv(dy, [inputShape[1], inputShape[2]], [fh, fw], strides, dilations, info.padInfo);
  // A 1×1 filter is its own rotation.
  const rotated = scope.transpose(fh === 1 && fw === 1 ? filter : scope.run('Reverse', { x: filter }, { dims: [0, 1] }), [0, 1, 3, 2]);
  return scope.finish(
    scope.run('Conv2D', { x: padded, filter: rotated }, { strides: [1, 1], dilations, pad: 'valid', dataFormat: 'NHWC' }),
  );
}

/**
 * Tile where every tiled axis has size 1 is a broadcast (BatchNormalization's gradient does this
 * per batch): computed as zeros + x with wasm's broadcasting add, far faster than wasm's Tile.
 */
function tile(args: KernelArgs): TensorInfo {
  const x = args.inputs['x']!;
  const reps = (args.attrs as Attrs)['reps'] as number[];
  const broadcast = x.dtype === 'float32' && x.shape.every((size, axis) => size === 1 || reps[axis] === 1);
  if (!broadcast) {
    if (!wasmTile) throw new Error('wasm Tile kernel missing');
    return wasmTile.kernelFunc(args as Parameters<tf.KernelFunc>[0]) as TensorInfo;
  }
  const scope = new KernelScope('wasm', args.backend as Backend);
  const shape = x.shape.map((size, axis) => size * reps[axis]!);
  const zeros = scope.run('Fill', {}, { shape, value: 0, dtype: 'float32' });
  return scope.finish(scope.run('Add', { a: zeros, b: x }));
}

let wasmTile: tf.KernelConfig | undefined;

export const wasmTrainingKernels: readonly tf.KernelConfig[] = [
  { kernelName: 'Conv2DBackpropFilter', backendName: 'wasm', kernelFunc: conv2dBackpropFilter },
  { kernelName: 'DepthwiseConv2dNativeBackpropFilter', backendName: 'wasm', kernelFunc: depthwiseBackpropFilter },
  { kernelName: 'DepthwiseConv2dNativeBackpropInput', backendName: 'wasm', kernelFunc: depthwiseBackpropInput },
];

/** Kernels wasm has, replaced by faster compositions. */
export const wasmFasterKernels: readonly tf.KernelConfig[] = [
  { kernelName: 'Conv2DBackpropInput', backendName: 'wasm', kernelFunc: conv2dBackpropInput },
  { kernelName: 'Tile', backendName: 'wasm', kernelFunc: tile },
];

const registered = new Set<string>();

/** Registers the missing training kernels for wasm and the faster replacements (once per process). */
export function registerWasmTrainingKernels(): void {
  registerWasmMemoryKernels();
  for (const config of wasmTrainingKernels) {
    if (!tf.getKernel(config.kernelName, 'wasm')) tf.registerKernel(config);
  }
  for (const config of wasmFasterKernels) {
    if (registered.has(config.kernelName)) continue;
    const original = tf.getKernel(config.kernelName, 'wasm');
    if (config.kernelName === 'Tile') wasmTile = original;
    if (original) tf.unregisterKernel(config.kernelName, 'wasm');
    tf.registerKernel(config);
    registered.add(config.kernelName);
  }
}
