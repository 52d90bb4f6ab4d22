import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { expect } from 'chai';
import { SeededRandom, registerCpuKernelFixes, registerWasmTrainingKernels } from '@thaw/core';

type Case = { name: string; inputs: Record<string, number[]>; attrs: Record<string, unknown> };

/** Runs one kernel on a backend with the given inputs; returns its values. */
async function runOn(
  backend: string,
  kernel: string,
  inputs: Record<string, Float32Array>,
  shapes: Record<string, number[]>,
  attrs: Record<string, unknown>,
) {
  const previous = tf.getBackend();
  await tf.setBackend(backend);
  try {
    const tensors = Object.fromEntries(Object.entries(inputs).map(([key, values]) => [key, tf.tensor(values, shapes[key])]));
    const out = tf.engine().runKernel<tf.Tensor>(kernel, tensors, attrs as tf.NamedAttrMap);
    const result = { shape: out.shape, values: await out.data() };
    tf.dispose([out, ...Object.values(tensors)]);
    return result;
  } finally {
    await tf.setBackend(previous);
  }
}

/** Inserts (d − 1) zeros between the taps of a filter [fh, fw, c, m]: a dilated filter as a plain one. */
function dilateFilter(values: Float32Array, [fh, fw, c, m]: number[], d: number): { values: Float32Array; shape: number[] } {
  const eh = (fh! - 1) * d + 1;
  const ew = (fw! - 1) * d + 1;
  const out = new Float32Array(eh * ew * c! * m!);
  for (let a = 0; a < fh!; a++)
    for (let b = 0; b < fw!; b++)
      for (let k = 0; k < c! * m!; k++) out[(a * d * ew + b * d) * c! * m! + k] = values[(a * fw! + b) * c! * m! + k]!;
  return { values: out, shape: [eh, ew, c!, m!] };
}

/**
 * The cpu backend's result. Its depthwise gradient kernels ignore dilation (TF.js never asks for a
 * dilated gradient), so a dilated case is computed as the undilated one with a zero-spread filter.
 */
async function cpuReference(
  kernel: string,
  values: Record<string, Float32Array>,
  shapes: Record<string, number[]>,
  attrs: Record<string, unknown>,
) {
  const d = (attrs['dilations'] as number[] | undefined)?.[0] ?? 1;
  if (d === 1) return runOn('cpu', kernel, values, shapes, attrs);
  const plain = { ...attrs, dilations: [1, 1] };
  if (kernel === 'DepthwiseConv2dNativeBackpropInput') {
    const filter = dilateFilter(values['filter']!, shapes['filter']!, d);
    return runOn('cpu', kernel, { ...values, filter: filter.values }, { ...shapes, filter: filter.shape }, plain);
  }
  const filterShape = attrs['filterShape'] as number[];
  const [fh, fw, c, m] = filterShape as [number, number, number, number];
  const spread = dilateFilter(new Float32Array(fh * fw * c * m), filterShape, d).shape;
  const full = await runOn('cpu', kernel, values, shapes, { ...plain, filterShape: spread });
  const ew = spread[1]!;
  const picked = new Float32Array(fh * fw * c * m);
  for (let a = 0; a < fh; a++)
    for (let b = 0; b < fw; b++)
      for (let k = 0; k < c * m; k++) picked[(a * fw + b) * c * m + k] = full.values[(a * d * ew + b * d) * c * m + k]!;
  return { shape: filterShape, values: picked };
}

