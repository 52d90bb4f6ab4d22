/**
 * Images per second of thaw's image pipeline (packages/plugins/src/datasets/images: folder
 * listing, sharp decoding, the TF-equivalent resize, the pixel cache) on a folder of JPEGs in
 * class sub-folders, resized to 160×160 RGB bilinear, and, with --keras, of Keras'
 * image_dataset_from_directory on the same folder (bench/keras_image_pipeline.py).
 *   node bench/dist/image-pipeline.js [--keras] [--dir DIR] [--classes 2] [--per-class 500]
 *     [--width 300-500] [--size 160] [--concurrency 1,2,4] [--backend auto|wasm|…] [--no-profile]
 * Without --dir, the images are made once (seeded gradients, shapes and noise, JPEG quality 85)
 * under bench/results/ and reused; a --dir holding no images of this bench is read as it is.
 * Keras runs in the Python of THAW_KERAS_PYTHON (default python3). decodeImage decodes on
 * THAW_DECODE_THREADS worker threads (default: one per core, at least 2); one row decodes on the
 * main thread (THAW_DECODE_THREADS=0) for comparison.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { selectBackend, type BackendName } from '@thaw/core';
import {
  PixelCache,
  closeDecodePool,
  decodeImage,
  decodeThreads,
  listImageFolder,
  resizePixels,
  resizePixelsGeneric,
  type ImagePixels,
  type PixelCacheOptions,
} from '@thaw/plugins';
import { paintImage, random } from './synthetic-image.js';

const BATCH = 32;
/** Raise when the generated images change, so folders made by an older version are made again. */
const GENERATOR_VERSION = 1;
const MARKER = 'bench-images.json';

const { values } = parseArgs({
  options: {
    dir: { type: 'string' },
    classes: { type: 'string', default: '2' },
    'per-class': { type: 'string', default: '500' },
    width: { type: 'string', default: '300-500' },
    size: { type: 'string', default: '160' },
    concurrency: { type: 'string', default: '1,2,4' },
    backend: { type: 'string', default: 'auto' },
    keras: { type: 'boolean', default: false },
    'no-profile': { type: 'boolean', default: false },
  },
});

