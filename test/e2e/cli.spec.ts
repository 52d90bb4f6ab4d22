import { execFile, spawn } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { REPO_ROOT, THAW_BIN, temporaryFolder, tinySpec, writeSpec } from '../helpers/fixtures.js';
import { MlflowDouble } from '../helpers/mlflow-double.js';

const run = promisify(execFile);

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

async function thaw(cwd: string, ...args: string[]): Promise<Outcome> {
  return thawWith(cwd, {}, ...args);
}

async function thawWith(cwd: string, extraEnv: Record<string, string>, ...args: string[]): Promise<Outcome> {
  const env = { ...process.env, THAW_TEST_BACKEND: undefined, THAW_FEATURE_CACHE_DISK_MB: '0', ...extraEnv };
  try {
    const { stdout, stderr } = await run(process.execPath, [THAW_BIN, ...args], { cwd, env, maxBuffer: 1 << 24 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as { code: number; stdout: string; stderr: string };
    return { code: failure.code, stdout: failure.stdout, stderr: failure.stderr };
  }
}

/** Path segments (below `root`) of the first file with this name. */
async function findFile(root: string, name: string): Promise<string[]> {
  for (const entry of await readdir(root, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name === name) return [...relative(root, entry.parentPath).split('/'), name];
  }
  throw new Error(`${name} not found under ${root}`);
}

/** Status codes of every run in a file store (3 FINISHED, 4 FAILED …). */
async function runStatuses(store: string): Promise<number[]> {
  const statuses: number[] = [];
  let experiments: string[];
  try {
    experiments = await readdir(store);
  } catch {
    return statuses;
  }
  for (const experiment of experiments) {
    for (const entry of await readdir(join(store, experiment), { withFileTypes: true })) {
      if (!entry.isDirectory() || entry.name === 'tags') continue;
      const meta = await readFile(join(store, experiment, entry.name, 'meta.yaml'), 'utf8');
      statuses.push(Number(/^status: (\d)$/m.exec(meta)![1]));
    }
  }
  return statuses;
}

describe('thaw CLI @slow', () => {
  let dir: string;
  let remove: () => Promise<void>;
  before(async () => ({ dir, remove } = await temporaryFolder()));
  after(() => remove());

  it('pretrains a base, then transfers it with --set strategy.unfreeze=2 and prints the result table', async () => {
    await writeSpec(
      dir,
      'pretrain.yaml',
      tinySpec({
        name: 'pretrain',
        strategy: { plugin: 'fine-tune', unfreeze: 'all', batchNorm: 'train' },
        output: { base: 'models/pretrain' },
      }),
    );
    const transfer = tinySpec({
      name: 'transfer',
      data: { plugin: 'fashion-mnist', classes: [5, 6, 7], trainPerClass: 16, validationPerClass: 8, testPerClass: 8 },
      model: { base: { plugin: 'from-run', spec: 'pretrain.yaml' } },
      strategy: { plugin: 'fine-tune', unfreeze: 0 },
    });
    await writeSpec(dir, 'transfer.yaml', transfer);

    const missing = await thaw(dir, 'run', 'transfer.yaml');
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.contain('does not exist yet; it is produced by `thaw run pretrain.yaml`');

    const pretrain = await thaw(dir, 'run', 'pretrain.yaml');
    expect(pretrain.code, pretrain.stderr).to.equal(0);
    expect(pretrain.stdout).to.contain('base saved to');

    const result = await thaw(dir, 'run', 'transfer.yaml', '--set', 'strategy.unfreeze=2', '--backend', 'wasm');
    expect(result.code, result.stderr).to.equal(0);
    for (const line of [
      /test loss\s+\d+\.\d{4}/,
      /test accuracy\s+\d+\.\d%/,
      /trainable units\s+2 of 2/,
      /trainable params\s+[\d,]+/,
      /non-trainable params\s+[\d,]+/,
      /trainable variables\s+\d+/,
      /backend\s+wasm/,
      /wall time\s+[\d.]+ s/,
    ]) {
      expect(result.stdout).to.match(line);
    }
    for (const name of ['Sandal', 'Shirt', 'Sneaker'])
      expect(result.stdout).to.match(new RegExp(`^${name}\\s+\\d+\\.\\d%\\s+\\d+\\.\\d%\\s+8$`, 'm'));
    expect(result.stderr).to.match(/epoch 2\/2 {2}loss/);
    // The missing base was refused before a run existed: only the two trials that ran are recorded.
    expect(await runStatuses(join(dir, 'mlruns'))).to.have.members([3, 3]);
  });

  it('logs to the MLflow server MLFLOW_TRACKING_URI names, prints the run page and never the password; thaw sync finds nothing left', async () => {
    const double = new MlflowDouble();
    const url = await double.start();
    try {
      const spec = await writeSpec(dir, 'served.yaml', tinySpec({ name: 'served' }));
      const secretUrl = url.replace('http://', 'http://ann:topsecret@');
      const viaEnv = await thawWith(dir, { MLFLOW_TRACKING_URI: secretUrl, MLFLOW_EXPERIMENT_NAME: 'cli-served' }, 'run', spec, '--quiet');
      expect(viaEnv.code, viaEnv.stderr).to.equal(0);
      expect(viaEnv.stdout).to.match(new RegExp(`run recorded in ${url}/#/experiments/\\d+/runs/[0-9a-f]{32}`));
      const viaFlag = await thawWith(dir, {}, 'run', spec, '--quiet', '--trackingUri', secretUrl, '--experiment', 'cli-flag');
      expect(viaFlag.code, viaFlag.stderr).to.equal(0);
      for (const outcome of [viaEnv, viaFlag]) expect(outcome.stdout + outcome.stderr).to.not.include('topsecret');
      const runs = [...double.runsOf('cli-served'), ...double.runsOf('cli-flag')];
      expect(runs.map((r) => r.info.status)).to.deep.equal(['FINISHED', 'FINISHED']);
      expect(double.requests.every((r) => r.authorization === `Basic ${Buffer.from('ann:topsecret').toString('base64')}`)).to.equal(true);
      const values = runs.flatMap((r) => [...r.params, ...r.tags].map((kv) => kv.value));
      expect(values.filter((v) => v.includes('topsecret'))).to.deep.equal([]);
      expect(runs[1]!.params).to.deep.include({ key: 'tracking.uri', value: `${url}/` });
      const sync = await thawWith(dir, { MLFLOW_TRACKING_URI: secretUrl }, 'sync', '--dryRun');
      expect(sync.stdout).to.equal(`nothing to send: every run in mlruns is on ${url}\n`);
    } finally {
      await double.stop();
    }
  });

  it('registers the best trial of a sweep (--register, --alias) and any trial (thaw register); refuses --register without a server before training', async () => {
    const sub = join(dir, 'register');
    await mkdir(sub);
    await writeSpec(sub, 'reg.yaml', tinySpec({ name: 'reg', train: { epochs: 1, batchSize: 16 }, sweep: { grid: { seed: [1, 2] } } }));
    const local = await thaw(sub, 'sweep', 'reg.yaml', '--register', 'tiny');
    expect(local.code, local.stderr).to.equal(2);
    expect(local.stderr).to.match(
      /thaw: the model registry is on an MLflow server, and runs go to .*mlruns: set MLFLOW_TRACKING_URI or --trackingUri/,
    );
    expect(await runStatuses(join(sub, 'mlruns'))).to.deep.equal([]);

    const double = new MlflowDouble();
    const url = await double.start();
    try {
      const swept = await thaw(sub, 'sweep', 'reg.yaml', '--trackingUri', url, '--register', 'tiny', '--alias', 'champion');
      expect(swept.code, swept.stderr).to.equal(0);
      expect(swept.stdout).to.match(/^registered seed=\d \(val_accuracy \d\.\d{4}\) as tiny version 1 \(@champion\)$/m);
      const registered = double.registeredModel('tiny')!;
      expect(registered.aliases).to.deep.equal({ champion: '1' });
      const tags = Object.fromEntries(registered.versions[0]!.tags.map((t) => [t.key, t.value]));
      expect(Object.keys(tags).sort()).to.deep.equal([
        'thaw.configHash',
        'thaw.metric',
        'thaw.metricValue',
        'thaw.sweepRunId',
        'thaw.unfreeze',
      ]);
      expect(tags).to.include({ 'thaw.metric': 'val_accuracy', 'thaw.unfreeze': '1' });

      const trial = double.runsOf('reg').find((r) => r.tags.some((t) => t.key === 'mlflow.parentRunId'))!;
      const again = await thaw(sub, 'register', trial.info.run_id, 'tiny', '--trackingUri', url);
      expect(again.code, again.stderr).to.equal(0);
      expect(again.stdout).to.contain(`tiny version 2: logged model m-`);
      expect(double.registeredModel('tiny')!.versions).to.have.length(2);
    } finally {
      await double.stop();
    }
  });

  it('scaffolds a plugin package that builds, passes its own test and trains from a spec’s plugins list as generated', async () => {
    const sub = join(dir, 'scaffold');
    await mkdir(sub);
    const created = await thaw(sub, 'plugin', 'new', 'demo-net');
    expect(created.code, created.stderr).to.equal(0);
    expect(created.stdout).to.include('src/demo-net-base-model.ts');
    const tsc = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    await run(process.execPath, [tsc, '-p', join(sub, 'thaw-plugin-demo-net')]);
    const ownTest = await run(process.execPath, [join(REPO_ROOT, 'node_modules', 'mocha', 'bin', 'mocha.js'), 'dist/test'], {
      cwd: join(sub, 'thaw-plugin-demo-net'),
    });
    expect(ownTest.stdout).to.match(/1 passing/);
    await writeSpec(
      sub,
      'spec.yaml',
      tinySpec({ name: 'scaffolded', plugins: ['./thaw-plugin-demo-net'], model: { base: { plugin: 'demo-net', filters: [4, 8] } } }),
    );
    const plugins = await thaw(sub, 'plugins', 'spec.yaml');
    const trial = await thaw(sub, 'run', 'spec.yaml', '--quiet');
    expect(trial.code, trial.stderr).to.equal(0);
    expect(trial.stdout).to.match(/test accuracy/);
    expect(plugins.stdout + plugins.stderr).to.include('demo-net');
    const again = await thaw(sub, 'plugin', 'new', 'demo-net');
    expect(again.code).to.equal(2);
    expect(again.stderr).to.match(/thaw-plugin-demo-net already exists/);
    const bad = await thaw(sub, 'plugin', 'new', 'Bad_Name');
    expect(bad.stderr).to.match(/received "Bad_Name"; expected a lower-case name/);
  });

  it('summarises a spec without training: layers, units, what each phase trains, totals', async () => {
    const sub = join(dir, 'summary');
    await mkdir(sub);
    await writeSpec(sub, 'spec.yaml', tinySpec({ model: { base: { plugin: 'small-convnet', filters: [4, 8] }, head: { dropout: 0.1 } } }));
    const result = await thaw(sub, 'summary', 'spec.yaml', '--set', 'strategy.headFirst.epochs=1');
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.match(/block1_conv \(Conv2D\)\s+\[\[null,28,28,1\]\]\s+\[null,28,28,4\]\s+36/);
    expect(result.stdout).to.match(/^block1\s+block1_conv, block1_bn, block1_relu, block1_pool\s+52\s+frozen\s+frozen$/m);
    expect(result.stdout).to.match(/^block2\s+block2_conv, block2_bn, block2_relu, block2_pool\s+320\s+frozen\s+trained$/m);
    expect(result.stdout).to.match(/^head\s+head_pool, head_dropout, head_output\s+27\s+trained\s+trained$/m);
    expect(result.stdout).to.match(/trainable params\s+331\n/);
    expect(await runStatuses(join(sub, 'mlruns'))).to.deep.equal([]);
  });

  it('sweeps with --parallel 2 in worker processes, with the same results as a sequential sweep', async () => {
    const spec = tinySpec({
      name: 'par',
      train: { epochs: 2, batchSize: 16 },
      sweep: { grid: { 'strategy.unfreeze': [0, 'all'], seed: [1, 2] } },
    });
    const summaries: string[] = [];
    for (const [folder, extra] of [
      ['sequential', []],
      ['parallel', ['--parallel', '2']],
    ] as const) {
      const sub = join(dir, folder);
      await mkdir(sub);
      await writeSpec(sub, 'sweep.yaml', spec);
      const dry = await thaw(sub, 'sweep', 'sweep.yaml', '--dry-run');
      expect(dry.stdout).to.match(/^4 trials of par/);
      const result = await thaw(sub, 'sweep', 'sweep.yaml', ...extra);
      expect(result.code, result.stderr).to.equal(0);
      expect(result.stdout).to.contain('4 trials run, 0 finished earlier, 0 failed');
      expect(await runStatuses(join(sub, 'mlruns'))).to.deep.equal([3, 3, 3, 3, 3]);
      // rank,trial,…,run_id,pruned: everything but the run ids must agree.
      const csv = (await readFile(join(sub, 'mlruns', ...(await findFile(join(sub, 'mlruns'), 'summary.csv'))), 'utf8')).trim().split('\n');
      summaries.push(csv.map((line) => line.split(',').slice(0, -2).join(',')).join('\n'));
    }
    expect(summaries[1]).to.equal(summaries[0]);

    const report = await thaw(join(dir, 'parallel'), 'report', 'sweep.yaml');
    expect(report.code, report.stderr).to.equal(0);
    expect(report.stdout).to.match(
      /^par: 4 of 4 trials finished; sweep run [0-9a-f]{32}\n\n\| rank \| strategy\.unfreeze \| seed \| val_accuracy/,
    );
    // The trials, then seeds as replicates: each depth's mean and interval, and the recommended depth.
    expect(report.stdout.split('\n\n')[1]!.trim().split('\n')).to.have.length(6);
    expect(report.stdout).to.match(/\| configuration \| seeds \| mean val_accuracy \| std/);
    expect(report.stdout).to.match(/Recommended: \*\*unfreeze=(0|all)\*\*/);
    const parentRunId = /sweep run ([0-9a-f]{32})/.exec(report.stdout)![1]!;
    const byId = await thaw(join(dir, 'parallel'), 'report', parentRunId);
    expect(byId.code, byId.stderr).to.equal(0);
    expect(byId.stdout).to.match(new RegExp(`^par sweep: 4 of 4 trials finished; sweep run ${parentRunId} in `));
    expect(byId.stdout.split('\n\n')[1]).to.equal(report.stdout.split('\n\n')[1]);
    const parentArtifacts = join(
      dir,
      'parallel',
      'mlruns',
      ...(await findFile(join(dir, 'parallel', 'mlruns'), 'summary.csv')).slice(0, -1),
    );
    const svg = await readFile(join(parentArtifacts, 'metric-by-depth.svg'), 'utf8');
    expect(svg).to.include('val_accuracy by unfreeze depth').and.include('mean ± std over seeds');
    expect(await readFile(join(parentArtifacts, 'metric-by-depth.png')).then((b) => b.subarray(1, 4).toString())).to.equal('PNG');
    const noRun = await thaw(join(dir, 'parallel'), 'report', '0123456789abcdef0123456789abcdef');
    expect(noRun.code).to.equal(2);
    expect(noRun.stderr).to.match(/^thaw: run 0123456789abcdef0123456789abcdef: no such run in .*mlruns; expected the id of a sweep run/);
    const never = await thaw(join(dir, 'parallel'), 'report', 'sweep.yaml', '--set', 'train.epochs=3');
    expect(never.code).to.equal(2);
    expect(never.stderr).to.contain('its sweep has not run in this store');
  });

  it('runs the base the transfer spec needs when it says ifMissing: run', async () => {
    const sub = join(dir, 'auto');
    await mkdir(sub);
    await writeSpec(
      sub,
      'pretrain.yaml',
      tinySpec({ name: 'pretrain', train: { epochs: 1, batchSize: 16 }, output: { base: 'models/pretrain' } }),
    );
    await writeSpec(
      sub,
      'transfer.yaml',
      tinySpec({
        name: 'transfer',
        train: { epochs: 1, batchSize: 16 },
        model: { base: { plugin: 'from-run', spec: 'pretrain.yaml', ifMissing: 'run' } },
      }),
    );
    // Two at once (as --parallel workers start): one makes the base, the other waits for it.
    const results = await Promise.all([
      thaw(sub, 'run', 'transfer.yaml', '--quiet'),
      thaw(sub, 'run', 'transfer.yaml', '--quiet', '--set', 'seed=4'),
    ]);
    for (const result of results) expect(result.code, result.stderr).to.equal(0);
    const stderr = results.map((r) => r.stderr).join('\n');
    expect(stderr.match(/running pretrain\.yaml first/g)).to.have.length(1);
    expect(stderr).to.match(/another process \(pid \d+\) is making models\/pretrain; waiting for it/);
    expect(await runStatuses(join(sub, 'mlruns'))).to.deep.equal([3, 3, 3]);
  });

  it('lists plugins with options and sources, and trains with one a spec loads from a file', async () => {
    const sub = join(dir, 'plugin-list');
    await mkdir(sub);
    await writeFile(
      join(sub, 'extra.js'),
      `import { ContainerModule } from 'inversify';
import { StrategyPlugin } from '@thaw/core';
import { z } from 'zod';
const strategy = {
  id: 'top-only',
  description: 'trains the top unit',
  optionsSchema: z.strictObject({ rate: z.number().default(0.1).describe('a rate') }),
  plan: (options, context) => [{ name: 'top', trainableUnits: [context.units.at(-1).name], batchNorm: 'frozen', epochs: context.train.epochs, learningRate: options.rate }],
};
export default new ContainerModule(({ bind }) => { bind(StrategyPlugin).toConstantValue(strategy); });
`,
    );
    await writeSpec(sub, 'spec.yaml', tinySpec({ plugins: ['./extra.js'], strategy: { plugin: 'top-only', rate: 0.05 } }));
    const listed = await thaw(sub, 'plugins', 'spec.yaml');
    expect(listed.code, listed.stderr).to.equal(0);
    for (const id of ['small-convnet', 'from-run', 'fine-tune', 'feature-extraction', 'fashion-mnist']) {
      expect(listed.stdout).to.match(new RegExp(`^  ${id}  \\[built-in: @thaw/plugins\\]$`, 'm'));
    }
    expect(listed.stdout).to.match(/^ {2}top-only {2}\[file: .*extra\.js\]$/m);
    expect(listed.stdout).to.match(/unfreeze\s+integer \| "all" \| \{ from \} \| \{ fineTuneAt \}\s+default 0\s+what of the base trains/);
    expect(listed.stdout).to.match(/rate\s+number\s+default 0\.1\s+a rate/);

    const trained = await thaw(sub, 'run', 'spec.yaml');
    expect(trained.code, trained.stderr).to.equal(0);
    expect(trained.stdout).to.match(/trainable units\s+1 of 2/);
    expect(trained.stderr).to.contain('phase top: 1/2 units trainable');
    expect(trained.stderr).to.contain('learning rate 0.05');
  });

  it('stops on Ctrl-C after the current batch and records the run as KILLED', async () => {
    const sub = join(dir, 'interrupt');
    await mkdir(sub);
    await writeSpec(sub, 'long.yaml', tinySpec({ train: { epochs: 200, batchSize: 16 } }));
    const child = spawn(process.execPath, [THAW_BIN, 'run', 'long.yaml'], {
      cwd: sub,
      env: { ...process.env, THAW_FEATURE_CACHE_DISK_MB: '0' },
    });
    let stderr = '';
    let interrupted = false;
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (!interrupted && /epoch +1\/200/.test(stderr)) interrupted = child.kill('SIGINT');
    });
    const code = await new Promise<number | null>((done) => child.on('exit', done));
    expect(code, stderr).to.equal(130);
    expect(stderr).to.contain('interrupted: stopping after this batch');
    expect(await runStatuses(join(sub, 'mlruns'))).to.deep.equal([5]);
  });

  describe('bad input: exit code 2, one message naming what is wrong, no run marked finished', () => {
    const cases: [string, Record<string, unknown> | string, RegExp][] = [
      [
        'an unknown plugin',
        tinySpec({ model: { base: { plugin: 'resnet-9000' } } }),
        /model\.base\.plugin: unknown base model plugin "resnet-9000"; expected one of: from-run, layers-model, mobilenet-v1, mobilenet-v2, small-convnet/,
      ],
      [
        'a mistyped option',
        tinySpec({ model: { base: { plugin: 'small-convnet', filter: [4] } } }),
        /invalid options for small-convnet\n {2}model\.base\.filter: unknown option \(received \[4\]\); allowed: filters, kernelSize/,
      ],
      [
        'an option of the wrong type',
        tinySpec({ strategy: { plugin: 'fine-tune', unfreeze: 'two' } }),
        /strategy\.unfreeze: received "two"; expected a number of units ≥ 0, "all", \{ from: <unit name> \} or \{ fineTuneAt: <layer index> \}/,
      ],
      [
        'missing dataset files',
        tinySpec({ data: { plugin: 'fashion-mnist', path: './no-such-folder' } }),
        /data\.path: received "\.\/no-such-folder", but .*no-such-folder does not hold the four Fashion-MNIST files/,
      ],
      [
        'an unreadable base model',
        tinySpec({ model: { base: { plugin: 'from-run', path: 'corrupt-model' } } }),
        /corrupt-model\/model\.json: cannot read the model \(.*JSON.*\); expected a TF\.js layers model\.json/,
      ],
      ['a spec that is not YAML', 'name: [oops\n', /bad\.yaml: not valid YAML/],
      [
        'an unknown plugin module',
        tinySpec({ plugins: ['./missing-plugin.js'] }),
        /plugins\[0\]: plugin file "\.\/missing-plugin\.js" not found/,
      ],
    ];
    for (const [what, spec, message] of cases) {
      it(what, async () => {
        const sub = join(dir, what.replaceAll(' ', '-'));
        await mkdir(join(sub, 'corrupt-model'), { recursive: true });
        await writeFile(join(sub, 'corrupt-model', 'model.json'), '{"modelTopology": ');
        if (typeof spec === 'string') await writeFile(join(sub, 'bad.yaml'), spec);
        else await writeSpec(sub, 'bad.yaml', spec);
        const outcome = await thaw(sub, 'run', 'bad.yaml');
        expect(outcome.code, outcome.stderr).to.equal(2);
        const lines = outcome.stderr.split('\n').filter((line) => line.startsWith('thaw: '));
        expect(lines, outcome.stderr).to.have.length(1);
        expect(outcome.stderr).to.match(message);
        expect(outcome.stderr).to.not.match(/\n\s+at /);
        expect(await runStatuses(join(sub, 'mlruns'))).to.not.include(3);
      });
    }
  });
});
