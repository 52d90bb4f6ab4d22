import { spawnSync } from 'node:child_process';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { expect } from 'chai';
import sharp from 'sharp';
import { ThawError } from '@thaw/core';
import { REPO_ROOT, recordingLogger, temporaryFolder } from '../helpers/fixtures.js';

// The image blocks are loaded from the built package, as in image-folder-blocks.spec.ts.
import type * as Images from '../../packages/plugins/dist/datasets/images/index.js';
type ImagePixels = Images.ImagePixels;
const images = (await import(pathToFileURL(join(REPO_ROOT, 'packages/plugins/dist/datasets/images/index.js')).href)) as typeof Images;
const { PixelCache, closeDecodePool, decodeImage, resizePixels, resizePixelsGeneric } = images;

/** mulberry32: seeded, so a failure names sizes that fail again. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Noise, or with `extremes` only 0s and 255s (the largest sums, where rounding and range are tightest). */
function randomImage(next: () => number, height: number, width: number, channels: number, extremes = false): ImagePixels {
  const data = Uint8Array.from({ length: height * width * channels }, () =>
    extremes ? (next() < 0.5 ? 0 : 255) : Math.floor(next() * 256),
  );
  return { data, height, width, channels };
}

function firstDifference(a: Uint8Array, b: Uint8Array): string | undefined {
  if (a.length !== b.length) return `${a.length} bytes against ${b.length}`;
  const at = a.findIndex((value, i) => value !== b[i]);
  return at < 0 ? undefined : `byte ${at}: ${a[at]} against ${b[at]}`;
}

describe('resizePixels fast paths', () => {
  it('give the generic loop’s bytes for bilinear and nearest on random sizes, up and down, 1, 3 and 4 channels', () => {
    const next = random(20240611);
    const size = (max: number) => 1 + Math.floor(next() * max);
    let compared = 0;
    for (let trial = 0; trial < 600; trial++) {
      const channels = [1, 3, 3, 4][trial % 4]!;
      // Mostly small odd sizes, every tenth one photo-sized; the output independently bigger or smaller on each axis.
      const big = trial % 10 === 0;
      const [inH, inW] = big ? [size(500), size(500)] : [size(40), size(40)];
      const [outH, outW] = big ? [size(260), size(260)] : [size(60), size(60)];
      const source = randomImage(next, inH, inW, channels, trial % 7 === 3);
      for (const method of ['bilinear', 'nearest'] as const) {
        const fast = resizePixels(source, outH, outW, method);
        const generic = resizePixelsGeneric(source, outH, outW, method);
        expect([fast.height, fast.width, fast.channels]).to.deep.equal([outH, outW, channels]);
        const difference = firstDifference(fast.data, generic.data);
        expect(difference, `${method} ${inH}×${inW}×${channels} → ${outH}×${outW}`).to.equal(undefined);
        compared++;
      }
    }
    expect(compared).to.equal(1200);
  });

  it('give the generic loop’s bytes on the shapes thaw meets: photos to model sizes, one axis kept, single rows and columns', () => {
    const next = random(7);
    const cases: [number, number, number, number][] = [
      [375, 500, 160, 160],
      [500, 333, 224, 224],
      [299, 401, 299, 224],
      [28, 28, 224, 224],
      [1, 1, 5, 3],
      [1, 37, 3, 7],
      [41, 1, 9, 2],
      [17, 23, 1, 1],
      [2, 2, 513, 3],
      [1000, 3, 7, 3],
    ];
    for (const [inH, inW, outH, outW] of cases) {
      for (const channels of [1, 3]) {
        const source = randomImage(next, inH, inW, channels);
        for (const method of ['bilinear', 'nearest'] as const) {
          const difference = firstDifference(
            resizePixels(source, outH, outW, method).data,
            resizePixelsGeneric(source, outH, outW, method).data,
          );
          expect(difference, `${method} ${inH}×${inW}×${channels} → ${outH}×${outW}`).to.equal(undefined);
        }
      }
    }
  });

  it('leave the other methods and same-size images to the generic loop', () => {
    const source = randomImage(random(3), 13, 9, 3);
    for (const method of ['bicubic', 'area', 'lanczos3'] as const) {
      expect(Array.from(resizePixels(source, 6, 17, method).data)).to.deep.equal(
        Array.from(resizePixelsGeneric(source, 6, 17, method).data),
      );
    }
    for (const method of ['bilinear', 'nearest'] as const) {
      expect(resizePixels(source, 13, 9, method)).to.equal(source);
      expect(resizePixelsGeneric(source, 13, 9, method)).to.equal(source);
    }
    expect(() => resizePixelsGeneric(source, 0, 3, 'bilinear')).to.throw(/resize: received size \[0, 3\]/);
  });
});

