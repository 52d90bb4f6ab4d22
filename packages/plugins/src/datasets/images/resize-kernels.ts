import type { ImagePixels } from './image-pixels.js';

// This module imports nothing from @thaw/core: the decoding worker threads load it (see decode-pool.ts).

/** The resize methods offered, named as Keras names them. */
export const INTERPOLATIONS = ['bilinear', 'nearest', 'bicubic', 'area', 'lanczos3'] as const;
export type Interpolation = (typeof INTERPOLATIONS)[number];

/**
 * For each output pixel along one axis: the input pixels it reads and their weights. `weights`
 * holds `span` slots per output pixel; unused slots are 0.
 */
interface AxisTaps {
  readonly starts: Int32Array;
  readonly span: number;
  readonly weights: Float64Array;
}

// TF computes its scales and sampling positions in float32; doing the same keeps `nearest` on the same pixels.
const f32 = Math.fround;

const KERNELS: Record<'bilinear' | 'bicubic' | 'lanczos3', { radius: number; weight: (x: number) => number }> = {
  bilinear: { radius: 1, weight: (x) => Math.max(0, 1 - x) },
  // Keys' cubic with a = -0.5 (Catmull-Rom), what tf.image.resize uses with half-pixel centres.
  bicubic: {
    radius: 2,
    weight: (x) => (x < 1 ? (1.5 * x - 2.5) * x * x + 1 : x < 2 ? ((-0.5 * x + 2.5) * x - 4) * x + 2 : 0),
  },
  lanczos3: {
    radius: 3,
    weight: (x) => (x >= 3 ? 0 : x <= 1e-3 ? 1 : (3 * Math.sin(Math.PI * x) * Math.sin((Math.PI * x) / 3)) / (Math.PI * Math.PI * x * x)),
  },
};

/**
 * Taps of a kernel sampled at half-pixel centres without antialiasing, the scheme of TF's
 * scale_and_translate (and, for bilinear and bicubic, of its resize ops with half_pixel_centers):
 * taps outside the image are dropped and the rest renormalised.
 */
function kernelTaps(inSize: number, outSize: number, kernel: { radius: number; weight: (x: number) => number }): AxisTaps {
  const scale = f32(inSize / outSize);
  const span = Math.min(2 * kernel.radius + 1, inSize);
  const starts = new Int32Array(outSize);
  const weights = new Float64Array(outSize * span);
  for (let x = 0; x < outSize; x++) {
    const centre = f32(f32(x + 0.5) * scale);
    const first = Math.max(0, Math.ceil(centre - kernel.radius - 0.5));
    const last = Math.min(inSize - 1, Math.floor(centre + kernel.radius - 0.5));
    starts[x] = first;
    let sum = 0;
    for (let j = first; j <= last && j - first < span; j++) {
      const w = kernel.weight(Math.abs(j + 0.5 - centre));
      weights[x * span + j - first] = w;
      sum += w;
    }
    if (sum !== 0) for (let k = 0; k < span; k++) weights[x * span + k]! /= sum;
  }
  return { starts, span, weights };
}

/** tf.image.resize's nearest with half-pixel centres: floor((x + 0.5) · scale). */
function nearestStarts(inSize: number, outSize: number): Int32Array {
  const scale = f32(inSize / outSize);
  return Int32Array.from({ length: outSize }, (_, x) => Math.min(inSize - 1, Math.floor(f32(f32(x + 0.5) * scale))));
}

function nearestTaps(inSize: number, outSize: number): AxisTaps {
  return { starts: nearestStarts(inSize, outSize), span: 1, weights: new Float64Array(outSize).fill(1) };
}

/** tf.image.resize's area: each output pixel averages the input it covers, fractions of pixels included. */
function areaTaps(inSize: number, outSize: number): AxisTaps {
  const scale = inSize / outSize;
  const span = Math.ceil(scale) + 1;
  const starts = new Int32Array(outSize);
  const weights = new Float64Array(outSize * span);
  for (let x = 0; x < outSize; x++) {
    const from = x * scale;
    const to = (x + 1) * scale;
    const first = Math.min(inSize - 1, Math.floor(from));
    starts[x] = first;
    let sum = 0;
    for (let j = first; j < Math.min(inSize, Math.ceil(to)) && j - first < span; j++) {
      const w = Math.min(j + 1, to) - Math.max(j, from);
      weights[x * span + j - first] = w;
      sum += w;
    }
    for (let k = 0; k < span; k++) weights[x * span + k]! /= sum;
  }
  return { starts, span, weights };
}

function axisTaps(inSize: number, outSize: number, interpolation: Interpolation): AxisTaps {
  if (interpolation === 'nearest') return nearestTaps(inSize, outSize);
  if (interpolation === 'area') return areaTaps(inSize, outSize);
  return kernelTaps(inSize, outSize, KERNELS[interpolation]);
}

/**
 * Any method, any number of channels: along the width into float64s for the input rows that are
 * read, then along the height, rounding to bytes. The fast paths below must give its bytes.
 */
