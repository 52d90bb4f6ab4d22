/**
 * One trial of a spec, run as `thaw run` runs it (the built-in plugins, the frozen-feature cache
 * from THAW_FEATURE_CACHE_MB / THAW_FEATURE_CACHE_DISK_MB under THAW_CACHE_DIR, a file store), for
 * bench/image-folder-memory.ts, which starts it in a child process so that its peak memory is its own.
 *   node bench/dist/image-folder-memory-trial.js SPEC [--backend auto|wasm|…] [--sample-ms 250]
 * Log lines go to stderr. At exit it writes one line to stdout, `image-folder-memory {json}`: the
 * process' peak resident memory (process.resourceUsage().maxRSS, KiB), the trial's figures and, for
 * each stage of the trial (load and build, frozen features, epoch, evaluation, recording), its
 * seconds and the peaks sampled in it: resident memory, bytes in tensors, the wasm heap, the JS
 * heap and memory outside it (Buffers, ArrayBuffers).
 */
import { writeSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import {
  FileStoreTracker,
  FrozenFeatureCache,
  TrialObserver,
  TrialPipeline,
  createThawContainer,
  loadSpec,
  selectBackend,
  type BackendName,
  type EpochLogs,
  type Logger,
  type TrialResult,
} from '@thaw/core';
import { pluginsModule } from '@thaw/plugins';

/** Starts the line with the report; bench/image-folder-memory.ts looks for it. */
const RESULT_PREFIX = 'image-folder-memory ';

/** Peaks of one stage, in bytes. */
export interface StagePeaks {
  seconds: number;
  rss: number;
  tensors: number;
  wasmHeap: number;
  jsHeap: number;
  external: number;
  arrayBuffers: number;
}

export interface TrialReport {
  /** process.resourceUsage().maxRSS at exit, KiB. */
  maxRssKiB: number;
  backend: string;
  stages: Record<string, StagePeaks>;
  trial?: {
    seconds: number;
    counts: { train: number; validation: number; test: number };
    epochs: { seconds: number; loss: number; valAccuracy: number }[];
    trainImagesPerSecond: number;
    testAccuracy: number;
    trainableUnits: number;
  };
  featureCache?: { hits: number; diskHits: number; misses: number; memoryBytes: number; entries: number };
  error?: string;
}

/** The wasm backend's heap (it grows and never shrinks), or 0 on another backend. */
function wasmHeapBytes(): number {
  const backend = tf.engine().backendName === 'wasm' ? (tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } }) : undefined;
  return backend?.wasm?.HEAPU8?.buffer.byteLength ?? 0;
}

function main(): Promise<void> | void {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { backend: { type: 'string', default: 'auto' }, 'sample-ms': { type: 'string', default: '250' } },
  });
  const specFile = positionals[0];
  if (specFile === undefined) throw new Error('usage: image-folder-memory-trial.js SPEC [--backend auto|wasm|…] [--sample-ms 250]');

  const report: TrialReport = { maxRssKiB: 0, backend: '', stages: {} };
  let stage = 'setup';
  let stageStarted = performance.now();
  const peaks = (): StagePeaks =>
    (report.stages[stage] ??= { seconds: 0, rss: 0, tensors: 0, wasmHeap: 0, jsHeap: 0, external: 0, arrayBuffers: 0 });
  const sample = () => {
    const memory = process.memoryUsage();
    const p = peaks();
    p.rss = Math.max(p.rss, memory.rss);
    p.jsHeap = Math.max(p.jsHeap, memory.heapUsed);
    p.external = Math.max(p.external, memory.external);
    p.arrayBuffers = Math.max(p.arrayBuffers, memory.arrayBuffers);
    if (report.backend !== '') {
      p.tensors = Math.max(p.tensors, tf.memory().numBytes);
      p.wasmHeap = Math.max(p.wasmHeap, wasmHeapBytes());
    }
  };
  const enter = (next: string) => {
    sample();
    peaks().seconds += (performance.now() - stageStarted) / 1000;
    stage = next;
    stageStarted = performance.now();
    sample();
  };
  const sampler = setInterval(sample, Number(values['sample-ms']));
  sampler.unref();
  process.on('exit', () => {
    enter('exit');
    delete report.stages['exit'];
    report.maxRssKiB = process.resourceUsage().maxRSS;
    writeSync(1, `${RESULT_PREFIX}${JSON.stringify(report)}\n`);
  });

  const log: Logger = {
    info: (line) => process.stderr.write(`${line}\n`),
    warn: (line) => process.stderr.write(`warning: ${line}\n`),
  };
  // The stage the trial is in, from its events: onBatchEnd is left out, so that no batch waits for its loss.
  const stages: TrialObserver = {
    onTrialBegin: () => enter('load + build'),
    onPhaseBegin: () => enter('frozen features'),
    onEpochBegin: () => enter('epochs'),
    onEpochEnd: (logs: EpochLogs) => {
      log.info(`epoch ${logs.epoch + 1}: ${logs.seconds.toFixed(1)} s, loss ${logs.loss.toFixed(4)}, val accuracy ${logs.valAccuracy}`);
    },
    onPhaseEnd: () => enter('evaluate'),
    onTrialEnd: () => enter('record'),
  };

  return (async () => {
    const backend = await selectBackend(values.backend as BackendName | 'auto');
    report.backend = backend.detail;
    const loaded = await loadSpec(specFile);
    const container = await createThawContainer({
      tracker: new FileStoreTracker(loaded.spec.tracking.store),
      logger: log,
      modules: [{ module: pluginsModule, source: { kind: 'built-in', name: '@thaw/plugins' } }],
    });
    container.bind(TrialObserver).toConstantValue(stages);
    let result: TrialResult;
    try {
      result = await container.get<TrialPipeline>(TrialPipeline).run(loaded, { backend: backend.name });
    } catch (error) {
      report.error = error instanceof Error ? error.message : String(error);
      process.exitCode = 1;
      return;
    }
    const { counts } = result.trial.plan.data.facts;
    report.trial = {
      seconds: result.seconds,
      counts: { train: counts.train, validation: counts.validation, test: counts.test },
      epochs: result.train.epochs.map((e) => ({ seconds: e.seconds, loss: e.loss, valAccuracy: e.valAccuracy })),
      trainImagesPerSecond: result.train.imagesPerSecond,
      testAccuracy: result.evaluation.accuracy,
      trainableUnits: result.facts.trainableUnits,
    };
    report.featureCache = container.get<FrozenFeatureCache>(FrozenFeatureCache).stats();
  })();
}

await main();