function cases(random: SeededRandom): Case[] {
  const pick = <T>(options: readonly T[]) => options[Math.floor(random.next() * options.length)]!;
  const out: Case[] = [];
  for (let i = 0; i < 24; i++) {
    const n = pick([1, 2, 3]);
    const h = pick([5, 7, 8, 12]);
    const w = pick([5, 6, 9]);
    const cin = pick([1, 3, 4]);
    const cout = pick([1, 2, 5]);
    const multiplier = pick([1, 1, 2]);
    const fh = pick([1, 2, 3]);
    const fw = pick([1, 3]);
    const stride = pick([1, 2, 3]);
    const dilation = stride === 1 ? pick([1, 2]) : 1;
    const pad = pick(['same', 'valid', 1] as const);
    const info = tf.backend_util.computeConv2DInfo([n, h, w, cin], [fh, fw, cin, cout], [stride, stride], [dilation, dilation], pad);
    if (info.outHeight < 1 || info.outWidth < 1) continue;
    const depthInfo = tf.backend_util.computeConv2DInfo(
      [n, h, w, cin],
      [fh, fw, cin, multiplier],
      [stride, stride],
      [dilation, dilation],
      pad,
      undefined,
      true,
    );
    const shape = `x ${n}×${h}×${w}×${cin} filter ${fh}×${fw} stride ${stride} dilation ${dilation} pad ${pad}`;
    // TF.js computes conv2d gradients only without dilation (its cpu kernels ignore the attribute).
    if (dilation === 1) {
      out.push({
        name: `Conv2DBackpropFilter ${shape} cout ${cout}`,
        inputs: { x: [n, h, w, cin], dy: [n, info.outHeight, info.outWidth, cout] },
        attrs: { strides: [stride, stride], pad, dataFormat: 'NHWC', filterShape: [fh, fw, cin, cout] },
      });
      out.push({
        name: `Conv2DBackpropInput ${shape} cout ${cout}`,
        inputs: { dy: [n, info.outHeight, info.outWidth, cout], filter: [fh, fw, cin, cout] },
        attrs: { strides: [stride, stride], pad, dataFormat: 'NHWC', inputShape: [n, h, w, cin] },
      });
    }
    out.push({
      name: `DepthwiseConv2dNativeBackpropFilter ${shape} multiplier ${multiplier}`,
      inputs: { x: [n, h, w, cin], dy: [n, depthInfo.outHeight, depthInfo.outWidth, cin * multiplier] },
      attrs: { strides: [stride, stride], pad, dilations: [dilation, dilation], filterShape: [fh, fw, cin, multiplier] },
    });
    out.push({
      name: `DepthwiseConv2dNativeBackpropInput ${shape} multiplier ${multiplier}`,
      inputs: { dy: [n, depthInfo.outHeight, depthInfo.outWidth, cin * multiplier], filter: [fh, fw, cin, multiplier] },
      attrs: { strides: [stride, stride], pad, dilations: [dilation, dilation], inputShape: [n, h, w, cin] },
    });
  }
  // Pointwise convolutions (MobileNetV2's expand and project layers), whose filter gradient has a path of its own.
  for (const [n, h, w, cin, cout, pad] of [
    [2, 5, 6, 3, 4, 'same'],
    [1, 7, 5, 5, 2, 'valid'],
    [3, 4, 4, 8, 6, 0],
  ] as const) {
    out.push({
      name: `Conv2DBackpropFilter x ${n}×${h}×${w}×${cin} filter 1×1 stride 1 dilation 1 pad ${pad} cout ${cout}`,
      inputs: { x: [n, h, w, cin], dy: [n, h, w, cout] },
      attrs: { strides: [1, 1], pad, dataFormat: 'NHWC', filterShape: [1, 1, cin, cout] },
    });
  }
  return out;
}

describe('wasm training kernels', () => {
  before(() => registerWasmTrainingKernels());

  let largest = 0;
  after(() => process.stderr.write(`      largest relative error against the cpu backend: ${largest.toExponential(2)}\n`));

  for (const testCase of cases(new SeededRandom(7))) {
    it(`agrees with cpu: ${testCase.name}`, async () => {
      const random = new SeededRandom(testCase.name.length);
      const values = Object.fromEntries(
        Object.entries(testCase.inputs).map(([key, shape]) => [
          key,
          Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => random.uniform(-1, 1)),
        ]),
      );
      const kernel = testCase.name.split(' ')[0]!;
      const cpu = await cpuReference(kernel, values, testCase.inputs, testCase.attrs);
      const wasm = await runOn('wasm', kernel, values, testCase.inputs, testCase.attrs);
      expect(wasm.shape).to.deep.equal(cpu.shape);
      const scale = Math.max(1e-6, ...Array.from(cpu.values, Math.abs));
      const error = Math.max(0, ...Array.from(cpu.values, (value, i) => Math.abs(value - wasm.values[i]!))) / scale;
      largest = Math.max(largest, error);
      expect(error).to.be.below(1e-4);
    });
  }

  it('trains a convolution on wasm, matching the gradient cpu computes', async () => {
    const random = new SeededRandom(11);
    const xValues = Float32Array.from({ length: 2 * 9 * 9 * 3 }, () => random.uniform(-1, 1));
    const wValues = Float32Array.from({ length: 3 * 3 * 3 * 4 }, () => random.uniform(-1, 1));
    const gradients = async (backend: string) => {
      await tf.setBackend(backend);
      const x = tf.tensor4d(xValues, [2, 9, 9, 3]);
      const w = tf.tensor4d(wValues, [3, 3, 3, 4]);
      const grads = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf
          .conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same')
          .square()
          .sum(),
      )([x, w]);
      const values = await Promise.all(grads.map((g) => g.data()));
      tf.dispose([x, w, ...grads]);
      return values;
    };
    const previous = tf.getBackend();
    const cpu = await gradients('cpu');
    const wasm = await gradients('wasm');
    await tf.setBackend(previous);
    cpu.forEach((values, k) => values.forEach((value, i) => expect(wasm[k]![i]).to.be.closeTo(value, 1e-3 * Math.max(1, Math.abs(value)))));
  });
});