export function resizeGeneric(image: ImagePixels, height: number, width: number, interpolation: Interpolation): ImagePixels {
  const { channels } = image;
  const rows = axisTaps(image.height, height, interpolation);
  const cols = axisTaps(image.width, width, interpolation);

  // Shrinking without antialiasing reads few input rows (2 per output row for bilinear): only those are resized along the width.
  const needed = new Uint8Array(image.height);
  rows.weights.forEach((w, i) => {
    if (w !== 0) needed[rows.starts[Math.floor(i / rows.span)]! + (i % rows.span)] = 1;
  });
  // Along the width first, into floats: [inHeight, width, channels]. Hot loops read locals only.
  const source = image.data;
  const inWidth = image.width;
  const { starts: colStarts, span: colSpan, weights: colWeights } = cols;
  const between = new Float64Array(image.height * width * channels);
  for (let y = 0; y < image.height; y++) {
    if (needed[y] === 0) continue;
    const inRow = y * inWidth * channels;
    const outRow = y * width * channels;
    for (let x = 0; x < width; x++) {
      const first = inRow + colStarts[x]! * channels;
      const out = outRow + x * channels;
      for (let k = 0; k < colSpan; k++) {
        const w = colWeights[x * colSpan + k]!;
        if (w === 0) continue;
        const at = first + k * channels;
        for (let c = 0; c < channels; c++) between[out + c]! += w * source[at + c]!;
      }
    }
  }
  // Then along the height, rounding to bytes (bicubic and lanczos overshoot, hence the clamp).
  const rowLength = width * channels;
  const { starts: rowStarts, span: rowSpan, weights: rowWeights } = rows;
  const sums = new Float64Array(rowLength);
  const data = new Uint8Array(height * rowLength);
  for (let y = 0; y < height; y++) {
    sums.fill(0);
    for (let k = 0; k < rowSpan; k++) {
      const w = rowWeights[y * rowSpan + k]!;
      if (w === 0) continue;
      const from = (rowStarts[y]! + k) * rowLength;
      for (let i = 0; i < rowLength; i++) sums[i]! += w * between[from + i]!;
    }
    const out = y * rowLength;
    for (let i = 0; i < rowLength; i++) data[out + i] = Math.min(255, Math.max(0, Math.round(sums[i]!)));
  }
  return { data, height, width, channels };
}

/**
 * Bilinear taps as pairs: for each output pixel, the first and second input pixels of non-zero
 * weight (in the generic loop's order) and their weights, from the same table. A pixel with one
 * such tap gets a second of weight 0 on the same input: adding 0·p to a sum changes no bit, so
 * `w0·p0 + w1·p1` is the generic loop's `0 + w0·p0 + w1·p1` exactly. A triangle of radius 1 is
 * non-zero on at most two pixels; a table that says otherwise gives undefined.
 */
function bilinearPairs(
  inSize: number,
  outSize: number,
): { first: Int32Array; second: Int32Array; w0: Float64Array; w1: Float64Array } | undefined {
  const { starts, span, weights } = kernelTaps(inSize, outSize, KERNELS.bilinear);
  const first = new Int32Array(outSize);
  const second = new Int32Array(outSize);
  const w0 = new Float64Array(outSize);
  const w1 = new Float64Array(outSize);
  for (let x = 0; x < outSize; x++) {
    let found = 0;
    for (let k = 0; k < span; k++) {
      const w = weights[x * span + k]!;
      if (w === 0) continue;
      if (found === 0) {
        first[x] = second[x] = starts[x]! + k;
        w0[x] = w;
      } else if (found === 1) {
        second[x] = starts[x]! + k;
        w1[x] = w;
      } else {
        return undefined;
      }
      found++;
    }
  }
  return { first, second, w0, w1 };
}

/**
 * Input row `row` (its offset in `source`) resized along the width into `out`, as the generic
 * loop's intermediate row. `taps` holds each output pixel's two input offsets within the row,
 * `weights` their weights, interleaved. Top-level functions of a few arguments, not closures:
 * V8 keeps them monomorphic and their loop variables in registers.
 */
function bilinearRow3(source: Uint8Array, row: number, taps: Int32Array, weights: Float64Array, width: number, out: Float64Array): void {
  for (let x = 0; x < width; x++) {
    const a = row + taps[2 * x]!;
    const b = row + taps[2 * x + 1]!;
    const wa = weights[2 * x]!;
    const wb = weights[2 * x + 1]!;
    const o = 3 * x;
    out[o] = wa * source[a]! + wb * source[b]!;
    out[o + 1] = wa * source[a + 1]! + wb * source[b + 1]!;
    out[o + 2] = wa * source[a + 2]! + wb * source[b + 2]!;
  }
}

function bilinearRow1(source: Uint8Array, row: number, taps: Int32Array, weights: Float64Array, width: number, out: Float64Array): void {
  for (let x = 0; x < width; x++)
    out[x] = weights[2 * x]! * source[row + taps[2 * x]!]! + weights[2 * x + 1]! * source[row + taps[2 * x + 1]!]!;
}

