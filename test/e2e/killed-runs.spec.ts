import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'chai';
import { FileStoreTracker, readRunDetails } from '@thaw/core';
import { MlflowDouble } from '../helpers/mlflow-double.js';
import { temporaryFolder, tinySpec, writeSpec } from '../helpers/fixtures.js';
import { thawProcess, until } from '../helpers/processes.js';

/** A beat every 300 ms: a dead owner is found fast. */
const HEARTBEAT = { THAW_HEARTBEAT_MS: '300' };

describe('runs whose process died @slow', function () {
  this.timeout(300_000);
  let dir: string;
  let remove: () => Promise<void>;
  before(async () => ({ dir, remove } = await temporaryFolder()));
  after(() => remove());

  it('kill -9 mid-trial leaves RUNNING runs with a dead owner; the next thaw report ends them KILLED with the reason, and the resumed sweep trains each trial once', async () => {
    await writeSpec(
      dir,
      'killed.yaml',
      tinySpec({ name: 'killed', train: { epochs: 150, batchSize: 16 }, sweep: { grid: { seed: [1, 2] } } }),
    );
    const sweep = thawProcess(dir, HEARTBEAT, 'sweep', 'killed.yaml');
    await until(() => /epoch +2\/150/.test(sweep.output()), 'the first trial’s second epoch');
    sweep.child.kill('SIGKILL');
    await sweep.exited;

    const store = new FileStoreTracker(join(dir, 'mlruns'));
    const left = await store.findRuns('killed', {});
    expect(left.map((run) => run.status).sort()).to.deep.equal(['RUNNING', 'RUNNING']); // the sweep run and its first trial
    expect(left.every((run) => /:\d+$/.test(run.tags['thaw.owner'] ?? ''))).to.equal(true);

    const report = thawProcess(dir, HEARTBEAT, 'report', 'killed.yaml');
    expect(await report.exited, report.output()).to.equal(0);
    expect(report.output()).to.match(/was left RUNNING: its process .* is gone; recorded as KILLED/);
    const ended = await store.findRuns('killed', {});
    expect(ended.map((run) => run.status).sort()).to.deep.equal(['KILLED', 'KILLED']);
    for (const run of ended)
      expect(run.tags['thaw.error']).to.match(/^ended by thaw (report|sweep): its process .*:\d+ is gone while the run was RUNNING$/);

    const resumed = thawProcess(dir, HEARTBEAT, 'sweep', 'killed.yaml');
    expect(await resumed.exited, resumed.output()).to.equal(0);
    expect(resumed.output()).to.match(/killed: 2 trials run, 0 finished earlier, 0 failed/);
    const final = await store.findRuns('killed', {});
    expect(final.filter((run) => run.status === 'RUNNING')).to.deep.equal([]);
    const trials = final.filter((run) => run.tags['mlflow.parentRunId'] !== undefined);
    const finished = trials.filter((run) => run.status === 'FINISHED');
    expect(finished).to.have.length(2);
    expect(new Set(finished.map((run) => run.tags['thaw.configHash'])).size).to.equal(2);
    expect(trials.filter((run) => run.status === 'KILLED')).to.have.length(1);
    expect(final.find((run) => run.tags['mlflow.parentRunId'] === undefined)!.status).to.equal('FINISHED');
  });

  it('kill -9 while the trial uploads its artifacts: thaw sync ends the run KILLED, here and on the server, and sends what the server lacked', async () => {
    const sub = join(dir, 'upload');
    await mkdir(sub);
    const double = new MlflowDouble();
    const url = await double.start();
    try {
      await writeSpec(sub, 'upload.yaml', tinySpec({ name: 'upload', train: { epochs: 2, batchSize: 16 } }));
      double.artifactDelayMs = 400;
      const trial = thawProcess(sub, HEARTBEAT, 'run', 'upload.yaml', '--trackingUri', url);
      // The run's own artifacts (the logged model's files go first, under /models/).
      await until(
        () => double.requests.some((r) => r.method === 'PUT' && !r.path.includes('/models/')),
        'the first upload of a run artifact',
      );
      trial.child.kill('SIGKILL');
      await trial.exited;
      double.artifactDelayMs = 0;
      const [run] = double.runsOf('upload');
      expect(run!.info.status).to.equal('RUNNING');
      const local = new FileStoreTracker(join(sub, 'mlruns'));
      expect((await local.findRuns('upload', {}))[0]!.status).to.equal('RUNNING');

      const sync = thawProcess(sub, {}, 'sync', '--trackingUri', url);
      expect(await sync.exited, sync.output()).to.equal(0);
      const [ended] = await local.findRuns('upload', {});
      expect(ended!.status).to.equal('KILLED');
      expect(ended!.tags['thaw.error']).to.match(/^ended by thaw sync: its process .*:\d+ is gone while the run was RUNNING$/);
      const remote = double.runsOf('upload')[0]!;
      expect(remote.info.status).to.equal('KILLED');
      expect(remote.tags).to.deep.include({ key: 'thaw.error', value: ended!.tags['thaw.error'] });
      const localArtifacts = (await readRunDetails((await local.runDir('upload', ended!.runId))!)).artifacts;
      expect(localArtifacts.length, 'the killed process wrote artifacts locally').to.be.greaterThan(0);
      expect([...double.artifactsOf(remote.info.run_id).keys()].sort()).to.deep.equal([...localArtifacts].sort());
    } finally {
      await double.stop();
    }
  });

  it('kill -9 while a from-run base is being pretrained: the next run ends the dead pretraining KILLED, takes over its lock and makes the base once', async () => {
    const sub = join(dir, 'pretraining');
    await mkdir(sub);
    await writeSpec(
      sub,
      'pretrain.yaml',
      tinySpec({ name: 'pretrain', train: { epochs: 40, batchSize: 16 }, output: { base: 'models/pretrain' } }),
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
    const first = thawProcess(sub, HEARTBEAT, 'run', 'transfer.yaml');
    await until(() => /epoch +2\/40/.test(first.output()), 'the second epoch of the pretraining');
    first.child.kill('SIGKILL');
    await first.exited;
    const store = new FileStoreTracker(join(sub, 'mlruns'));
    expect((await store.findRuns('pretrain', {})).map((run) => run.status)).to.deep.equal(['RUNNING']);
    expect(existsSync(join(sub, 'models', 'pretrain.lock')), 'the dead process’s lock').to.equal(true);

    const second = thawProcess(sub, HEARTBEAT, 'run', 'transfer.yaml');
    expect(await second.exited, second.output()).to.equal(0);
    expect(second.output()).to.match(/was left RUNNING: its process .* is gone; recorded as KILLED/);
    expect((await store.findRuns('pretrain', {})).map((run) => run.status)).to.deep.equal(['KILLED', 'FINISHED']);
    expect((await store.findRuns('transfer', {})).map((run) => run.status)).to.deep.equal(['FINISHED']);
    expect(existsSync(join(sub, 'models', 'pretrain.lock'))).to.equal(false);
    expect(existsSync(join(sub, 'models', 'pretrain', 'model.json'))).to.equal(true);
  });

  it('a disk that fills during a run: one line naming the file, and the run ends FAILED, never RUNNING', async function () {
    const sub = join(dir, 'full-disk');
    const store = join(sub, 'store');
    await mkdir(store, { recursive: true });
    // A real full disk: a 400 KiB tmpfs as the store (where mounting is not allowed, there is nothing to show).
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=400k', 'tmpfs', store]);
    if (mounted.status !== 0) this.skip();
    try {
      await writeSpec(sub, 'full.yaml', tinySpec({ name: 'full', train: { epochs: 2, batchSize: 16 }, tracking: { store: 'store' } }));
      const trial = thawProcess(sub, {}, 'run', 'full.yaml', '--quiet');
      expect(await trial.exited, trial.output()).to.equal(1);
      expect(trial.output()).to.match(/^thaw: cannot (write|copy \S+ to) .*store\/.*: no space left on the device \(ENOSPC\)$/m);
      expect(trial.output()).to.not.match(/^\s+at /m);
      const runs = await new FileStoreTracker(store).findRuns('full', {});
      expect(runs.map((run) => run.status)).to.not.include('RUNNING');
    } finally {
      spawnSync('umount', [store]);
    }
  });
});
