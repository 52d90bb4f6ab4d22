import { mkdir, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { expect } from 'chai';
import sharp from 'sharp';
import { ThawError } from '@thaw/core';
import { REPO_ROOT, recordingLogger, temporaryFolder } from '../helpers/fixtures.js';

// The image blocks are not re-exported from @thaw/plugins yet, so the spec loads them from the built package.
import type * as Images from '../../packages/plugins/dist/datasets/images/index.js';
type ImagePixels = Images.ImagePixels;
const images = (await import(pathToFileURL(join(REPO_ROOT, 'packages/plugins/dist/datasets/images/index.js')).href)) as typeof Images;
const {
  PixelCache,
  assignSplit,
  compareCodePoints,
  decodeBmp,
  decodeImage,
  encodePng,
  holdOut,
  listImageFolder,
  readManifest,
  resizePixels,
  splitScore,
  writePng,
} = images;

/** Writes an image of `channels` 8-bit channels filled by `value(x, y, c)`, encoded by sharp. */
async function writeImage(
  file: string,
  format: 'png' | 'jpeg' | 'webp',
  size: { width: number; height: number; channels: 1 | 3 | 4 },
  value: (x: number, y: number, c: number) => number = (x, y, c) => (x * 40 + y * 20 + c * 70) % 256,
): Promise<void> {
  const { width, height, channels } = size;
  const data = Buffer.alloc(width * height * channels);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) for (let c = 0; c < channels; c++) data[(y * width + x) * channels + c] = value(x, y, c);
  let image = sharp(data, { raw: { width, height, channels } });
  if (channels === 1) image = image.toColourspace('b-w');
  const encoded = format === 'png' ? image.png() : format === 'jpeg' ? image.jpeg({ quality: 95 }) : image.webp({ lossless: true });
  await writeFile(file, await encoded.toBuffer());
}

interface BmpSpec {
  readonly width: number;
  readonly height: number;
  readonly bits: 8 | 16 | 24 | 32;
  /** Rows from the top; [r, g, b] per pixel, or a palette index for 8 bits. */
  readonly rows: readonly (readonly (readonly number[] | number)[])[];
  readonly topDown?: boolean;
  readonly palette?: readonly (readonly number[])[];
  readonly compression?: number;
}

/** A Windows bitmap built byte by byte: file header, BITMAPINFOHEADER, palette, padded rows. */
function buildBmp(spec: BmpSpec): Buffer {
  const { width, height, bits, rows, topDown = false, palette = [], compression = 0 } = spec;
  const stride = Math.ceil((bits * width) / 32) * 4;
  const offset = 14 + 40 + palette.length * 4;
  const out = Buffer.alloc(offset + stride * height);
  out.write('BM', 0, 'latin1');
  out.writeUInt32LE(out.length, 2);
  out.writeUInt32LE(offset, 10);
  out.writeUInt32LE(40, 14);
  out.writeInt32LE(width, 18);
  out.writeInt32LE(topDown ? -height : height, 22);
  out.writeUInt16LE(1, 26);
  out.writeUInt16LE(bits, 28);
  out.writeUInt32LE(compression, 30);
  out.writeUInt32LE(stride * height, 34);
  out.writeUInt32LE(palette.length, 46);
  palette.forEach(([r, g, b], i) => out.set([b!, g!, r!, 0], 54 + 4 * i));
  rows.forEach((row, y) => {
    const start = offset + (topDown ? y : height - 1 - y) * stride;
    row.forEach((pixel, x) => {
      if (typeof pixel === 'number') out[start + x] = pixel;
      else out.set(bits === 32 ? [pixel[2]!, pixel[1]!, pixel[0]!, 0x7f] : [pixel[2]!, pixel[1]!, pixel[0]!], start + (x * bits) / 8);
    });
  });
  return out;
}

const rgbRows = [
  [
    [255, 0, 0],
    [0, 255, 0],
    [0, 0, 255],
  ],
  [
    [10, 20, 30],
    [40, 50, 60],
    [70, 80, 90],
  ],
];
const rgbFlat = rgbRows.flat(2);

