import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'chai';
import { main } from '@thaw/cli';
import { temporaryFolder, tinySpec, writeSpec } from '../helpers/fixtures.js';

/** Runs the CLI in this process and returns its exit code and what it wrote to stderr and stdout. */
async function thaw(...argv: string[]): Promise<{ code: number; stderr: string; stdout: string }> {
  const writes = { stderr: '', stdout: '' };
  const originals = { stderr: process.stderr.write.bind(process.stderr), stdout: process.stdout.write.bind(process.stdout) };
  process.stderr.write = (chunk: string | Uint8Array) => ((writes.stderr += String(chunk)), true);
  process.stdout.write = (chunk: string | Uint8Array) => ((writes.stdout += String(chunk)), true);
  const exitCode = process.exitCode;
  try {
    const code = await main(argv);
    return { code, ...writes };
  } finally {
    process.stderr.write = originals.stderr;
    process.stdout.write = originals.stdout;
    process.exitCode = exitCode;
  }
}

/** Run folders in a local store (mlruns/<experiment>/<run>/meta.yaml). */
async function countRuns(store: string): Promise<number> {
  if (!existsSync(store)) return 0;
  let runs = 0;
  for (const experiment of await readdir(store, { withFileTypes: true })) {
    if (!experiment.isDirectory()) continue;
    for (const entry of await readdir(join(store, experiment.name), { withFileTypes: true })) {
      if (entry.isDirectory() && existsSync(join(store, experiment.name, entry.name, 'meta.yaml'))) runs++;
    }
  }
  return runs;
}

describe('trial plan: a spec mistake never creates a run', function () {
  let dir: string;
  let remove: () => Promise<void>;
  let store: string;
  before(async () => {
    ({ dir, remove } = await temporaryFolder());
    store = join(dir, 'mlruns');
    await writeFile(join(dir, 'a-file'), 'not a folder');
    await mkdir(join(dir, 'empty-data'));
  });
  after(() => remove());

  const mobilenet = (base: Record<string, unknown>, strategy: Record<string, unknown> = { plugin: 'fine-tune', unfreeze: 1 }) => ({
    data: { plugin: 'fashion-mnist', classes: [0, 1], trainPerClass: 2, validationPerClass: 2, testPerClass: 2 },
    model: { base: { plugin: 'mobilenet-v2', ...base }, head: { dropout: 0 } },
    strategy,
  });

  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['an alpha MobileNetV2 does not have', mobilenet({ alpha: 0.6 }), /model\.base\.alpha: received 0\.6; expected one of 0\.35, 0\.5/],
    [
      'an input size below 32',
      mobilenet({ alpha: 0.35, size: 7 }),
      /model\.base\.size: received 7 .*expected a square input of at least 32 px/,
    ],
    [
      'fineTuneAt past the last layer',
      mobilenet({ alpha: 0.35, size: 32 }, { plugin: 'fine-tune', unfreeze: { fineTuneAt: 999 } }),
      /strategy\.unfreeze\.fineTuneAt: received 999; the base has 15\d layers/,
    ],
    [
      'a unit the base does not have',
      mobilenet({ alpha: 0.35, size: 32 }, { plugin: 'fine-tune', unfreeze: { from: 'block_99' } }),
      /strategy\.unfreeze\.from: received "block_99"; expected a unit of the base: stem, expanded_conv, block_1/,
    ],
    [
      'more images per class than the data hold',
      { data: { plugin: 'fashion-mnist', classes: [0, 1], trainPerClass: 100000, validationPerClass: 8 } },
      /data: class 0 \(T-shirt\/top\) has \d+ training images .* received trainPerClass 100000 \+ validationPerClass 8/,
    ],
    ['a data path without its files', { data: { plugin: 'fashion-mnist', path: 'empty-data', download: false } }, /data.*empty-data/],
    [
      'a from-run spec that does not exist',
      { model: { base: { plugin: 'from-run', spec: 'nowhere.yaml' } } },
      /model\.base\.spec: received "nowhere\.yaml", but .*nowhere\.yaml does not exist/,
    ],
    [
      'a from-run path without a saved base',
      { model: { base: { plugin: 'from-run', path: 'empty-data' } } },
      /model\.base\.path: received "empty-data", but .*model\.json does not exist/,
    ],
    [
      'a run id the store does not have',
      { model: { base: { plugin: 'from-run', run: '0123456789abcdef0123456789abcdef' } } },
      /model\.base\.run: received 0123456789abcdef0123456789abcdef, which is not a run in/,
    ],
    // Relative to the working folder, as tracking.store is: the repository's package.json is a file.
    [
      'a tracking store under a regular file',
      { tracking: { store: 'package.json/mlruns' } },
      /tracking\.store: .*package\.json is a file, so .*package\.json\/mlruns cannot be created/,
    ],
    [
      'output.base under a regular file',
      { output: { base: 'a-file/base' } },
      /output\.base: .*a-file is a file, so .*a-file\/base cannot be created/,
    ],
    [
      'a sweep metric no trial logs',
      { sweep: { grid: { seed: [1, 2] }, metric: { name: 'val_acc' } } },
      /sweep\.metric\.name: received "val_acc"; expected a metric every trial logs: val_accuracy, val_loss/,
    ],
  ];

  for (const [what, overrides, message] of cases) {
    it(`refuses ${what} on --dry-run and on the real command, with exit 2 and no run`, async () => {
      const spec = tinySpec({ name: 'mistake', tracking: { store }, ...overrides });
      if (!('sweep' in overrides)) spec['sweep'] = { grid: { seed: [1, 2] } };
      const file = await writeSpec(dir, 'mistake.yaml', spec);
      for (const argv of [['sweep', file, '--dry-run'], ['sweep', file], ...('sweep' in overrides ? [] : [['run', file]])]) {
        const outcome = await thaw(...argv);
        expect(outcome.code, `${argv.join(' ')}: ${outcome.stderr}`).to.equal(2);
        expect(outcome.stderr, argv.join(' ')).to.match(message);
        expect(outcome.stderr).to.not.match(/unexpected error|\n\s+at /);
      }
      expect(await countRuns(store)).to.equal(0);
    });
  }

  it('applies --set to the sweep itself, and refuses a --set that the sweep would overwrite or that names no field', async () => {
    const file = await writeSpec(dir, 'sets.yaml', tinySpec({ name: 'sets', tracking: { store }, sweep: { grid: { seed: [1, 2] } } }));
    const grid = await thaw('sweep', file, '--dry-run', '--set', 'sweep.grid={seed: [1, 2, 3], strategy.unfreeze: [0, 1]}');
    expect(grid.code, grid.stderr).to.equal(0);
    expect(grid.stdout).to.match(/^6 trials of sets/);
    const clash = await thaw('sweep', file, '--dry-run', '--set', 'seed=4');
    expect(clash.code).to.equal(2);
    expect(clash.stderr).to.match(/--set seed=4: seed is varied by the sweep of .*sets\.yaml; expected --set sweep\.grid\.seed=\[…\]/);
    const unknown = await thaw('sweep', file, '--set', 'train.epoch=3');
    expect(unknown.code).to.equal(2);
    expect(unknown.stderr).to.match(/train\.epoch: unknown option \(received 3\); allowed: epochs/);
    expect(await countRuns(store)).to.equal(0);
  });
});