function positiveInteger(text: string, option: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${option}: received ${JSON.stringify(text)}; expected a positive integer`);
  return n;
}
const classes = positiveInteger(values.classes, 'classes');
const perClass = positiveInteger(values['per-class'], 'per-class');
const size = positiveInteger(values.size, 'size');
const concurrencies = values.concurrency.split(',').map((c) => positiveInteger(c, 'concurrency'));
const widthMatch = /^(\d+)(?:-(\d+))?$/.exec(values.width);
if (!widthMatch) throw new Error(`--width: received ${JSON.stringify(values.width)}; expected a width or a range such as 300-500`);
const minWidth = Number(widthMatch[1]);
const maxWidth = Number(widthMatch[2] ?? widthMatch[1]);
const decodeOptions = { size: [size, size], colorMode: 'rgb', interpolation: 'bilinear' } as const;
const imageLength = size * size * 3;
const log: PixelCacheOptions['log'] = { info: () => undefined, warn: (message) => console.warn(message) };

/**
 * One photo-like image: a two-colour gradient, a few soft-edged ellipses and per-pixel noise, so the
 * JPEG holds detail in every block (about the bytes per pixel of the cats-vs-dogs photos).
 */
function syntheticImage(seed: number): { data: Buffer; width: number; height: number } {
  const next = random(seed);
  const width = minWidth + Math.floor(next() * (maxWidth - minWidth + 1));
  // Cats-vs-dogs shapes: mostly landscape, some portrait (height 0.65–1.25 × width).
  const height = Math.max(32, Math.round(width * (0.65 + next() * 0.6)));
  const data = paintImage(next, width, height, { min: 3, spread: 6 });
  return { data, width, height };
}

/** Makes the folder unless it already holds these images; returns a line saying which. */
async function prepareFolder(dir: string, own: boolean): Promise<string> {
  const wanted = { version: GENERATOR_VERSION, classes, perClass, minWidth, maxWidth };
  const marker = await readFile(join(dir, MARKER), 'utf8').then(
    (text) => JSON.parse(text) as unknown,
    () => undefined,
  );
  if (marker !== undefined && JSON.stringify(marker) === JSON.stringify(wanted)) return `reused ${dir}`;
  const exists = await stat(dir).then(
    () => true,
    () => false,
  );
  if (exists && marker === undefined && !own) return `read ${dir} as it is (not made by this bench)`;
  if (exists) await rm(dir, { recursive: true });
  const started = performance.now();
  let bytes = 0;
  for (let label = 0; label < classes; label++) {
    const classDir = join(dir, `class${label}`);
    await mkdir(classDir, { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const { data, width, height } = syntheticImage(1 + label * 1_000_003 + i);
      const file = join(classDir, `image${String(i).padStart(5, '0')}.jpg`);
      const info = await sharp(data, { raw: { width, height, channels: 3 } })
        .jpeg({ quality: 85 })
        .toFile(file);
      bytes += info.size;
    }
  }
  await writeFile(join(dir, MARKER), JSON.stringify(wanted));
  const count = classes * perClass;
  return `made ${count} JPEGs (${(bytes / count / 1024).toFixed(0)} KB each on average) in ${dir} in ${((performance.now() - started) / 1000).toFixed(1)} s`;
}

/** Runs `work` on 0 … count-1 with at most `concurrency` calls in flight. */
async function pool(count: number, concurrency: number, work: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) await work(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

/**
 * Images per second of `pass`, which handles `count` images; a pass that can be repeated runs again
 * until 2 s have gone by, so short passes (the warm ones) are not one scheduler hiccup long.
 */
async function rate(count: number, pass: () => Promise<void>, repeatable = true): Promise<number> {
  const started = performance.now();
  let passes = 0;
  do {
    await pass();
    passes++;
  } while (repeatable && performance.now() - started < 2000);
  return (passes * count) / ((performance.now() - started) / 1000);
}

/**
 * Float32 batches of 32 as training sees them (values 0–255, as Keras gives them), in file order
 * whatever order the images arrive in: each image is converted into its batch's slot, and a full
 * batch becomes a tensor (copied into the backend's memory) with its labels.
 */
async function floatBatches(labels: readonly number[], concurrency: number, get: (index: number) => Promise<ImagePixels>): Promise<void> {
  const count = labels.length;
  const open = new Map<number, { data: Float32Array; filled: number }>();
  await pool(count, concurrency, async (index) => {
    const pixels = await get(index);
    const b = Math.floor(index / BATCH);
    let batch = open.get(b);
    if (!batch) {
      batch = { data: new Float32Array(Math.min(BATCH, count - b * BATCH) * imageLength), filled: 0 };
      open.set(b, batch);
    }
    batch.data.set(pixels.data, (index % BATCH) * imageLength);
    if (++batch.filled * imageLength === batch.data.length) {
      open.delete(b);
      const rows = batch.filled;
      const x = tf.tensor4d(batch.data, [rows, size, size, 3]);
      const y = tf.tensor1d(labels.slice(b * BATCH, b * BATCH + rows), 'int32');
      tf.dispose([x, y]);
    }
  });
}

interface KerasFigures {
  readonly keras: string;
  readonly tensorflow: string;
  readonly images: number;
  readonly cold: number;
  readonly prefetch: number;
  readonly cache_first: number;
  readonly warm: number;
  readonly disk_warm: number;
}

/** Runs bench/keras_image_pipeline.py; its figures, or why there are none. */
async function runKeras(dir: string): Promise<KerasFigures | string> {
  const python = process.env['THAW_KERAS_PYTHON'] ?? 'python3';
  const script = resolve(import.meta.dirname, '../keras_image_pipeline.py');
  const child = spawn(python, [script, dir, '--size', String(size), '--batch', String(BATCH)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let partial = '';
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    const lines = (partial + chunk.toString()).split('\n');
    partial = lines.pop() ?? '';
    // Its figures as they come, all but the JSON line, which is read below.
    for (const line of lines) if (!line.startsWith('{')) console.log(`  keras: ${line}`);
  });
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const code = await new Promise<number | string>((done) => {
    child.on('error', (error) => done(error.message));
    child.on('close', (status) => done(status ?? -1));
  });
  if (typeof code === 'string') return `cannot run ${python} (${code}); set THAW_KERAS_PYTHON to a Python with Keras`;
  const last = out.trim().split('\n').at(-1) ?? '';
  let parsed: unknown;
  try {
    parsed = JSON.parse(last);
  } catch {
    parsed = undefined;
  }
  if (parsed && typeof parsed === 'object' && 'error' in parsed) {
    return `${String(parsed.error)} in ${python}; set THAW_KERAS_PYTHON to a Python with Keras (tensorflow-cpu 2.21)`;
  }
  if (code !== 0 || !parsed || typeof parsed !== 'object' || !('cold' in parsed)) {
    return `${python} ${script} failed (exit ${code}): ${err.trim().split('\n').slice(-3).join(' / ')}`;
  }
  return parsed as KerasFigures;
}

const ownFolder = values.dir === undefined;
const dir = resolve(values.dir ?? join(import.meta.dirname, '../results', `images-${classes}x${perClass}-${minWidth}-${maxWidth}`));
console.log(await prepareFolder(dir, ownFolder));
const backend = await selectBackend(values.backend as BackendName | 'auto');
const { files } = await listImageFolder(dir);
const count = files.length;
const labels = files.map((file) => file.label);
const decode = (index: number) => decodeImage(files[index]!.path, decodeOptions);

/** `work` with decodeImage on the main thread (THAW_DECODE_THREADS=0), the environment restored after. */
async function onMainThread<T>(work: () => Promise<T>): Promise<T> {
  const before = process.env['THAW_DECODE_THREADS'];
  process.env['THAW_DECODE_THREADS'] = '0';
  try {
    return await work();
  } finally {
    if (before === undefined) delete process.env['THAW_DECODE_THREADS'];
    else process.env['THAW_DECODE_THREADS'] = before;
  }
}

// Untimed warm-up: every file into the page cache, sharp, the resize loop and the decoding threads started and compiled.
for (const file of files) await readFile(file.path);
await pool(Math.min(count, 64), 4, async (index) => void (await decode(index)));
await onMainThread(() => pool(Math.min(count, 32), 2, async (index) => void (await decode(index))));

const threads = decodeThreads();
console.log(
  `${count} images in ${classes} classes → ${size}×${size} RGB bilinear; float batches of ${BATCH} on ${backend.detail}; ` +
    `sharp (libvips ${sharp.versions.vips}) with ${sharp.concurrency()} thread(s) per image, libuv pool ${process.env['UV_THREADPOOL_SIZE'] ?? 4}; ` +
    (threads > 0 ? `decoding on ${threads} worker threads` : 'decoding on the main thread'),
);

const rows: { name: string; figures: number[] }[] = [
  { name: 'cold: list + read + decode + resize (uint8)', figures: [] },
  { name: 'the same on the main thread only', figures: [] },
  { name: 'cold → float32 batches of 32', figures: [] },
  { name: 'pixel cache, first pass (decode + write)', figures: [] },
  { name: 'warm: pixel cache read, same process', figures: [] },
  { name: 'warm: pixel cache read, new PixelCache', figures: [] },
  { name: 'warm → float32 batches of 32', figures: [] },
];
const scratch = await mkdtemp(join(tmpdir(), 'thaw-pixel-cache-'));
try {
  for (const concurrency of concurrencies) {
    const cold = async () => {
      const listed = await listImageFolder(dir);
      await pool(listed.files.length, concurrency, async (index) => void (await decodeImage(listed.files[index]!.path, decodeOptions)));
    };
    rows[1]!.figures.push(await onMainThread(() => rate(count, cold)));
    // Untimed: the decoding threads, which end after a few idle seconds, started again.
    await pool(16, 4, async (index) => void (await decode(index)));
    rows[0]!.figures.push(await rate(count, cold));
    rows[2]!.figures.push(await rate(count, () => floatBatches(labels, concurrency, decode)));
    const cacheDir = join(scratch, `c${concurrency}`);
    const cache = new PixelCache({ dir: cacheDir, log });
    const throughCache = () => pool(count, concurrency, async (index) => void (await cache.read(files[index]!.path, decodeOptions)));
    // The first pass decodes and fills the cache, and saves the files' hashes as imageSplits does: it runs once.
    rows[3]!.figures.push(
      await rate(
        count,
        async () => {
          await throughCache();
          await cache.saveHashes();
        },
        false,
      ),
    );
    rows[4]!.figures.push(await rate(count, throughCache));
    // A new PixelCache each pass, as a new process has: it loads the saved hashes, then reads entries.
    let freshMisses = 0;
    let freshHashed = 0;
    rows[5]!.figures.push(
      await rate(count, async () => {
        const fresh = new PixelCache({ dir: cacheDir, log });
        await pool(count, concurrency, async (index) => void (await fresh.read(files[index]!.path, decodeOptions)));
        freshMisses += fresh.misses;
        freshHashed += fresh.hashed;
      }),
    );
    rows[6]!.figures.push(
      await rate(count, () => floatBatches(labels, concurrency, (index) => cache.read(files[index]!.path, decodeOptions))),
    );
    if (cache.misses !== count || freshMisses !== 0 || freshHashed !== 0) {
      console.warn(
        `pixel cache: ${cache.misses} decodes in the first pass, ${freshMisses} later, ${freshHashed} images hashed again; expected ${count}, 0 and 0`,
      );
    }
  }
} finally {
  await rm(scratch, { recursive: true, force: true });
  await closeDecodePool();
}

const width = Math.max(...rows.map((row) => row.name.length));
console.log(`\n${'images/s'.padEnd(width)}  ${concurrencies.map((c) => `${c} at once`.padStart(10)).join('  ')}`);
for (const row of rows) console.log(`${row.name.padEnd(width)}  ${row.figures.map((f) => f.toFixed(0).padStart(10)).join('  ')}`);

if (!values['no-profile']) {
  // Where one image's time goes, one image at a time on the main thread (no overlap between stages).
  const stages = { read: 0, 'sha256 (cache key)': 0, 'decode (sharp, raw RGB)': 0, 'resize (JS, TF-equivalent)': 0, 'to float32': 0 };
  const reference = {
    'resize, generic loop (same bytes)': 0,
    'libvips decode + resize in one (other pixels)': 0,
    'cache entry read (fs/promises) + CRC-32': 0,
    'cache entry readFileSync + CRC-32': 0,
  };
  const entry = join(tmpdir(), `thaw-bench-entry-${process.pid}.px`);
  const floats = new Float32Array(imageLength);
  try {
    for (const file of files) {
      let t = performance.now();
      const lap = (): number => {
        const now = performance.now();
        const spent = now - t;
        t = now;
        return spent;
      };
      const bytes = await readFile(file.path);
      stages.read += lap();
      createHash('sha256').update(bytes).digest('hex');
      stages['sha256 (cache key)'] += lap();
      const { data, info } = await sharp(bytes, { pages: 1, page: 0, ignoreIcc: true, failOn: 'error' })
        .removeAlpha()
        .toColourspace('srgb')
        .raw({ depth: 'uchar' })
        .toBuffer({ resolveWithObject: true });
      stages['decode (sharp, raw RGB)'] += lap();
      const decoded = {
        data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
        height: info.height,
        width: info.width,
        channels: 3,
      };
      const resized = resizePixels(decoded, size, size, 'bilinear');
      stages['resize (JS, TF-equivalent)'] += lap();
      floats.set(resized.data);
      stages['to float32'] += lap();
      const generic = resizePixelsGeneric(decoded, size, size, 'bilinear');
      reference['resize, generic loop (same bytes)'] += lap();
      if (Buffer.compare(generic.data, resized.data) !== 0)
        throw new Error(`${file.path}: the bilinear fast path and the generic loop differ`);
      await sharp(bytes, { failOn: 'error' }).removeAlpha().resize(size, size, { fit: 'fill', kernel: 'linear' }).raw().toBuffer();
      reference['libvips decode + resize in one (other pixels)'] += lap();
      await writeFile(entry, Buffer.concat([Buffer.alloc(24), resized.data]));
      lap();
      const stored = await readFile(entry);
      crc32(stored.subarray(24));
      reference['cache entry read (fs/promises) + CRC-32'] += lap();
      crc32(readFileSync(entry).subarray(24));
      reference['cache entry readFileSync + CRC-32'] += lap();
    }
  } finally {
    await rm(entry, { force: true });
  }
  const total = Object.values(stages).reduce((a, b) => a + b, 0);
  console.log(`\none image at a time (ms per image; share of the cold path read → float32):`);
  for (const [name, ms] of Object.entries(stages)) {
    console.log(`  ${name.padEnd(46)} ${(ms / count).toFixed(3).padStart(7)} ms  ${((100 * ms) / total).toFixed(0).padStart(3)}%`);
  }
  console.log(`  ${'sum'.padEnd(46)} ${(total / count).toFixed(3).padStart(7)} ms  (${((1000 * count) / total).toFixed(0)} images/s)`);
  for (const [name, ms] of Object.entries(reference))
    console.log(`  ${name.padEnd(46)} ${(ms / count).toFixed(3).padStart(7)} ms  (for scale)`);
}

if (values.keras) {
  console.log('\nKeras image_dataset_from_directory on the same folder:');
  const keras = await runKeras(dir);
  if (typeof keras === 'string') {
    console.log(`Keras skipped: ${keras}`);
  } else {
    const best = (row: { figures: number[] }) => Math.max(...row.figures);
    const ratio = (thaw: number, other: number) => `${(thaw / other).toFixed(2)}×`;
    console.log(`\nthaw / Keras ${keras.keras} (TensorFlow ${keras.tensorflow}), thaw at its best concurrency:`);
    console.log(
      `  cold, float32 batches:  thaw ${best(rows[2]!).toFixed(0)} images/s, Keras ${keras.cold.toFixed(0)} images/s → ${ratio(best(rows[2]!), keras.cold)}`,
    );
    console.log(
      `  warm, float32 batches:  thaw ${best(rows[6]!).toFixed(0)} images/s (disk cache), Keras ${keras.disk_warm.toFixed(0)} images/s ` +
        `(.cache(filename)) → ${ratio(best(rows[6]!), keras.disk_warm)}; Keras .cache() in memory ${keras.warm.toFixed(0)} images/s → ` +
        ratio(best(rows[6]!), keras.warm),
    );
  }
}
