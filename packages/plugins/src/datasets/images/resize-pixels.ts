import { ThawError } from '@thaw/core';
import type { ImagePixels } from './image-pixels.js';

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
function nearestTaps(inSize: number, outSize: number): AxisTaps {
  const scale = f32(inSize / outSize);
  const starts = Int32Array.from({ length: outSize }, (_, x) => Math.min(inSize - 1, Math.floor(f32(f32(x + 0.5) * scale))));
  return { starts, span: 1, weights: new Float64Array(outSize).fill(1) };
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
 * Resizes to [height, width] the way Keras' tf.image.resize does (half-pixel centres, no
 * antialiasing), rounding to bytes. libvips' kernels (sharp's `linear`, `cubic`…) are not used:
 * they sit a quarter pixel off TF's grid when enlarging and widen into antialiasing filters when
 * shrinking, so the pixels would differ from a Keras run on the same folder.
 */
export function resizePixels(image: ImagePixels, height: number, width: number, interpolation: Interpolation): ImagePixels {
  if (!Number.isInteger(height) || !Number.isInteger(width) || height < 1 || width < 1) {
    throw new ThawError(`resize: received size [${height}, ${width}]; expected two positive integers [height, width]`);
  }
  if (image.height === height && image.width === width) return image;
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
