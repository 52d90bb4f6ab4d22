/**
 * Seconds per epoch of fine-tuning, thaw against Keras on the same machine, back to back: thaw's
 * trial pipeline (as `thaw run` trains) with the frozen-feature cache and without it, then
 * bench/keras/fine_tune_speed.py (model.fit) on the same workload. Epochs after the first only
 * (the first builds, traces and, for thaw with the cache, follows the features' computation).
 *   node bench/dist/fine-tune-speed.js [--backend auto|node|wasm|cpu] [--cases mnv2-1.0-160,mnv2-0.35-96,small-cnn]
 *     [--epochs 4] [--repeats 3] [--modes cache,nocache,keras] [--python /tmp/kerasvenv/bin/python]
 * Keras runs in THAW_KERAS_PYTHON (or --python); it is skipped with a message when that fails.
 */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { TrialPipeline, selectBackend, type BackendName } from '@thaw/core';
import { SPEED_CASES, speedCase, speedContainer, speedSpec, type SpeedCase } from './fine-tune-cases.js';

const run = promisify(execFile);

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'auto' },
    cases: { type: 'string', default: SPEED_CASES.map((c) => c.name).join(',') },
    epochs: { type: 'string', default: '4' },
    repeats: { type: 'string', default: '3' },
    modes: { type: 'string', default: 'cache,nocache,keras' },
    python: { type: 'string', default: process.env['THAW_KERAS_PYTHON'] ?? '/tmp/kerasvenv/bin/python' },
  },
});
const backend = await selectBackend(values.backend as BackendName | 'auto');
const cases = values.cases.split(',').map(speedCase);
const epochs = Number(values.epochs);
const repeats = Number(values.repeats);
const modes = values.modes.split(',') as Mode[];
type Mode = 'cache' | 'nocache' | 'keras';

/** Mean seconds of the epochs after the first. */
const steady = (seconds: readonly number[]) => seconds.slice(1).reduce((a, b) => a + b, 0) / Math.max(seconds.length - 1, 1);

async function thawEpochs(c: SpeedCase, cacheFrozen: boolean): Promise<number[]> {
  const { container, scratch, remove } = await speedContainer();
  try {
    const loaded = await speedSpec(scratch, c, epochs, cacheFrozen);
    const result = await container.get<TrialPipeline>(TrialPipeline).run(loaded, { backend: backend.name });
    return result.train.epochs.map((e) => e.seconds);
  } finally {
    await remove();
  }
}

let kerasVersion: string | undefined;
async function kerasEpochs(c: SpeedCase): Promise<number[] | undefined> {
  const script = resolve(import.meta.dirname, '../keras/fine_tune_speed.py');
  try {
    const args = [script, '--case', c.name, '--epochs', String(epochs), '--train', String(c.train), '--validation', '32'];
    const { stdout } = await run(values.python, args, { maxBuffer: 1 << 24 });
    const report = JSON.parse(stdout.trim().split('\n').at(-1)!) as { epochSeconds: number[]; keras: string };
    kerasVersion = report.keras;
    return report.epochSeconds;
  } catch (error) {
    console.log(`  keras: skipped (${(error as Error).message.split('\n')[0]})`);
    return undefined;
  }
}

console.log(
  `fine-tuning speed on ${backend.detail}: ${epochs} epochs, ${repeats} repeats, batch 32, s/epoch after the first (validation of 32 images included)`,
);
const figures = new Map<string, number[]>();
const record = (c: SpeedCase, mode: Mode, seconds: number) =>
  figures.set(`${c.name}/${mode}`, [...(figures.get(`${c.name}/${mode}`) ?? []), seconds]);
for (let repeat = 1; repeat <= repeats; repeat++) {
  for (const c of cases) {
    for (const mode of modes) {
      const seconds = mode === 'keras' ? await kerasEpochs(c) : await thawEpochs(c, mode === 'cache');
      if (!seconds) continue;
      record(c, mode, steady(seconds));
      console.log(`  repeat ${repeat}  ${c.name.padEnd(13)} ${mode.padEnd(8)} ${seconds.map((s) => s.toFixed(2)).join(' ')} s`);
    }
  }
}

const range = (list: readonly number[], digits = 2) => {
  const [lo, hi] = [Math.min(...list), Math.max(...list)];
  return lo.toFixed(digits) === hi.toFixed(digits) ? lo.toFixed(digits) : `${lo.toFixed(digits)}–${hi.toFixed(digits)}`;
};
console.log(
  `\nsummary (${backend.name}${kerasVersion ? `; Keras ${kerasVersion}` : ''}): ranges over ${repeats} repeats; ratio = thaw s/epoch ÷ Keras s/epoch, repeat by repeat`,
);
console.log('| case | mode | s/epoch | images/s | thaw/Keras |');
console.log('| --- | --- | --- | --- | --- |');
for (const c of cases) {
  const keras = figures.get(`${c.name}/keras`);
  for (const mode of modes) {
    const list = figures.get(`${c.name}/${mode}`);
    if (!list) continue;
    const ratios = mode !== 'keras' && keras ? list.map((s, i) => s / keras[Math.min(i, keras.length - 1)]!) : undefined;
    const label = mode === 'keras' ? 'Keras' : mode === 'cache' ? `thaw ${backend.name}, cache` : `thaw ${backend.name}, no cache`;
    console.log(
      `| ${c.name} | ${label} | ${range(list)} | ${range(
        list.map((s) => c.train / s),
        0,
      )} | ${ratios ? range(ratios) : ''} |`,
    );
  }
}
