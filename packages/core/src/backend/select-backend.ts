import * as tf from '@tensorflow/tfjs';
import { ThawError, messageOf } from '@thaw/contracts';
import { registerCpuKernelFixes } from './cpu-kernel-fixes.js';
import { findNativeBuild, loadNativeBuild, setNativeThreadDefaults } from './native-build.js';
import { registerNativeKernels } from './native-kernels.js';
import { registerWasmTrainingKernels } from './wasm-training-kernels.js';

/** Backends a user can ask for with --backend, fastest first; `auto` takes the first that loads. */
export const BACKEND_NAMES = ['node-gpu', 'node', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

export interface BackendCandidate {
  readonly name: BackendName;
  /** The package that provides it. */
  readonly packageName: string;
  /** TF.js' name for the registered backend. */
  readonly tfName: string;
}

export const BACKEND_CANDIDATES: readonly BackendCandidate[] = [
  { name: 'node-gpu', packageName: '@tensorflow/tfjs-node-gpu', tfName: 'tensorflow' },
  { name: 'node', packageName: '@tensorflow/tfjs-node', tfName: 'tensorflow' },
  { name: 'wasm', packageName: '@tensorflow/tfjs-backend-wasm', tfName: 'wasm' },
  { name: 'cpu', packageName: '@tensorflow/tfjs (cpu)', tfName: 'cpu' },
];

export interface BackendChoice {
  readonly name: BackendName;
  readonly tfName: string;
  /** What provides it, e.g. "@tensorflow/tfjs-node (built by thaw against TensorFlow 2.21.0)". */
  readonly detail: string;
  /** One line per candidate that was tried and why it was passed over. */
  readonly skipped: readonly string[];
}

/**
 * Loads a candidate's package and makes its backend current; returns what provides it, or throws
 * with the reason it cannot be used. `node` is tfjs-node from npm, else the build of `thaw native install`.
 */
async function activate(candidate: BackendCandidate): Promise<string> {
  let detail: string = candidate.packageName;
  switch (candidate.name) {
    case 'node-gpu':
      await import(candidate.packageName);
      break;
    case 'node':
      setNativeThreadDefaults();
      try {
        await import(candidate.packageName);
      } catch (error) {
        const build = await findNativeBuild();
        if (!build) throw error;
        await loadNativeBuild(build);
        detail = `${candidate.packageName} ${build.tfjsNodeVersion}, built by thaw against TensorFlow ${build.tensorflowVersion}`;
      }
      break;
    case 'wasm':
      await import('@tensorflow/tfjs-backend-wasm');
      registerWasmTrainingKernels();
      break;
    case 'cpu':
      registerCpuKernelFixes();
      break;
  }
  if (!(await tf.setBackend(candidate.tfName))) throw new Error(`TF.js could not initialise backend ${candidate.tfName}`);
  await tf.ready();
  if (candidate.tfName === 'tensorflow') registerNativeKernels();
  return detail;
}

export function reasonOf(error: unknown): string {
  const message = messageOf(error);
  if (/Cannot find (package|module)/.test(message)) return 'not installed';
  return message.split('\n')[0]!;
}

/**
 * Chooses the backend: the one asked for, or the first of node-gpu, node, wasm, cpu that loads.
 * A backend asked for by name that cannot load is an error, not a silent fallback.
 */
export async function selectBackend(requested: BackendName | 'auto' = 'auto'): Promise<BackendChoice> {
  if (requested !== 'auto') {
    const candidate = BACKEND_CANDIDATES.find((c) => c.name === requested);
    if (!candidate) throw new ThawError(`--backend: received ${JSON.stringify(requested)}; expected auto, ${BACKEND_NAMES.join(', ')}`);
    try {
      return { name: candidate.name, tfName: candidate.tfName, detail: await activate(candidate), skipped: [] };
    } catch (error) {
      const hint = candidate.name === 'node' ? '; `thaw native install` builds it from a TensorFlow wheel' : '';
      throw new ThawError(`--backend ${requested}: ${candidate.packageName} cannot be used (${reasonOf(error)})${hint}`);
    }
  }
  const skipped: string[] = [];
  for (const candidate of BACKEND_CANDIDATES) {
    try {
      return { name: candidate.name, tfName: candidate.tfName, detail: await activate(candidate), skipped };
    } catch (error) {
      skipped.push(`${candidate.name} (${candidate.packageName}): ${reasonOf(error)}`);
    }
  }
  throw new ThawError(`no TF.js backend could be initialised:\n  ${skipped.join('\n  ')}`);
}
