/**
 * Peak resident memory of real trials on a large image-folder dataset: does a 20,000-image folder
 * at 224 px train in under 2 GB? Each trial runs in a child process (bench/image-folder-memory-trial.ts)
 * so that its peak is its own, measured by /usr/bin/time -v when present (else the child's own
 * process.resourceUsage().maxRSS), while VmRSS and VmHWM are read from /proc/<pid>/status every second.
 *   node bench/dist/image-folder-memory.js [--images 20000] [--classes 3] [--dir DIR] [--backend auto|wasm|…]
 *     [--cases cold,warm,extract,per-batch] [--epochs 1] [--batch-size 32] [--jobs 4]
 * --cases '' only makes the images; --jobs is how many images are made at once.
 * The images (JPEG, quality 85, 250–400 px a side, seeded gradients, shapes and noise) are made
 * once under DIR (default bench/results/image-folder-memory) and reused. thaw's cache is
 * THAW_CACHE_DIR=DIR/cache: its pixel cache is emptied before the cold case, its frozen-feature
 * cache before every case, so that each case computes its features from pixels.
 * Cases, each MobileNetV2 (alpha 0.35, 224 px, random weights) on image-folder at 224 px with
 * validationSplit 0.1 and testSplit 0.1, batch 32:
 *   cold       unfreeze 2, empty pixel cache: the first pass decodes every image
 *   warm       unfreeze 2 again, pixels from the cache
 *   extract    unfreeze 0 (feature extraction), pixels from the cache
 *   per-batch  unfreeze 2 with train.cacheFrozen: false: every batch is read and passed through the frozen part
 *   deep       (only when asked for) unfreeze 12: the cut after block_5, 28×28×16 features (49 KB an
 *              image), the largest that the frozen-feature cache still takes for a 16,000-image
 *              train split (under THAW_FEATURE_CACHE_MB, 1024 by default)
 */
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { stringify } from 'yaml';
import type { StagePeaks, TrialReport } from './image-folder-memory-trial.js';
import { paintImage, random } from './synthetic-image.js';

const MB = 2 ** 20;
/** The target: a trial's peak resident memory under 2 GB (2048 MB of 2^20 bytes). */
const LIMIT_MB = 2048;
/** Raise when the generated images change, so folders made by an older version are made again. */
const GENERATOR_VERSION = 1;
const RESULT_PREFIX = 'image-folder-memory ';
const TIME = '/usr/bin/time';

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '20000' },
    classes: { type: 'string', default: '3' },
    dir: { type: 'string', default: resolve(import.meta.dirname, '../results/image-folder-memory') },
    backend: { type: 'string', default: 'auto' },
    cases: { type: 'string', default: 'cold,warm,extract,per-batch' },
    epochs: { type: 'string', default: '1' },
    'batch-size': { type: 'string', default: '32' },
    jobs: { type: 'string', default: String(availableParallelism() + 2) },
  },
});

