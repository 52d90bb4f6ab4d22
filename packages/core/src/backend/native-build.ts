import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { thawCacheDir } from '../util/thaw-cache-dir.js';

/** A tfjs-node package whose binding thaw built against the libtensorflow of a TensorFlow wheel. */
export interface NativeBuild {
  /** Folder with package.json and node_modules/@tensorflow/tfjs-node. */
  readonly dir: string;
  readonly tfjsNodeVersion: string;
  readonly tensorflowVersion: string;
  /** The wheel or site-packages folder it was built from. */
  readonly source: string;
  readonly builtAt: string;
}

export function nativeRoot(): string {
  return join(thawCacheDir(), 'native');
}

/** The build `thaw native install` made last, if it is still on disk. */
export async function findNativeBuild(): Promise<NativeBuild | undefined> {
  try {
    const build = JSON.parse(await readFile(join(nativeRoot(), 'current.json'), 'utf8')) as NativeBuild;
    return existsSync(join(build.dir, 'node_modules', '@tensorflow', 'tfjs-node', 'package.json')) ? build : undefined;
  } catch {
    return undefined;
  }
}

export async function recordNativeBuild(build: NativeBuild): Promise<void> {
  await mkdir(nativeRoot(), { recursive: true });
  const partial = join(nativeRoot(), `current.json.${process.pid}`);
  await writeFile(partial, JSON.stringify(build, undefined, 2));
  await rename(partial, join(nativeRoot(), 'current.json'));
}

/**
 * TensorFlow's thread pools, unless set: one inter-op thread (eager ops run one at a time anyway)
 * and every core for each op, as TensorFlow's default. Measured on 2 idle cores (bench/README.md),
 * two threads per op made the small CNN's epoch and MobileNetV2 1.0 fine-tuning 15–30% faster
 * than one, and `--parallel 2` sweeps no slower. The count is fixed by the machine, never by its
 * load: ops split across another number of threads sum in another order, and a trial must give
 * the same numbers each time it runs (a sweep's workers the same as a sequential sweep).
 * Read when TensorFlow starts, so set before loading the binding.
 */
export function setNativeThreadDefaults(): void {
  process.env['TF_NUM_INTEROP_THREADS'] ??= '1';
  process.env['TF_NUM_INTRAOP_THREADS'] ??= String(availableParallelism());
}

/** The TF.js packages tfjs-node requires: they must be thaw's own copies, or its backend registers on another engine. */
const SHARED_PACKAGES = ['tfjs', 'tfjs-core', 'tfjs-layers', 'tfjs-converter', 'tfjs-data', 'tfjs-backend-cpu', 'tfjs-backend-webgl'];

/**
 * Points the build's @tensorflow/tfjs* at the copies this thaw uses (symlinks, replaced
 * atomically, so parallel workers may do it at once) and loads tfjs-node from it.
 */
export async function loadNativeBuild(build: NativeBuild): Promise<void> {
  const ours = createRequire(import.meta.url);
  for (const name of SHARED_PACKAGES) {
    let target: string;
    try {
      target = dirname(ours.resolve(`@tensorflow/${name}/package.json`));
    } catch {
      continue;
    }
    const link = join(build.dir, 'node_modules', '@tensorflow', name);
    const temporary = `${link}.${process.pid}.link`;
    await rm(temporary, { recursive: true, force: true });
    await symlink(target, temporary, 'dir');
    await rm(link, { recursive: true, force: true });
    await rename(temporary, link);
  }
  // TensorFlow's C++ logging (CPU feature notices) is noise for thaw's users unless they ask for it.
  process.env['TF_CPP_MIN_LOG_LEVEL'] ??= '2';
  setNativeThreadDefaults();
  createRequire(join(build.dir, 'package.json'))('@tensorflow/tfjs-node');
}
