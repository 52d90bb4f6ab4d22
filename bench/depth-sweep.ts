/**
 * Wall time of a depth sweep — strategy.unfreeze over 0, 1, 2, all × seeds 1, 2 on a spec
 * (default experiments/fashion-transfer.yaml) — with the frozen-feature cache and without it,
 * plus the per-epoch time of a depth-0 trial, and peak memory. Trains the base first if needed.
 *   node bench/dist/depth-sweep.js [--backend wasm|node|…] [--spec file] [--depths 0,1,2,all] [--seeds 1,2]
 *     [--no-cache-only|--cache-only]
 * bench/specs/mobilenet-v2.yaml is a base whose frozen part is expensive: --spec bench/specs/mobilenet-v2.yaml --depths 0 --seeds 1
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import {
  FileStoreTracker,
  FrozenFeatureCache,
  TrialPipeline,
  createThawContainer,
  loadSpec,
  selectBackend,
  silentLogger,
  type BackendName,
  type TrialResult,
} from '@thaw/core';
import { pluginsModule } from '@thaw/plugins';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'auto' },
    spec: { type: 'string', default: resolve(import.meta.dirname, '../../experiments/fashion-transfer.yaml') },
    'cache-only': { type: 'boolean', default: false },
    'no-cache-only': { type: 'boolean', default: false },
    depths: { type: 'string', default: '0,1,2,all' },
    seeds: { type: 'string', default: '1,2' },
  },
});
const backend = await selectBackend(values.backend as BackendName | 'auto');
const depths = values.depths.split(',');
const seeds = values.seeds.split(',').map(Number);

let peakTensorBytes = 0;
let peakRss = 0;
const sample = setInterval(() => {
  peakTensorBytes = Math.max(peakTensorBytes, tf.memory().numBytes);
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}, 50);

async function sweep(cache: boolean): Promise<{ seconds: number; results: TrialResult[] }> {
  const scratch = await mkdtemp(join(tmpdir(), 'thaw-bench-'));
  const container = await createThawContainer({
    tracker: new FileStoreTracker(join(scratch, 'mlruns')),
    logger: silentLogger,
    featureCache: { memoryBytes: 1024 * 2 ** 20, diskBytes: 0, dir: join(scratch, 'features') },
    modules: [{ module: pluginsModule, source: { kind: 'built-in', name: '@thaw/plugins' } }],
  });
  const pipeline = container.get<TrialPipeline>(TrialPipeline);
  // The base is trained once, outside the timing (from-run with ifMissing: run).
  await pipeline.run(await loadSpec(values.spec, ['train.epochs=1', 'strategy.unfreeze=0']), { backend: backend.name });
  const started = performance.now();
  const results: TrialResult[] = [];
  for (const depth of depths) {
    for (const seed of seeds) {
      const loaded = await loadSpec(values.spec, [`strategy.unfreeze=${depth}`, `seed=${seed}`, `train.cacheFrozen=${cache}`]);
      const result = await pipeline.run(loaded, { backend: backend.name });
      results.push(result);
      const perEpoch = result.train.epochs.reduce((sum, e) => sum + e.seconds, 0) / result.train.epochs.length;
      console.log(
        `  unfreeze ${depth.padEnd(3)} seed ${seed}  ${result.train.epochs.length} epochs  ${perEpoch.toFixed(2)} s/epoch  ` +
          `trial ${result.seconds.toFixed(1)} s  test accuracy ${(100 * result.evaluation.accuracy).toFixed(1)}%`,
      );
    }
  }
  const stats = container.get<FrozenFeatureCache>(FrozenFeatureCache).stats();
  if (cache) console.log(`  feature cache: ${stats.misses} computed, ${stats.hits} reused`);
  return { seconds: (performance.now() - started) / 1000, results };
}

console.log(`depth sweep of ${values.spec}: unfreeze ${depths.join(', ')} × seeds ${seeds.join(', ')} on ${backend.detail}`);
const figures: Record<string, number> = {};
for (const cache of [true, false]) {
  if ((cache && values['no-cache-only']) || (!cache && values['cache-only'])) continue;
  console.log(cache ? 'with the frozen-feature cache:' : 'without it (frozen part recomputed every epoch):');
  const { seconds, results } = await sweep(cache);
  const depth0 = results.filter((r) => r.facts.trainableUnits === 0);
  figures[cache ? 'cached' : 'uncached'] =
    depth0.reduce((s, r) => s + r.train.epochs.reduce((a, e) => a + e.seconds, 0) / r.train.epochs.length, 0) / depth0.length;
  console.log(`  sweep wall time ${seconds.toFixed(1)} s`);
}
clearInterval(sample);
if (figures['cached'] !== undefined && figures['uncached'] !== undefined) {
  console.log(
    `depth-0 epoch: ${figures['uncached'].toFixed(3)} s without the cache, ${figures['cached'].toFixed(3)} s with it (${(figures['uncached'] / figures['cached']).toFixed(1)}×)`,
  );
}
console.log(`peak memory: ${(peakRss / 2 ** 20).toFixed(0)} MB resident, ${(peakTensorBytes / 2 ** 20).toFixed(0)} MB in tensors`);