function positiveInteger(text: string, option: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${option}: received ${JSON.stringify(text)}; expected a positive integer`);
  return n;
}
const imageCount = positiveInteger(values.images, 'images');
const classes = positiveInteger(values.classes, 'classes');
const epochs = positiveInteger(values.epochs, 'epochs');
const batchSize = positiveInteger(values['batch-size'], 'batch-size');
const jobs = positiveInteger(values.jobs, 'jobs');
const benchDir = resolve(values.dir);
const imagesDir = join(benchDir, `images-${imageCount}-${classes}`);
/** Beside the folder, not in it, where image-folder would count it as a file that is not an image. */
const markerFile = `${imagesDir}.json`;
const cacheDir = join(benchDir, 'cache');
const MIN_SIDE = 250;
const MAX_SIDE = 400;

interface Case {
  readonly name: string;
  readonly what: string;
  readonly unfreeze: number;
  readonly cacheFrozen: boolean;
  /** Empty the pixel cache first. */
  readonly cold: boolean;
}
const CASES: readonly Case[] = [
  { name: 'cold', what: 'unfreeze 2, empty pixel cache', unfreeze: 2, cacheFrozen: true, cold: true },
  { name: 'warm', what: 'unfreeze 2, pixel cache filled', unfreeze: 2, cacheFrozen: true, cold: false },
  { name: 'extract', what: 'unfreeze 0, pixel cache filled', unfreeze: 0, cacheFrozen: true, cold: false },
  { name: 'per-batch', what: 'unfreeze 2, cacheFrozen: false', unfreeze: 2, cacheFrozen: false, cold: false },
  { name: 'deep', what: 'unfreeze 12, pixel cache filled', unfreeze: 12, cacheFrozen: true, cold: false },
];
const cases = values.cases
  .split(',')
  .filter((name) => name !== '')
  .map((name) => {
    const found = CASES.find((c) => c.name === name);
    if (!found) throw new Error(`--cases: received ${JSON.stringify(name)}; expected some of ${CASES.map((c) => c.name).join(', ')}`);
    return found;
  });

/** One photo-like image of 250–400 px a side: a two-colour gradient, a few soft ellipses and per-pixel noise. */
function syntheticImage(seed: number): { data: Buffer; width: number; height: number } {
  const next = random(seed);
  const width = MIN_SIDE + Math.floor(next() * (MAX_SIDE - MIN_SIDE + 1));
  const height = MIN_SIDE + Math.floor(next() * (MAX_SIDE - MIN_SIDE + 1));
  const data = paintImage(next, width, height, { min: 2, spread: 5 });
  return { data, width, height };
}

/** Makes the folder of images unless a complete one is there (the marker beside it is written last). */
async function prepareImages(): Promise<void> {
  const wanted = { version: GENERATOR_VERSION, images: imageCount, classes, minSide: MIN_SIDE, maxSide: MAX_SIDE, quality: 85 };
  const marker = await readFile(markerFile, 'utf8').then(
    (text) => JSON.parse(text) as unknown,
    () => undefined,
  );
  if (JSON.stringify(marker) === JSON.stringify(wanted)) {
    console.log(`images: reused ${imagesDir}`);
    return;
  }
  await rm(imagesDir, { recursive: true, force: true });
  for (let label = 0; label < classes; label++) await mkdir(join(imagesDir, `class${label}`), { recursive: true });
  console.log(`images: making ${imageCount} JPEGs in ${classes} class folders under ${imagesDir} (${jobs} at once) …`);
  const started = performance.now();
  let next = 0;
  let bytes = 0;
  let reported = started;
  // The pixels are made on this thread; sharp encodes and writes in its own threads meanwhile.
  const worker = async () => {
    while (next < imageCount) {
      const i = next++;
      const label = i % classes;
      const { data, width, height } = syntheticImage(1 + i);
      const file = join(imagesDir, `class${label}`, `image${String(i).padStart(6, '0')}.jpg`);
      const info = await sharp(data, { raw: { width, height, channels: 3 } })
        .jpeg({ quality: 85 })
        .toFile(file);
      bytes += info.size;
      if (performance.now() - reported > 30_000) {
        reported = performance.now();
        console.log(`  ${next} of ${imageCount} …`);
      }
    }
  };
  await Promise.all(Array.from({ length: jobs }, worker));
  await writeFile(markerFile, `${JSON.stringify(wanted)}\n`);
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `images: made ${imageCount} in ${seconds.toFixed(0)} s (${(imageCount / seconds).toFixed(0)}/s), ` +
      `${(bytes / MB).toFixed(0)} MB, ${(bytes / imageCount / 1024).toFixed(1)} KB each`,
  );
}

async function writeCaseSpec(c: Case): Promise<string> {
  const file = join(benchDir, 'specs', `${c.name}.yaml`);
  await mkdir(join(benchDir, 'specs'), { recursive: true });
  const spec = {
    name: `image-folder-memory-${c.name}`,
    seed: 1,
    data: { plugin: 'image-folder', path: imagesDir, imageSize: 224, validationSplit: 0.1, testSplit: 0.1, splitSeed: 0 },
    model: { base: { plugin: 'mobilenet-v2', alpha: 0.35, size: 224 }, head: { dropout: 0.2 } },
    strategy: { plugin: 'fine-tune', unfreeze: c.unfreeze },
    train: { epochs, batchSize, optimizer: 'adam', learningRate: 1e-3, cacheFrozen: c.cacheFrozen },
    tracking: { store: join(benchDir, 'mlruns') },
  };
  await writeFile(file, stringify(spec));
  return file;
}

/** VmRSS and VmHWM of a process, bytes; undefined once it is gone. */
function memoryOf(pid: number): { rss: number; hwm: number } | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  const [rss, hwm] = [field('VmRSS'), field('VmHWM')];
  // An exiting process has a status without them.
  return Number.isNaN(rss) || Number.isNaN(hwm) ? undefined : { rss, hwm };
}

/** The child process of `parent` (node under /usr/bin/time), found by scanning /proc. */
function childOf(parent: number): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // Fields after the command name, which is in parentheses and may hold spaces: state, ppid, …
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === parent) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

/** Bytes of the files under a folder (0 when there is none). */
async function folderBytes(dir: string): Promise<number> {
  const names = await readdir(dir, { recursive: true }).catch(() => [] as string[]);
  const sizes = await Promise.all(names.map((name) => stat(join(dir, name)).then((info) => (info.isFile() ? info.size : 0))));
  return sizes.reduce((a, b) => a + b, 0);
}

interface CaseResult {
  readonly c: Case;
  readonly wallSeconds: number;
  readonly code: number | null;
  /** Peak RSS, bytes: /usr/bin/time's, else the child's maxRSS. */
  readonly peak: number;
  readonly peakSource: string;
  readonly hwm: number;
  /** VmRSS, one sample a second, bytes. */
  readonly curve: number[];
  readonly report?: TrialReport;
  /** thaw's caches on disk after the case, bytes. */
  readonly pixelCacheBytes: number;
  readonly featureCacheBytes: number;
}

async function runCase(c: Case): Promise<CaseResult> {
  const spec = await writeCaseSpec(c);
  if (c.cold) await rm(join(cacheDir, 'pixels'), { recursive: true, force: true });
  await rm(join(cacheDir, 'features'), { recursive: true, force: true });
  await mkdir(join(benchDir, 'logs'), { recursive: true });
  const logFile = join(benchDir, 'logs', `${c.name}.log`);
  const log = createWriteStream(logFile);
  const trial = [resolve(import.meta.dirname, 'image-folder-memory-trial.js'), spec, '--backend', values.backend];
  const timed = existsSync(TIME);
  const timeFile = join(benchDir, 'logs', `${c.name}.time`);
  const [command, args] = timed ? [TIME, ['-v', '-o', timeFile, process.execPath, ...trial]] : [process.execPath, trial];
  const started = performance.now();
  const child = spawn(command, args, {
    env: { ...process.env, THAW_CACHE_DIR: cacheDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let report: TrialReport | undefined;
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (line.startsWith(RESULT_PREFIX)) report = JSON.parse(line.slice(RESULT_PREFIX.length)) as TrialReport;
    else log.write(`${line}\n`);
  });
  createInterface({ input: child.stderr }).on('line', (line) => {
    log.write(`${line}\n`);
    console.log(`    | ${line}`);
  });
  const curve: number[] = [];
  let hwm = 0;
  let pid: number | undefined;
  const sampler = setInterval(() => {
    pid ??= timed ? childOf(child.pid!) : child.pid;
    const memory = pid === undefined ? undefined : memoryOf(pid);
    if (memory === undefined) return;
    curve.push(memory.rss);
    hwm = Math.max(hwm, memory.hwm);
  }, 1000);
  const code = await new Promise<number | null>((done) => child.on('close', done));
  clearInterval(sampler);
  const wallSeconds = (performance.now() - started) / 1000;
  log.end();
  let peak = (report?.maxRssKiB ?? 0) * 1024;
  let peakSource = 'maxRSS';
  if (timed) {
    const text = await readFile(timeFile, 'utf8').catch(() => '');
    const kib = /Maximum resident set size \(kbytes\): (\d+)/.exec(text)?.[1];
    if (kib !== undefined) [peak, peakSource] = [Number(kib) * 1024, 'time -v'];
  }
  if (code !== 0) console.log(`    ${c.name}: exit code ${code}${report?.error ? `: ${report.error}` : ''}; log in ${logFile}`);
  return {
    c,
    wallSeconds,
    code,
    peak,
    peakSource,
    hwm,
    curve,
    pixelCacheBytes: await folderBytes(join(cacheDir, 'pixels')),
    featureCacheBytes: await folderBytes(join(cacheDir, 'features')),
    ...(report ? { report } : {}),
  };
}

const mb = (bytes: number) => (bytes / MB).toFixed(0);

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ')).join('\n');
}

/** RSS at each tenth of the run, MB. */
function curveSummary(curve: number[]): string {
  if (curve.length === 0) return 'no samples';
  const points = Array.from({ length: 10 }, (_, i) => curve[Math.min(curve.length - 1, Math.round(((i + 1) * curve.length) / 10) - 1)]!);
  return points.map(mb).join(' ');
}

await mkdir(benchDir, { recursive: true });
await prepareImages();
if (cases.length === 0) process.exit(0);
console.log(
  `trials: ${cases.map((c) => c.name).join(', ')}; mobilenet-v2 alpha 0.35 at 224 px (random weights), ${epochs} epoch(s), batch ${batchSize}; ` +
    `peak RSS by ${existsSync(TIME) ? `${TIME} -v` : 'the child’s process.resourceUsage().maxRSS'}; THAW_CACHE_DIR=${cacheDir}`,
);
const results: CaseResult[] = [];
for (const c of cases) {
  console.log(`${c.name} (${c.what}) …`);
  const result = await runCase(c);
  results.push(result);
  console.log(`  ${result.wallSeconds.toFixed(0)} s, peak RSS ${mb(result.peak)} MB (${result.peakSource})`);
}

const backend = results.find((r) => r.report?.backend)?.report?.backend ?? values.backend;
console.log(`\n${imageCount} images at 224 px, ${classes} classes, backend ${backend}; MB = 2^20 bytes, target < ${LIMIT_MB} MB`);
console.log(
  table([
    ['case', 'images', 'wall s', 'images/s', 'peak RSS MB', 'VmHWM MB', 'under 2 GB'],
    ...results.map((r) => [
      `${r.c.name} (${r.c.what})`,
      String(imageCount),
      r.wallSeconds.toFixed(0),
      (imageCount / r.wallSeconds).toFixed(1),
      mb(r.peak),
      mb(r.hwm),
      r.code !== 0 ? 'failed' : r.peak < LIMIT_MB * MB ? 'yes' : 'NO',
    ]),
  ]),
);

console.log('\nRSS at each tenth of the run (MB, sampled every second from /proc):');
for (const r of results) console.log(`  ${r.c.name.padEnd(9)} ${curveSummary(r.curve)}`);

for (const r of results) {
  const report = r.report;
  if (!report) continue;
  const trial = report.trial;
  console.log(`\n${r.c.name}: ${r.c.what}`);
  if (trial) {
    const { train, validation, test } = trial.counts;
    console.log(
      `  splits ${train} / ${validation} / ${test}; trial ${trial.seconds.toFixed(0)} s; epochs ${trial.epochs.map((e) => `${e.seconds.toFixed(0)} s`).join(', ')}; ` +
        `training ${trial.trainImagesPerSecond.toFixed(1)} images/s; test accuracy ${(100 * trial.testAccuracy).toFixed(1)}%`,
    );
  }
  console.log(`  on disk after it: pixel cache ${mb(r.pixelCacheBytes)} MB, frozen-feature cache ${mb(r.featureCacheBytes)} MB`);
  if (report.featureCache) {
    const f = report.featureCache;
    console.log(
      `  frozen-feature cache: ${f.misses} computed, ${f.hits + f.diskHits} reused, ${mb(f.memoryBytes)} MB held in memory at the end`,
    );
  }
  const stages = Object.entries<StagePeaks>(report.stages);
  console.log(
    table([
      ['  stage (peaks, MB)', 'seconds', 'RSS', 'tensors', 'wasm heap', 'JS heap', 'external', 'ArrayBuffers'],
      ...stages.map(([name, p]) => [
        `  ${name}`,
        p.seconds.toFixed(0),
        mb(p.rss),
        mb(p.tensors),
        mb(p.wasmHeap),
        mb(p.jsHeap),
        mb(p.external),
        mb(p.arrayBuffers),
      ]),
    ]),
  );
}
