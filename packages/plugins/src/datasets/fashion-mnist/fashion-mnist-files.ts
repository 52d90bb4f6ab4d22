import { mkdir, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ThawError, messageOf, thawCacheDir, type Logger } from '@thaw/core';

export const FASHION_MNIST_FILES = {
  trainImages: 'train-images-idx3-ubyte.gz',
  trainLabels: 'train-labels-idx1-ubyte.gz',
  testImages: 't10k-images-idx3-ubyte.gz',
  testLabels: 't10k-labels-idx1-ubyte.gz',
} as const;

/** The official location (the dataset's README). */
export const FASHION_MNIST_URL = 'http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/';
/** Debian's package dataset-fashion-mnist. */
export const DEBIAN_FASHION_MNIST = '/usr/share/datasets/fashion-mnist';
/** A real subset shipped with thaw, so the default experiment runs on a machine with nothing installed. */
export const BUNDLED_SUBSET = resolve(dirname(fileURLToPath(import.meta.url)), '../../../data/fashion-mnist-subset');

export interface FashionMnistFolder {
  readonly dir: string;
  readonly description: string;
  readonly subset: boolean;
}

async function hasAllFiles(dir: string): Promise<boolean> {
  try {
    await Promise.all(Object.values(FASHION_MNIST_FILES).map((file) => stat(join(dir, file))));
    return true;
  } catch {
    return false;
  }
}

async function download(url: string, dir: string, timeoutMs: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const file of Object.values(FASHION_MNIST_FILES)) {
    const address = new URL(file, url).href;
    let response: Response;
    try {
      response = await fetch(address, { signal: AbortSignal.timeout(timeoutMs) });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw new Error(`${address}: ${cause?.code ?? cause?.message ?? messageOf(error)}`, { cause: error });
    }
    if (!response.ok) throw new Error(`${address}: HTTP ${response.status}`);
    const bytes = new Uint8Array(await response.arrayBuffer());
    const partial = join(dir, `${file}.partial`);
    await writeFile(partial, bytes);
    await rename(partial, join(dir, file));
  }
}

export interface FindOptions {
  readonly path?: string;
  readonly download: boolean;
  readonly url: string;
  readonly specDir: string;
  readonly where: string;
  readonly log: Logger;
  /** Where a system package put the files; Debian's location unless a test says otherwise. */
  readonly systemDir?: string;
  /** The bundled subset's folder; a test may point it elsewhere. */
  readonly bundledDir?: string;
}

/**
 * Finds the four IDX files: (1) the spec's path, (2) thaw's cache, (3) Debian's package,
 * (4) a download into the cache, (5) the bundled subset. A failed download is one line, then the
 * next source; a path given in the spec that lacks the files is an error.
 */
export async function findFashionMnist(options: FindOptions): Promise<FashionMnistFolder> {
  if (options.path !== undefined) {
    const dir = resolve(options.specDir, options.path);
    if (!(await hasAllFiles(dir))) {
      throw new ThawError(
        `${options.where}.path: received ${JSON.stringify(options.path)}, but ${dir} does not hold the four Fashion-MNIST files; expected ${Object.values(FASHION_MNIST_FILES).join(', ')}`,
      );
    }
    return { dir, description: dir, subset: false };
  }
  const cache = join(thawCacheDir(), 'datasets', 'fashion-mnist');
  if (await hasAllFiles(cache)) return { dir: cache, description: cache, subset: false };
  const systemDir = options.systemDir ?? DEBIAN_FASHION_MNIST;
  if (await hasAllFiles(systemDir)) return { dir: systemDir, description: systemDir, subset: false };
  if (options.download) {
    try {
      await download(options.url, cache, 30_000);
      options.log.info(`fashion-mnist: downloaded from ${options.url} into ${cache}`);
      return { dir: cache, description: cache, subset: false };
    } catch (error) {
      options.log.warn(`fashion-mnist: download failed (${messageOf(error)}); using the bundled subset`);
    }
  }
  const bundledDir = options.bundledDir ?? BUNDLED_SUBSET;
  if (await hasAllFiles(bundledDir)) {
    return { dir: bundledDir, description: `bundled subset (${bundledDir})`, subset: true };
  }
  throw new ThawError(
    `${options.where}: Fashion-MNIST not found in ${cache} or ${systemDir}, the download failed or was off, and the bundled subset ${bundledDir} is missing; install dataset-fashion-mnist or give data.path`,
  );
}