function bilinearRowAny(
  source: Uint8Array,
  row: number,
  taps: Int32Array,
  weights: Float64Array,
  width: number,
  out: Float64Array,
  channels: number,
): void {
  for (let x = 0; x < width; x++) {
    const a = row + taps[2 * x]!;
    const b = row + taps[2 * x + 1]!;
    const wa = weights[2 * x]!;
    const wb = weights[2 * x + 1]!;
    const o = x * channels;
    for (let c = 0; c < channels; c++) out[o + c] = wa * source[a + c]! + wb * source[b + c]!;
  }
}

/** Two resized rows weighed into one output row. Both weights lie in [0, 1] and add up to 1 within a rounding error, so the sum stays within [0, 255.5): no clamp. */
function bilinearBlend(
  data: Uint8Array,
  at: number,
  upper: Float64Array,
  lower: Float64Array,
  wa: number,
  wb: number,
  length: number,
): void {
  for (let i = 0; i < length; i++) data[at + i] = Math.round(wa * upper[i]! + wb * lower[i]!);
}

/** Bilinear with the generic loop's arithmetic, two taps a pixel, rows resized along the width only when first read. */
function resizeBilinear(image: ImagePixels, height: number, width: number): ImagePixels | undefined {
  const rows = bilinearPairs(image.height, height);
  const cols = bilinearPairs(image.width, width);
  if (rows === undefined || cols === undefined) return undefined;
  const { channels, data: source } = image;
  const inRowLength = image.width * channels;
  const rowLength = width * channels;
  const taps = new Int32Array(2 * width);
  const weights = new Float64Array(2 * width);
  for (let x = 0; x < width; x++) {
    taps[2 * x] = cols.first[x]! * channels;
    taps[2 * x + 1] = cols.second[x]! * channels;
    weights[2 * x] = cols.w0[x]!;
    weights[2 * x + 1] = cols.w1[x]!;
  }
  const resizeRow = (y: number, out: Float64Array): void => {
    if (channels === 3) bilinearRow3(source, y * inRowLength, taps, weights, width, out);
    else if (channels === 1) bilinearRow1(source, y * inRowLength, taps, weights, width, out);
    else bilinearRowAny(source, y * inRowLength, taps, weights, width, out, channels);
  };

  // Two resized input rows at a time: the rows an output row reads never go back up.
  let upper = new Float64Array(rowLength);
  let lower = new Float64Array(rowLength);
  let upperRow = -1;
  let lowerRow = -1;
  const data = new Uint8Array(height * rowLength);
  for (let y = 0; y < height; y++) {
    const a = rows.first[y]!;
    const b = rows.second[y]!;
    if (a !== upperRow) {
      if (a === lowerRow) {
        [upper, lower] = [lower, upper];
        lowerRow = -1;
      } else {
        resizeRow(a, upper);
      }
      upperRow = a;
    }
    let bottom = upper;
    if (b !== a) {
      if (b !== lowerRow) {
        resizeRow(b, lower);
        lowerRow = b;
      }
      bottom = lower;
    }
    bilinearBlend(data, y * rowLength, upper, bottom, rows.w0[y]!, rows.w1[y]!, rowLength);
  }
  return { data, height, width, channels };
}

/** Nearest copies input pixels: the generic loop's `round(0 + 1 · (0 + 1 · p))` is p. */
function resizeNearest(image: ImagePixels, height: number, width: number): ImagePixels {
  const { channels, data: source } = image;
  const rowStarts = nearestStarts(image.height, height);
  const cols = nearestStarts(image.width, width).map((x) => x * channels);
  const inRowLength = image.width * channels;
  const rowLength = width * channels;
  const data = new Uint8Array(height * rowLength);
  for (let y = 0; y < height; y++) {
    const row = rowStarts[y]! * inRowLength;
    const out = y * rowLength;
    if (channels === 3) {
      for (let x = 0, o = out; x < width; x++, o += 3) {
        const at = row + cols[x]!;
        data[o] = source[at]!;
        data[o + 1] = source[at + 1]!;
        data[o + 2] = source[at + 2]!;
      }
    } else if (channels === 1) {
      for (let x = 0; x < width; x++) data[out + x] = source[row + cols[x]!]!;
    } else {
      for (let x = 0; x < width; x++) data.set(source.subarray(row + cols[x]!, row + cols[x]! + channels), out + x * channels);
    }
  }
  return { data, height, width, channels };
}

/**
 * Resizes to [height, width] (positive integers, not checked here) as tf.image.resize does: fast
 * paths for bilinear and nearest, the generic loop for the others, the same bytes either way.
 */
export function resizeImage(image: ImagePixels, height: number, width: number, interpolation: Interpolation): ImagePixels {
  if (image.height === height && image.width === width) return image;
  if (interpolation === 'nearest') return resizeNearest(image, height, width);
  if (interpolation === 'bilinear') return resizeBilinear(image, height, width) ?? resizeGeneric(image, height, width, interpolation);
  return resizeGeneric(image, height, width, interpolation);
}