describe('wasm memory kernels', () => {
  before(() => registerWasmTrainingKernels());

  /** Runs f on a backend; returns the values of what it gives. */
  async function on(backend: string, f: () => tf.Tensor | tf.Tensor[]): Promise<Float32Array[]> {
    const previous = tf.getBackend();
    await tf.setBackend(backend);
    try {
      const out = f();
      const list: tf.Tensor[] = Array.isArray(out) ? out : [out];
      const values = await Promise.all(list.map(async (t) => Float32Array.from(await t.data())));
      tf.dispose(list);
      return values;
    } finally {
      await tf.setBackend(previous);
    }
  }

  it('Identity shares the input’s memory, and either can be freed first', async () => {
    const previous = tf.getBackend();
    await tf.setBackend('wasm');
    try {
      const before = tf.memory().numTensors;
      const x = tf.tensor1d([1, 2, 3]);
      const copy = tf.clone(x);
      expect(copy.dataId).to.equal(x.dataId);
      x.dispose();
      expect(Array.from(await copy.data())).to.deep.equal([1, 2, 3]);
      copy.dispose();
      expect(tf.memory().numTensors).to.equal(before);
    } finally {
      await tf.setBackend(previous);
    }
  });

  for (const [shape, sizes, axis] of [
    [[17], [3, 0, 9, 5], 0],
    [[4, 7, 3], [2, 5], 1],
    [[2, 3, 6], [1, 4, 1], 2],
    [[5, 2], 5, 0],
  ] as [number[], number[] | number, number][]) {
    it(`SplitV agrees with cpu: ${JSON.stringify(shape)} into ${JSON.stringify(sizes)} along axis ${axis}`, async () => {
      const values = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => i + 0.5);
      const split = () => tf.split(tf.tensor(values, shape), sizes, axis);
      const cpu = await on('cpu', split);
      const wasm = await on('wasm', split);
      expect(wasm.map((v) => Array.from(v))).to.deep.equal(cpu.map((v) => Array.from(v)));
    });
  }

  it('ClipByValue’s gradient agrees with cpu, bit for bit, at the bounds and for NaN', async () => {
    const xs = [-1, -0.5, 0, 0.25, 6, 6.000001, 7, NaN, 5.999999, -0];
    const dys = xs.map((_, i) => (i + 1) * 0.1);
    const gradient = () => tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tf.clipByValue(x, 0, 6), tf.tensor1d(dys))))(tf.tensor1d(xs));
    const cpu = await on('cpu', gradient);
    const wasm = await on('wasm', gradient);
    expect(Array.from(wasm[0]!)).to.deep.equal(Array.from(cpu[0]!));
    expect(Array.from(wasm[0]!).filter((v) => v === 0)).to.have.length(5);
  });
});

describe('image transform kernels', () => {
  const random = new SeededRandom(5);
  const pixels = Float32Array.from({ length: 3 * 9 * 7 * 2 }, () => random.next());
  const transforms = [0.9, -0.2, 1.5, 0.25, 1.1, -0.5, 0, 0, -1, 0, 6, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0];
  const run = async (backend: string) => {
    const previous = tf.getBackend();
    await tf.setBackend(backend);
    const out = tf.image.transform(tf.tensor4d(pixels, [3, 9, 7, 2]), tf.tensor2d(transforms, [3, 8]), 'bilinear', 'nearest');
    const values = await out.data();
    out.dispose();
    await tf.setBackend(previous);
    return values;
  };

  it('cpu transforms every image of a batch (TF.js alone stops after the first), as wasm does', async () => {
    registerCpuKernelFixes();
    const wasm = await run('wasm');
    const cpu = await run('cpu');
    expect(Array.from(wasm.subarray(2 * 9 * 7 * 2)).some((v) => v !== 0)).to.equal(true);
    wasm.forEach((value, i) => expect(cpu[i]).to.be.closeTo(value, 1e-5));
  });

  it('native transform agrees with wasm (skipped where no native backend loads)', async function () {
    if (!tf.findBackend('tensorflow')) this.skip();
    const wasm = await run('wasm');
    const native = await run('tensorflow');
    wasm.forEach((value, i) => expect(native[i]).to.be.closeTo(value, 1e-5));
  });
});
