// Writes data/fashion-mnist-subset/: the first N images of each class from the full Fashion-MNIST
// IDX files, in the same gzipped IDX format, so that thaw runs where the full set is absent.
// Usage: node scripts/make-fashion-mnist-subset.mjs [source-folder] [train-per-class] [test-per-class]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { readIdx, encodeIdx, FASHION_MNIST_FILES } from '../dist/index.js';

const [source = '/usr/share/datasets/fashion-mnist', trainPerClass = '500', testPerClass = '200'] = process.argv.slice(2);
const out = new URL('../data/fashion-mnist-subset/', import.meta.url).pathname;
mkdirSync(out, { recursive: true });

async function subset(imagesFile, labelsFile, perClass) {
  const images = await readIdx(join(source, imagesFile));
  const labels = await readIdx(join(source, labelsFile));
  const taken = new Array(10).fill(0);
  const rows = [];
  labels.data.forEach((label, index) => {
    if (taken[label] < perClass) {
      taken[label]++;
      rows.push(index);
    }
  });
  const pixels = new Uint8Array(rows.length * 784);
  rows.forEach((row, i) => pixels.set(images.data.subarray(row * 784, (row + 1) * 784), i * 784));
  const picked = Uint8Array.from(rows, (row) => labels.data[row]);
  writeFileSync(join(out, imagesFile), gzipSync(encodeIdx([rows.length, 28, 28], pixels), { level: 9 }));
  writeFileSync(join(out, labelsFile), gzipSync(encodeIdx([rows.length], picked), { level: 9 }));
  console.log(`${imagesFile}: ${rows.length} images`);
}

await subset(FASHION_MNIST_FILES.trainImages, FASHION_MNIST_FILES.trainLabels, Number(trainPerClass));
await subset(FASHION_MNIST_FILES.testImages, FASHION_MNIST_FILES.testLabels, Number(testPerClass));
