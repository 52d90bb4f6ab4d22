import { existsSync } from 'node:fs';
import { mkdir, readFile, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
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
 * and half the cores for each op. Training steps are some 1,400 ops, most on small tensors, where
 * handing work to more threads costs more than it saves; on 2 shared cores one thread per op made
 * MobileNetV2 fine-tuning 16–36% faster (bench/README.md). Read when TensorFlow starts, so set
 * before loading the binding.
 */
export function setNativeThreadDefaults(): void {
  process.env['TF_NUM_INTEROP_THREADS'] ??= '1';
  process.env['TF_NUM_INTRAOP_THREADS'] ??= String(Math.max(1, Math.floor(availableParallelism() / 2)));
}

/** The TF.js packages tfjs-node requires: they must be thaw's own copies, or its backend registers on another engine. */
const SHARED_PACKAGES = ['tfjs', 'tfjs-core', 'tfjs-layers', 'tfjs-converter', 'tfjs-data', 'tfjs-backend-cpu', 'tfjs-backend-webgl'];

/** Where a symlink points; undefined for anything else (a folder, nothing). */
async function linkTarget(path: string): Promise<string | undefined> {
  try {
    return await readlink(path);
  } catch {
    return undefined;
  }
}

/**
 * Points the build's @tensorflow/tfjs* at the copies this thaw uses and loads tfjs-node from it.
 * Links already right are left alone; a link is replaced by renaming a new one over it, which is
 * atomic, so processes starting at once (a `--parallel` sweep's workers) never see it missing.
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
    const current = await linkTarget(link);
    if (current === target) continue;
    const temporary = `${link}.${process.pid}.link`;
    await rm(temporary, { recursive: true, force: true });
    await symlink(target, temporary, 'dir');
    // The copy npm installed with tfjs-node is a folder, which a rename cannot replace.
    if (current === undefined) await rm(link, { recursive: true, force: true });
    await rename(temporary, link);
  }
  // TensorFlow's C++ logging (CPU feature notices) is noise for thaw's users unless they ask for it.
  process.env['TF_CPP_MIN_LOG_LEVEL'] ??= '2';
  setNativeThreadDefaults();
  createRequire(join(build.dir, 'package.json'))('@tensorflow/tfjs-node');
}