describe('image folder blocks', () => {
  let dir: string;
  let remove: () => Promise<void>;
  before(async () => ({ dir, remove } = await temporaryFolder()));
  after(() => remove());

  const png = (file: string) => writeImage(file, 'png', { width: 4, height: 3, channels: 3 });

  describe('listImageFolder', () => {
    it('sorts classes by code point as Python does, lists nested images and counts the rest', async () => {
      const root = join(dir, 'sorted');
      for (const name of ['b', 'Z', 'a', 'B']) await mkdir(join(root, name, 'deeper', 'still'), { recursive: true });
      await png(join(root, 'b', 'z.png'));
      await png(join(root, 'b', 'deeper', 'still', 'A.PNG'));
      await writeFile(join(root, 'b', 'deeper', 'notes.txt'), 'not an image');
      await png(join(root, 'Z', 'one.Jpg'));
      await png(join(root, 'a', 'x.webp'));
      await png(join(root, 'B', 'x.gif'));
      await writeFile(join(root, 'B', '.DS_Store'), '');
      await png(join(root, 'beside-the-classes.png'));

      const folder = await listImageFolder(root);
      expect(folder.classNames).to.deep.equal(['B', 'Z', 'a', 'b']);
      expect(folder.ignored).to.equal(3);
      expect(folder.files.map((file) => [file.relativePath, file.label])).to.deep.equal([
        ['B/x.gif', 0],
        ['Z/one.Jpg', 1],
        ['a/x.webp', 2],
        ['b/deeper/still/A.PNG', 3],
        ['b/z.png', 3],
      ]);
      expect(folder.files[0]!.path).to.equal(join(root, 'B', 'x.gif'));
    });

    it('compares code points, not UTF-16 units', () => {
      const names = ['\u{1F600}', '\u{FF01}', 'a', 'B'];
      expect([...names].sort()).to.deep.equal(['B', 'a', '\u{1F600}', '\u{FF01}']);
      expect([...names].sort(compareCodePoints)).to.deep.equal(['B', 'a', '\u{FF01}', '\u{1F600}']);
      expect(compareCodePoints('ab', 'a')).to.be.greaterThan(0);
      expect(compareCodePoints('a', 'a')).to.equal(0);
    });

    it('picks and orders a subset of classes, and names the available ones for an unknown class', async () => {
      const root = join(dir, 'sorted');
      const folder = await listImageFolder(root, { classes: ['b', 'B'] });
      expect(folder.classNames).to.deep.equal(['b', 'B']);
      expect(folder.files.map((file) => [file.relativePath, file.label])).to.deep.equal([
        ['b/deeper/still/A.PNG', 0],
        ['b/z.png', 0],
        ['B/x.gif', 1],
      ]);
      await expectThaw(listImageFolder(root, { classes: ['a', 'dog'], where: 'spec.yaml: data.classes' }), [
        'spec.yaml: data.classes: received "dog"',
        'expected one of "B", "Z", "a", "b"',
      ]);
      await expectThaw(listImageFolder(root, { classes: ['a', 'a'] }), ['received "a" twice']);
    });

    it('follows symbolic links to class folders and reports a link loop', async () => {
      const root = join(dir, 'linked');
      await mkdir(join(root, 'cats'), { recursive: true });
      await png(join(root, 'cats', 'c.png'));
      const elsewhere = join(dir, 'elsewhere-dogs');
      await mkdir(elsewhere);
      await png(join(elsewhere, 'd.png'));
      await symlink(elsewhere, join(root, 'dogs'), 'dir');
      const folder = await listImageFolder(root);
      expect(folder.files.map((file) => file.relativePath)).to.deep.equal(['cats/c.png', 'dogs/d.png']);

      await symlink(join(root, 'cats'), join(root, 'cats', 'again'), 'dir');
      await expectThaw(listImageFolder(root), [join(root, 'cats', 'again'), 'symbolic link loop']);
      await rm(join(root, 'cats', 'again'));
      await symlink(root, join(elsewhere, 'up'), 'dir');
      await expectThaw(listImageFolder(root), [join(root, 'dogs', 'up'), 'symbolic link loop']);
    });

    it('rejects a missing path, a file, a folder without classes, an empty class and a broken link, naming the path', async () => {
      await expectThaw(listImageFolder(join(dir, 'nowhere')), [join(dir, 'nowhere'), 'does not exist']);
      const file = join(dir, 'a-file.png');
      await png(file);
      await expectThaw(listImageFolder(file), [file, 'is a file']);
      const flat = join(dir, 'flat');
      await mkdir(flat);
      await png(join(flat, 'x.png'));
      await expectThaw(listImageFolder(flat), [flat, 'holds no sub-folders']);
      const empty = join(dir, 'with-empty-class');
      await mkdir(join(empty, 'full'), { recursive: true });
      await mkdir(join(empty, 'empty', 'nested'), { recursive: true });
      await png(join(empty, 'full', 'x.png'));
      await writeFile(join(empty, 'empty', 'nested', 'readme.txt'), '');
      await expectThaw(listImageFolder(empty), [join(empty, 'empty'), 'class "empty" holds no images (1 other files)']);
      expect((await listImageFolder(empty, { classes: ['full'] })).files).to.have.length(1);
      await symlink(join(dir, 'gone.png'), join(empty, 'full', 'broken.png'));
      await expectThaw(listImageFolder(empty, { classes: ['full'] }), [join(empty, 'full', 'broken.png'), 'cannot follow']);
    });
  });

  describe('assignSplit', () => {
    const keys = (count: number, prefix = '') =>
      Array.from({ length: count }, (_, i) => ({ className: `class${i % 3}`, relativePath: `class${i % 3}/${prefix}img-${i}.jpg` }));

    it('gives each file a split from its own hash: adding files moves none of the others', () => {
      const before = keys(300);
      const fractions = { validation: 0.2, test: 0.1 };
      const first = before.map((key) => assignSplit(key, 7, fractions));
      const grown = [...keys(500, 'new-'), ...before].sort(() => 0.5 - Math.random());
      const again = new Map(grown.map((key) => [key.relativePath, assignSplit(key, 7, fractions)]));
      expect(before.map((key) => again.get(key.relativePath))).to.deep.equal(first);
      expect(before.map((key) => assignSplit(key, 8, fractions))).not.to.deep.equal(first);
    });

    it('respects the fractions roughly over 1000 files, and holds out a share independently', () => {
      const all = keys(1000);
      const count = (split: string) => all.filter((key) => assignSplit(key, 3, { validation: 0.2, test: 0.1 }) === split).length;
      expect(count('validation')).to.be.within(160, 240);
      expect(count('test')).to.be.within(70, 130);
      expect(count('train')).to.be.within(630, 770);
      expect(all.every((key) => assignSplit(key, 3, { validation: 0.2 }) !== 'test')).to.equal(true);
      const validation = all.filter((key) => assignSplit(key, 3, { validation: 0.5 }) === 'validation');
      const heldOut = validation.filter((key) => holdOut(key, 3, 0.2)).length;
      expect(heldOut / validation.length).to.be.within(0.14, 0.26);
      const score = splitScore(all[0]!, 3);
      expect(score).to.be.within(0, 1).and.to.equal(splitScore(all[0]!, 3));
    });

    it('rejects fractions outside [0, 1) or adding up to 1', () => {
      const key = { className: 'a', relativePath: 'a/x.png' };
      expect(() => assignSplit(key, 0, { validation: 1.5 })).to.throw(
        ThawError,
        /validation: received 1\.5; expected a fraction in \[0, 1\)/,
      );
      expect(() => assignSplit(key, 0, { validation: 0.6, test: 0.4 })).to.throw(ThawError, /validation \+ test: received 0\.6 \+ 0\.4/);
      expect(() => holdOut(key, 0, -0.1)).to.throw(ThawError, /hold-out fraction: received -0\.1/);
    });
  });

  describe('decodeImage', () => {
    it('decodes JPEG, PNG, WebP and both kinds of BMP to the requested size and channels', async () => {
      const files = { jpeg: join(dir, 'd.jpg'), png: join(dir, 'd.png'), webp: join(dir, 'd.webp') } as const;
      for (const [format, file] of Object.entries(files)) {
        await writeImage(file, format as 'png' | 'jpeg' | 'webp', { width: 9, height: 6, channels: 3 });
      }
      const bmp = join(dir, 'd.bmp');
      await writeFile(bmp, buildBmp({ width: 3, height: 2, bits: 24, rows: rgbRows }));
      for (const file of [...Object.values(files), bmp]) {
        const rgb = await decodeImage(file, { size: [5, 7] });
        expect([rgb.height, rgb.width, rgb.channels, rgb.data.length], file).to.deep.equal([5, 7, 3, 105]);
        const grey = await decodeImage(file, { size: [4, 2], colorMode: 'grayscale', interpolation: 'area' });
        expect([grey.height, grey.width, grey.channels, grey.data.length], file).to.deep.equal([4, 2, 1, 8]);
      }
    });

    it('drops alpha without compositing and turns grey with PIL weights', async () => {
      const file = join(dir, 'alpha.png');
      const colours = [
        [200, 100, 50, 0],
        [255, 0, 0, 128],
        [0, 255, 0, 255],
        [0, 0, 255, 10],
      ];
      await writeImage(file, 'png', { width: 4, height: 1, channels: 4 }, (x, _y, c) => colours[x]![c]!);
      const rgb = await decodeImage(file, { size: [1, 4] });
      expect(Array.from(rgb.data)).to.deep.equal(colours.flatMap((colour) => colour.slice(0, 3)));
      const grey = await decodeImage(file, { size: [1, 4], colorMode: 'grayscale' });
      // PIL: L = (19595 R + 38470 G + 7471 B + 32768) >> 16
      expect(Array.from(grey.data)).to.deep.equal([124, 76, 150, 29]);
    });

    it('reads the first frame of an animated GIF', async () => {
      const file = join(dir, 'two-frames.gif');
      const frames = Buffer.concat([Buffer.alloc(4 * 4 * 3, 200), Buffer.alloc(4 * 4 * 3, 10)]);
      await writeFile(
        file,
        await sharp(frames, { raw: { width: 4, height: 8, channels: 3, pageHeight: 4 } })
          .gif()
          .toBuffer(),
      );
      expect((await sharp(file).metadata()).pages).to.equal(2);
      const image = await decodeImage(file, { size: [4, 4] });
      expect(image.height).to.equal(4);
      expect(new Set(image.data)).to.deep.equal(new Set([200]));
    });

    it('decodes 24-bit, 32-bit and palette BMPs, bottom-up and top-down', () => {
      for (const topDown of [false, true]) {
        for (const bits of [24, 32] as const) {
          const image = decodeBmp(buildBmp({ width: 3, height: 2, bits, rows: rgbRows, topDown }), 'x.bmp');
          expect([image.height, image.width, image.channels]).to.deep.equal([2, 3, 3]);
          expect(Array.from(image.data), `${bits} bits, top-down ${topDown}`).to.deep.equal(rgbFlat);
        }
        const palette = [
          [9, 9, 9],
          [255, 0, 0],
          [0, 255, 0],
          [0, 0, 255],
          [10, 20, 30],
        ];
        const indexed = buildBmp({
          width: 3,
          height: 2,
          bits: 8,
          palette,
          topDown,
          rows: [
            [1, 2, 3],
            [4, 0, 4],
          ],
        });
        expect(Array.from(decodeBmp(indexed, 'p.bmp').data)).to.deep.equal([
          ...[255, 0, 0, 0, 255, 0, 0, 0, 255],
          ...[10, 20, 30, 9, 9, 9, 10, 20, 30],
        ]);
      }
    });

    it('refuses other BMPs with the reason, naming the file', async () => {
      const sixteen = buildBmp({ width: 2, height: 1, bits: 16, rows: [] });
      expect(() => decodeBmp(sixteen, 'a.bmp')).to.throw(
        ThawError,
        /a\.bmp: BMP of 16 bits per pixel is not supported; expected 24, 32 or 8/,
      );
      const rle = buildBmp({ width: 2, height: 1, bits: 8, rows: [[0, 0]], palette: [[1, 2, 3]], compression: 1 });
      expect(() => decodeBmp(rle, 'b.bmp')).to.throw(ThawError, /b\.bmp: BMP compression 1 .* not supported/);
      const whole = buildBmp({ width: 3, height: 2, bits: 24, rows: rgbRows });
      expect(() => decodeBmp(whole.subarray(0, whole.length - 3), 'c.bmp')).to.throw(ThawError, /c\.bmp: .* truncated/);
      const badIndex = buildBmp({ width: 1, height: 1, bits: 8, rows: [[5]], palette: [[1, 2, 3]] });
      expect(() => decodeBmp(badIndex, 'd.bmp')).to.throw(ThawError, /d\.bmp: BMP pixel \(0, 0\) uses colour 5 of a palette of 1/);
      const file = join(dir, 'sixteen.bmp');
      await writeFile(file, sixteen);
      await expectThaw(decodeImage(file, { size: [2, 2] }), [file, '16 bits per pixel']);
    });

    it('names the file and the decoder’s reason for a corrupt, truncated or missing file', async () => {
      const garbage = join(dir, 'garbage.jpg');
      await writeFile(garbage, 'this is not an image at all');
      await expectThaw(decodeImage(garbage, { size: [2, 2] }), [garbage, 'cannot decode the image', 'unsupported image format']);
      const whole = join(dir, 'whole.jpg');
      await writeImage(whole, 'jpeg', { width: 32, height: 32, channels: 3 });
      const cut = join(dir, 'cut.jpg');
      const bytes = await readFile(whole);
      await writeFile(cut, bytes.subarray(0, bytes.length / 2));
      await expectThaw(decodeImage(cut, { size: [2, 2] }), [cut, 'cannot decode the image']);
      await expectThaw(decodeImage(join(dir, 'missing.png'), { size: [2, 2] }), [join(dir, 'missing.png'), 'cannot read']);
      await expectThaw(decodeImage(whole, { size: [0, 2] }), ['size: received [0,2]; expected two positive integers']);
      await expectThaw(decodeImage(whole, { size: [2, 2], colorMode: 'rgba' as 'rgb' }), ['colorMode: received "rgba"']);
    });

    it('crops the centre to the target aspect ratio before resizing, as Keras', async () => {
      const file = join(dir, 'wide.png');
      await writeImage(file, 'png', { width: 8, height: 4, channels: 1 }, (x, y) => y * 8 + x);
      const cropped = await decodeImage(file, { size: [4, 4], colorMode: 'grayscale', cropToAspectRatio: true });
      expect(Array.from(cropped.data)).to.deep.equal([2, 3, 4, 5, 10, 11, 12, 13, 18, 19, 20, 21, 26, 27, 28, 29]);
      const squeezed = await decodeImage(file, { size: [4, 4], colorMode: 'grayscale', interpolation: 'nearest' });
      expect(Array.from(squeezed.data.subarray(0, 4))).to.deep.equal([1, 3, 5, 7]);
    });
  });

  describe('resizePixels', () => {
    const image = (height: number, width: number, channels: number): ImagePixels => ({
      data: Uint8Array.from({ length: height * width * channels }, (_, i) => (i * 97 + 13) % 256),
      height,
      width,
      channels,
    });

    it('matches TF’s bilinear and nearest resizes (half-pixel centres, no antialiasing)', () => {
      for (const [inH, inW] of [
        [4, 4],
        [5, 7],
        [13, 9],
      ] as const) {
        for (const [outH, outW] of [
          [8, 8],
          [3, 3],
          [6, 11],
          [1, 1],
        ] as const) {
          const source = image(inH, inW, 3);
          const tensor = tf.tensor4d(Float32Array.from(source.data), [1, inH, inW, 3]);
          const bilinear = tf.image.resizeBilinear(tensor, [outH, outW], false, true).dataSync();
          const nearest = tf.image.resizeNearestNeighbor(tensor, [outH, outW], false, true).dataSync();
          const ours = resizePixels(source, outH, outW, 'bilinear').data;
          ours.forEach((value, i) => {
            const expected = bilinear[i]!;
            // Exact halves may round either way after float error; everything else must agree.
            const tie = Math.abs((expected % 1) - 0.5) < 1e-3;
            expect(Math.abs(value - Math.round(expected)), `${inH}×${inW} → ${outH}×${outW} at ${i}`).to.be.at.most(tie ? 1 : 0);
          });
          expect(Array.from(resizePixels(source, outH, outW, 'nearest').data)).to.deep.equal(Array.from(nearest));
          tensor.dispose();
        }
      }
    });

    it('averages blocks for area, leaves same-size images alone, and keeps every method in range', () => {
      const source = image(4, 6, 1);
      const area = resizePixels(source, 2, 3, 'area').data;
      const d = source.data;
      const mean = (y: number, x: number) =>
        (d[2 * y * 6 + 2 * x]! + d[2 * y * 6 + 2 * x + 1]! + d[(2 * y + 1) * 6 + 2 * x]! + d[(2 * y + 1) * 6 + 2 * x + 1]!) / 4;
      expect(Array.from(area)).to.deep.equal([0, 1, 2, 3, 4, 5].map((i) => Math.round(mean(Math.floor(i / 3), i % 3))));
      for (const method of ['bilinear', 'nearest', 'bicubic', 'area', 'lanczos3'] as const) {
        expect(resizePixels(source, 4, 6, method).data).to.equal(source.data);
        const bigger = resizePixels(source, 9, 13, method);
        expect([bigger.height, bigger.width, bigger.data.length]).to.deep.equal([9, 13, 117]);
        const smaller = resizePixels(image(13, 9, 3), 5, 4, method);
        expect(smaller.data.length).to.equal(60);
      }
      const bilinear = resizePixels(source, 9, 13, 'bilinear').data;
      expect(resizePixels(source, 9, 13, 'nearest').data).not.to.deep.equal(bilinear);
      expect(resizePixels(source, 9, 13, 'bicubic').data).not.to.deep.equal(bilinear);
      expect(resizePixels(source, 9, 13, 'lanczos3').data).not.to.deep.equal(bilinear);
      // A constant image stays constant under every (normalised) kernel.
      const flat = { data: new Uint8Array(20).fill(77), height: 4, width: 5, channels: 1 };
      for (const method of ['bilinear', 'bicubic', 'area', 'lanczos3'] as const) {
        expect(new Set(resizePixels(flat, 7, 3, method).data)).to.deep.equal(new Set([77]));
      }
    });
  });

  describe('PixelCache', () => {
    const options = { size: [6, 5] as [number, number] };

    function countingCache(cacheDir: string) {
      const log = recordingLogger();
      let decodes = 0;
      const cache = new PixelCache({
        dir: cacheDir,
        log,
        decode: (file, settings, bytes) => {
          decodes++;
          return decodeImage(file, settings, bytes);
        },
      });
      return { cache, log, decodes: () => decodes };
    }

    async function entries(cacheDir: string): Promise<string[]> {
      const out: string[] = [];
      for (const shard of await readdir(cacheDir))
        for (const name of await readdir(join(cacheDir, shard))) out.push(join(cacheDir, shard, name));
      return out;
    }

    it('decodes each content once, across files, instances and options', async () => {
      const cacheDir = join(dir, 'cache-hits');
      const file = join(dir, 'cached.png');
      await writeImage(file, 'png', { width: 12, height: 10, channels: 3 });
      const { cache, decodes } = countingCache(cacheDir);
      const first = await cache.read(file, options);
      expect(first).to.deep.equal(await decodeImage(file, options));
      expect(await cache.read(file, options)).to.deep.equal(first);
      expect(decodes()).to.equal(1);

      const copy = join(dir, 'copy-of-cached.png');
      await writeFile(copy, await readFile(file));
      expect(await cache.read(copy, options)).to.deep.equal(first);
      expect(decodes()).to.equal(1);
      await cache.read(file, { ...options, colorMode: 'grayscale' });
      await cache.read(file, { ...options, interpolation: 'nearest' });
      await cache.read(file, { ...options, cropToAspectRatio: true });
      expect(decodes()).to.equal(4);
      expect([cache.hits, cache.misses]).to.deep.equal([2, 4]);

      const later = countingCache(cacheDir);
      expect(await later.cache.read(copy, options)).to.deep.equal(first);
      expect(later.decodes()).to.equal(0);
      expect((await entries(cacheDir)).filter((name) => !name.endsWith('.px'))).to.deep.equal([]);

      await writeImage(copy, 'png', { width: 12, height: 10, channels: 3 }, () => 9);
      expect(new Set((await later.cache.read(copy, options)).data)).to.deep.equal(new Set([9]));
      expect(later.decodes()).to.equal(1);
    });

    it('replaces a truncated or garbled entry, with a warning', async () => {
      const cacheDir = join(dir, 'cache-damage');
      const file = join(dir, 'damaged-entry.png');
      await writeImage(file, 'png', { width: 12, height: 10, channels: 3 });
      const { cache, log, decodes } = countingCache(cacheDir);
      const good = await cache.read(file, options);
      const [entry] = await entries(cacheDir);
      const bytes = await readFile(entry!);

      await writeFile(entry!, bytes.subarray(0, bytes.length - 7));
      expect(await cache.read(file, options)).to.deep.equal(good);
      expect(decodes()).to.equal(2);
      expect(log.lines.at(-1)).to.match(
        /^warning: pixel cache: .*\.px is damaged \(83 bytes of pixels; expected 90\); decoding .*damaged-entry\.png again$/,
      );

      const garbled = Buffer.from(bytes);
      garbled[40] = garbled[40]! ^ 0xff;
      await writeFile(entry!, garbled);
      expect(await cache.read(file, options)).to.deep.equal(good);
      expect(decodes()).to.equal(3);
      expect(log.lines.at(-1)).to.match(/is damaged \(its pixels do not match their checksum\)/);

      expect(await readFile(entry!)).to.deep.equal(bytes);
      await cache.read(file, options);
      expect(decodes()).to.equal(3);
      expect(log.lines).to.have.length(2);
    });

    it('decodes without caching, warning once, when the folder cannot be written', async () => {
      const blocked = join(dir, 'cache-is-a-file');
      await writeFile(blocked, '');
      const { cache, log, decodes } = countingCache(blocked);
      const file = join(dir, 'cached.png');
      await cache.read(file, options);
      await cache.read(file, options);
      expect(decodes()).to.equal(2);
      expect(log.lines).to.have.length(1);
      expect(log.lines[0]).to.match(/^warning: pixel cache: cannot write into .*cache-is-a-file/);
    });
  });

  describe('readManifest', () => {
    it('reads paths relative to the CSV, labels and optional splits, with the lines they start on', async () => {
      const folder = join(dir, 'manifest');
      await mkdir(join(folder, 'img'), { recursive: true });
      for (const name of ['a.png', 'b.png', 'c d.png']) await png(join(folder, 'img', name));
      await png(join(dir, 'outside.png'));
      const csv = join(folder, 'list.csv');
      await writeFile(
        csv,
        '\ufefffile,class,part\r\nimg/a.png,cat,train\r\n\r\n"img/b.png","dog\r\nish",\r\nimg/c d.png,cat,test\r\n../outside.png,dog,validation',
      );
      const rows = await readManifest(csv, { pathColumn: 'file', labelColumn: 'class', splitColumn: 'part' });
      expect(rows).to.deep.equal([
        { path: join(folder, 'img', 'a.png'), relativePath: 'img/a.png', label: 'cat', split: 'train', line: 2 },
        { path: join(folder, 'img', 'b.png'), relativePath: 'img/b.png', label: 'dog\r\nish', line: 4 },
        { path: join(folder, 'img', 'c d.png'), relativePath: 'img/c d.png', label: 'cat', split: 'test', line: 6 },
        { path: join(dir, 'outside.png'), relativePath: '../outside.png', label: 'dog', split: 'validation', line: 7 },
      ]);
      const plain = join(folder, 'plain.csv');
      await writeFile(plain, 'label,path\ncat,img/a.png\n');
      expect(await readManifest(plain)).to.deep.equal([
        { path: join(folder, 'img', 'a.png'), relativePath: 'img/a.png', label: 'cat', line: 2 },
      ]);
    });

    it('names the CSV file and line of an unknown split, an empty label, a missing file or column', async () => {
      const folder = join(dir, 'manifest');
      const write = async (name: string, text: string) => {
        const file = join(folder, name);
        await writeFile(file, text);
        return file;
      };
      const split = await write('split.csv', 'path,label,split\nimg/a.png,cat,train\n\nimg/b.png,dog,val\n');
      await expectThaw(readManifest(split), [`${split}:4: split "val"; expected one of train, validation, test`]);
      const label = await write('label.csv', 'path,label\nimg/a.png,cat\nimg/b.png,\n');
      await expectThaw(readManifest(label), [`${label}:3: empty label for img/b.png`]);
      const missing = await write('missing.csv', 'path,label\nimg/a.png,cat\nimg/nope.png,dog\n');
      await expectThaw(readManifest(missing), [`${missing}:3: ${join(folder, 'img', 'nope.png')} does not exist`]);
      const column = await write('column.csv', 'file,class\nimg/a.png,cat\n');
      await expectThaw(readManifest(column), [`${column}: no column "path" in the header (found "file", "class")`]);
      await expectThaw(readManifest(label, { splitColumn: 'fold' }), [`${label}: no column "fold" in the header (found "path", "label")`]);
      const broken = await write('broken.csv', 'path,label\nimg/a.png,"cat\n');
      await expectThaw(readManifest(broken), [`${broken}: not a readable CSV file`, 'Quote Not Closed']);
    });
  });

  describe('writePng', () => {
    it('round-trips grey and RGB pixels bit-exactly through decodeImage', async () => {
      const grey = Uint8Array.from({ length: 28 * 28 }, (_, i) => (i * 131 + (i >> 3)) % 256);
      const greyFile = join(dir, 'grey.png');
      await writePng(greyFile, { data: grey, height: 28, width: 28, channels: 1 });
      const meta = await sharp(greyFile).metadata();
      expect([meta.channels, meta.depth, meta.width, meta.height]).to.deep.equal([1, 'uchar', 28, 28]);
      const back = await decodeImage(greyFile, { size: [28, 28], colorMode: 'grayscale' });
      expect(back.channels).to.equal(1);
      expect(Buffer.from(back.data).equals(Buffer.from(grey))).to.equal(true);

      const rgb = Uint8Array.from({ length: 5 * 7 * 3 }, (_, i) => (i * 53) % 256);
      const rgbFile = join(dir, 'rgb.png');
      await writePng(rgbFile, { data: rgb, height: 5, width: 7, channels: 3 });
      expect(Array.from((await decodeImage(rgbFile, { size: [5, 7] })).data)).to.deep.equal(Array.from(rgb));
      await expectThaw(encodePng({ data: grey, height: 28, width: 27, channels: 1 }), [
        'PNG: received 784 bytes for 28×27×1; expected 756',
      ]);
    });
  });
});

async function expectThaw(promise: Promise<unknown>, parts: readonly string[]): Promise<void> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  expect(caught, `expected a ThawError containing ${parts.join(' … ')}`).to.be.instanceOf(ThawError);
  for (const part of parts) expect((caught as Error).message).to.contain(part);
}