/** A photo-like PNG or JPEG of noise over a gradient, `seed` choosing the noise. */
async function writePhoto(file: string, width: number, height: number, seed: number, format: 'png' | 'jpeg' = 'jpeg'): Promise<void> {
  const next = random(seed);
  const data = Buffer.alloc(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = Math.min(255, Math.floor(((i % (width * 3)) / (width * 3)) * 200 + next() * 55));
  const image = sharp(data, { raw: { width, height, channels: 3 } });
  await writeFile(file, await (format === 'png' ? image.png() : image.jpeg({ quality: 90 })).toBuffer());
}

/** Runs `work` with THAW_DECODE_THREADS set to `threads` (undefined: unset), restoring it after. */
async function withThreads<T>(threads: string | undefined, work: () => Promise<T>): Promise<T> {
  const before = process.env['THAW_DECODE_THREADS'];
  if (threads === undefined) delete process.env['THAW_DECODE_THREADS'];
  else process.env['THAW_DECODE_THREADS'] = threads;
  try {
    return await work();
  } finally {
    if (before === undefined) delete process.env['THAW_DECODE_THREADS'];
    else process.env['THAW_DECODE_THREADS'] = before;
  }
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

describe('image decoding off the main thread, and saved content hashes', () => {
  let dir: string;
  let remove: () => Promise<void>;
  before(async () => ({ dir, remove } = await temporaryFolder()));
  after(async () => {
    await closeDecodePool();
    await remove();
  });

  describe('decodeImage on the decoding threads', () => {
    it('gives the main thread’s pixels for every colour mode, crop and method, and leaves the caller’s bytes alone', async () => {
      const photo = join(dir, 'photo.jpg');
      const png = join(dir, 'photo.png');
      await writePhoto(photo, 97, 61, 1);
      await writePhoto(png, 40, 55, 2, 'png');
      const cases = [
        { size: [32, 32] },
        { size: [50, 20], colorMode: 'grayscale' },
        { size: [30, 30], cropToAspectRatio: true },
        { size: [120, 80], interpolation: 'nearest' },
        { size: [17, 23], interpolation: 'area' },
        { size: [61, 97] },
      ] as const;
      for (const file of [photo, png]) {
        for (const options of cases) {
          const here = await withThreads('0', () => decodeImage(file, options));
          const threaded = await withThreads('2', () => decodeImage(file, options));
          expect(threaded, `${file} ${JSON.stringify(options)}`).to.deep.equal(here);
        }
      }
      const bytes = await readFile(photo);
      const copy = Buffer.from(bytes);
      const many = await withThreads('2', () =>
        Promise.all(Array.from({ length: 12 }, () => decodeImage(photo, { size: [40, 40] }, bytes))),
      );
      expect(bytes.equals(copy)).to.equal(true);
      for (const pixels of many) expect(pixels).to.deep.equal(many[0]);
    });

    it('keeps the ThawError messages: file name and the decoder’s or reader’s reason', async () => {
      const garbage = join(dir, 'garbage.jpg');
      await writeFile(garbage, 'not an image at all');
      const whole = join(dir, 'whole.png');
      await writePhoto(whole, 30, 20, 3, 'png');
      const cut = join(dir, 'cut.png');
      await writeFile(cut, (await readFile(whole)).subarray(0, 200));
      const bmp = join(dir, 'sixteen.bmp');
      const header = Buffer.alloc(54);
      header.write('BM', 0, 'latin1');
      header.writeUInt32LE(54, 10);
      header.writeUInt32LE(40, 14);
      header.writeInt32LE(1, 18);
      header.writeInt32LE(1, 22);
      header.writeUInt16LE(16, 28);
      await writeFile(bmp, Buffer.concat([header, Buffer.alloc(4)]));
      const missing = join(dir, 'missing.png');
      for (const [file, parts] of [
        [garbage, ['cannot decode the image', 'unsupported image format']],
        [cut, ['cannot decode the image']],
        [bmp, ['16 bits per pixel']],
        [missing, ['cannot read', 'ENOENT']],
      ] as const) {
        const here = await withThreads('0', () => failure(decodeImage(file, { size: [4, 4] })));
        const threaded = await withThreads('2', () => failure(decodeImage(file, { size: [4, 4] })));
        expect(threaded).to.be.instanceOf(ThawError);
        expect(threaded.message).to.equal(here.message);
        expect(threaded.message.startsWith(`${file}: `)).to.equal(true);
        for (const part of parts) expect(threaded.message).to.include(part);
      }
      await withThreads('two', async () => {
        expect((await failure(decodeImage(whole, { size: [4, 4] }))).message).to.match(/^THAW_DECODE_THREADS: received "two"/);
      });
    });

    it('finishes the decodes in flight when the pool is closed, and starts again after', async () => {
      const photo = join(dir, 'closing.jpg');
      await writePhoto(photo, 80, 60, 4);
      const expected = await withThreads('0', () => decodeImage(photo, { size: [24, 24] }));
      await withThreads('2', async () => {
        const pending = Array.from({ length: 10 }, () => decodeImage(photo, { size: [24, 24] }));
        await closeDecodePool();
        for (const pixels of await Promise.all(pending)) expect(pixels).to.deep.equal(expected);
        expect(await decodeImage(photo, { size: [24, 24] })).to.deep.equal(expected);
      });
    });

    it('never keeps the process alive: it exits as soon as its work is done', async () => {
      const photo = join(dir, 'exit.jpg');
      await writePhoto(photo, 64, 48, 5);
      const module = pathToFileURL(join(REPO_ROOT, 'packages/plugins/dist/datasets/images/index.js')).href;
      const script = [
        `const { decodeImage } = await import(${JSON.stringify(module)});`,
        `const pixels = await Promise.all([1, 2, 3, 4].map(() => decodeImage(${JSON.stringify(photo)}, { size: [16, 16] })));`,
        `const done = performance.now();`,
        `process.on('exit', () => console.log(JSON.stringify({ length: pixels[3].data.length, lingered: performance.now() - done })));`,
      ].join('\n');
      const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
        env: { ...process.env, THAW_DECODE_THREADS: '2' },
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(child.status, child.stderr).to.equal(0);
      const report = JSON.parse(child.stdout.trim()) as { length: number; lingered: number };
      expect(report.length).to.equal(16 * 16 * 3);
      // Idle threads end on their own after a few seconds; unref'd, they never hold the process that long.
      expect(report.lingered).to.be.below(1500);
    });
  });

  describe('PixelCache saved hashes', () => {
    it('let a new PixelCache hit without reading the images; a changed file is hashed again', async () => {
      const folder = join(dir, 'saved');
      const cacheDir = join(dir, 'saved-cache');
      await mkdir(folder);
      const names = ['a.jpg', 'b.jpg', 'c.jpg'];
      for (const [i, name] of names.entries()) await writePhoto(join(folder, name), 30 + i, 20, 10 + i);
      // Hashes of files changed less than 2 s before they are read are not saved.
      await sleep(2100);
      const options = { size: [8, 8] } as const;
      const log = recordingLogger();
      const first = new PixelCache({ dir: cacheDir, log });
      const pixels = [];
      for (const name of names) pixels.push(await first.read(join(folder, name), options));
      expect([first.hashed, first.misses]).to.deep.equal([3, 3]);
      await first.saveHashes();
      expect(await readdir(join(cacheDir, 'hashes'))).to.have.length(1);

      const second = new PixelCache({ dir: cacheDir, log });
      for (const [i, name] of names.entries()) expect(await second.read(join(folder, name), options)).to.deep.equal(pixels[i]);
      expect([second.hashed, second.hits, second.misses]).to.deep.equal([0, 3, 0]);

      await writePhoto(join(folder, 'b.jpg'), 31, 20, 99);
      const third = new PixelCache({ dir: cacheDir, log });
      for (const name of names) await third.read(join(folder, name), options);
      expect([third.hashed, third.misses]).to.deep.equal([1, 1]);
      // b.jpg changed a moment ago: its new hash is not saved, so the next cache reads it again.
      await third.saveHashes();
      const fourth = new PixelCache({ dir: cacheDir, log });
      for (const name of names) await fourth.read(join(folder, name), options);
      expect([fourth.hashed, fourth.misses]).to.deep.equal([1, 0]);
      expect(log.lines).to.deep.equal([]);
    });

    it('merge what several caches save, and survive a damaged hashes file', async () => {
      const folder = join(dir, 'merged');
      const cacheDir = join(dir, 'merged-cache');
      await mkdir(folder);
      for (const [i, name] of ['x.png', 'y.png'].entries()) await writePhoto(join(folder, name), 12, 9 + i, 20 + i, 'png');
      await sleep(2100);
      const options = { size: [4, 4] } as const;
      const log = recordingLogger();
      const one = new PixelCache({ dir: cacheDir, log });
      const other = new PixelCache({ dir: cacheDir, log });
      await one.read(join(folder, 'x.png'), options);
      await other.read(join(folder, 'y.png'), options);
      await one.saveHashes();
      await other.saveHashes();
      const both = new PixelCache({ dir: cacheDir, log });
      await both.read(join(folder, 'x.png'), options);
      await both.read(join(folder, 'y.png'), options);
      expect([both.hashed, both.hits]).to.deep.equal([0, 2]);

      const [saved] = await readdir(join(cacheDir, 'hashes'));
      await writeFile(join(cacheDir, 'hashes', saved!), '{"format": "thaw-pixel-hashes-1", "files": [');
      const after = new PixelCache({ dir: cacheDir, log });
      await after.read(join(folder, 'x.png'), options);
      expect([after.hashed, after.hits]).to.deep.equal([1, 1]);
      await after.saveHashes();
      const repaired = new PixelCache({ dir: cacheDir, log });
      await repaired.read(join(folder, 'x.png'), options);
      expect(repaired.hashed).to.equal(0);
      expect(log.lines).to.deep.equal([]);
    });
  });
});
