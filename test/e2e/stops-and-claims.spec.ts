import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'chai';
import { FileStoreTracker, type RunRecord } from '@thaw/core';
import { MlflowDouble } from '../helpers/mlflow-double.js';
import { temporaryFolder, tinySpec, writeSpec } from '../helpers/fixtures.js';
import { thawProcess, until } from '../helpers/processes.js';

/** A beat every 300 ms: a dead owner is found fast. */
const HEARTBEAT = { THAW_HEARTBEAT_MS: '300', THAW_CLAIM_POLL_MS: '200' };

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const pidOf = (run: RunRecord) => Number(run.tags['thaw.owner']!.split(':').pop());

describe('stopping and sharing trials between processes @slow', function () {
  this.timeout(300_000);
  let dir: string;
  let remove: () => Promise<void>;
  before(async () => ({ dir, remove } = await temporaryFolder()));
  after(() => remove());

  it('Ctrl-C stops the trial within the batch it arrives in, and the run says where', async () => {
    const sub = join(dir, 'one-batch');
    await mkdir(sub);
    // 150 batches an epoch: a stop at the end of the epoch cannot pass for one within a batch.
    const data = { plugin: 'fashion-mnist', classes: [0, 1, 2], trainPerClass: 200, validationPerClass: 8, testPerClass: 8 };
    await writeSpec(sub, 'long.yaml', tinySpec({ data, train: { epochs: 200, batchSize: 4, learningRate: 0.01 } }));
    const trial = thawProcess(sub, {}, 'run', 'long.yaml');
    await until(() => /epoch +1\/200/.test(trial.output()), 'the end of the first epoch');
    trial.child.kill('SIGINT');
    expect(await trial.exited, trial.output()).to.equal(130);
    const [run] = await new FileStoreTracker(join(sub, 'mlruns')).findRuns('tiny', {});
    expect(run!.status).to.equal('KILLED');
    // Sent once epoch 1 ended: it stops in epoch 2 or before it starts, never after a whole epoch more.
    expect(run!.tags['thaw.error']).to.match(/^interrupted (in epoch 2 at batch \d+ of 150|before epoch 2)$/);
  });

  it('a second Ctrl-C stops at once, even while a server in trouble holds up the first stop, and the run is still recorded KILLED', async () => {
    const sub = join(dir, 'twice');
    await mkdir(sub);
    const double = new MlflowDouble();
    const url = await double.start();
    try {
      await writeSpec(sub, 'long.yaml', tinySpec({ name: 'twice', train: { epochs: 200, batchSize: 16 } }));
      const trial = thawProcess(sub, {}, 'run', 'long.yaml', '--trackingUri', url);
      await until(() => /epoch +2\/200/.test(trial.output()), 'the second epoch');
      // From now on the server answers 503: the first stop retries for seconds before it gives up.
      double.failNext(1_000_000);
      trial.child.kill('SIGINT');
      await until(() => trial.output().includes('interrupted: stopping after this batch'), 'the first stop');
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(trial.child.exitCode).to.equal(null);
      trial.child.kill('SIGINT');
      expect(await trial.exited, trial.output()).to.equal(130);
      expect(trial.output()).to.match(/interrupted again \(SIGINT\): stopping now; the run is recorded as KILLED/);
      const [run] = await new FileStoreTracker(join(sub, 'mlruns')).findRuns('twice', {});
      expect(run!.status).to.equal('KILLED');
      expect(run!.tags['thaw.error']).to.equal('interrupted twice (SIGINT): stopped at once');
    } finally {
      await double.stop();
    }
  });

  it("a parallel sweep's workers stop with it, even when it is killed with SIGKILL, and record their trials KILLED", async () => {
    const sub = join(dir, 'orphans');
    await mkdir(sub);
    await writeSpec(
      sub,
      'orphans.yaml',
      tinySpec({ name: 'orphans', train: { epochs: 300, batchSize: 16 }, sweep: { grid: { seed: [1, 2] }, parallel: 2 } }),
    );
    const sweep = thawProcess(sub, HEARTBEAT, 'sweep', 'orphans.yaml');
    const store = new FileStoreTracker(join(sub, 'mlruns'));
    const training = async () =>
      (await store.findRuns('orphans', {})).filter((run) => run.tags['mlflow.parentRunId'] !== undefined && run.metrics['loss']);
    let trials = await training();
    for (const deadline = Date.now() + 120_000; trials.length < 2 && Date.now() < deadline; trials = await training())
      await new Promise((resolve) => setTimeout(resolve, 200));
    expect(trials, sweep.output()).to.have.length(2);
    sweep.child.kill('SIGKILL');
    await sweep.exited;
    const workers = trials.map(pidOf);
    await until(() => workers.every((pid) => !alive(pid)), 'the workers to exit', 60_000);
    const ended = (await store.findRuns('orphans', {})).filter((run) => run.tags['mlflow.parentRunId'] !== undefined);
    expect(ended.map((run) => run.status)).to.deep.equal(['KILLED', 'KILLED']);
    for (const run of ended) expect(run.tags['thaw.error']).to.match(/^interrupted (in|before) epoch \d+/);
  });

  it('two sweeps of the same spec at once share one sweep run and train each trial once', async () => {
    const sub = join(dir, 'twins');
    await mkdir(sub);
    await writeSpec(
      sub,
      'twins.yaml',
      tinySpec({ name: 'twins', train: { epochs: 12, batchSize: 16 }, sweep: { grid: { seed: [1, 2, 3, 4] } } }),
    );
    const first = thawProcess(sub, HEARTBEAT, 'sweep', 'twins.yaml');
    const second = thawProcess(sub, HEARTBEAT, 'sweep', 'twins.yaml');
    expect(await first.exited, first.output()).to.equal(0);
    expect(await second.exited, second.output()).to.equal(0);
    const runs = await new FileStoreTracker(join(sub, 'mlruns')).findRuns('twins', {});
    const parents = runs.filter((run) => run.tags['mlflow.parentRunId'] === undefined);
    expect(parents.map((run) => run.status)).to.deep.equal(['FINISHED']);
    const trials = runs.filter((run) => run.tags['mlflow.parentRunId'] !== undefined);
    expect(trials.map((run) => run.status)).to.deep.equal(['FINISHED', 'FINISHED', 'FINISHED', 'FINISHED']);
    expect(new Set(trials.map((run) => run.tags['thaw.configHash'])).size).to.equal(4);
    const ran = [first, second].map((sweep) => Number(/twins: (\d+) trials run/.exec(sweep.output())![1]));
    const elsewhere = [first, second].map((sweep) => Number(/(\d+) trained by another process/.exec(sweep.output())?.[1] ?? 0));
    expect(ran[0]! + ran[1]!).to.equal(4);
    expect(elsewhere).to.deep.equal([ran[1], ran[0]]);
    for (const sweep of [first, second]) expect(sweep.output()).to.match(/^\| 4 /m); // both summaries hold all four trials
  });

  it('a parallel sweep prunes in its worker processes: each trial ends FINISHED or KILLED as pruned, with the reason', async () => {
    const sub = join(dir, 'parallel-pruning');
    await mkdir(sub);
    await writeSpec(
      sub,
      'pruned.yaml',
      tinySpec({
        name: 'pruned',
        train: { epochs: 4, batchSize: 16 },
        sweep: {
          grid: { 'train.learningRate': [0.00001, 0.03, 0.0001, 0.01, 0.00003, 0.02] },
          prune: { method: 'asha', minEpochs: 1, reductionFactor: 2 },
          parallel: 2,
        },
      }),
    );
    const sweep = thawProcess(sub, {}, 'sweep', 'pruned.yaml');
    expect(await sweep.exited, sweep.output()).to.equal(0);
    const [, ran, pruned] = /pruned: (\d+) trials run, 0 finished earlier, (?:(\d+) pruned, )?0 failed/.exec(sweep.output())!;
    expect(Number(ran) + Number(pruned ?? 0)).to.equal(6);
    const trials = (await new FileStoreTracker(join(sub, 'mlruns')).findRuns('pruned', {})).filter(
      (run) => run.tags['mlflow.parentRunId'] !== undefined,
    );
    expect(trials).to.have.length(6);
    for (const run of trials) {
      if (run.status === 'KILLED') expect(run.tags['thaw.pruned']).to.match(/^ASHA rung \d \(epoch \d\): val_accuracy/);
      else expect(run.status).to.equal('FINISHED');
    }
    expect(trials.filter((run) => run.status === 'KILLED')).to.have.length(Number(pruned ?? 0));
  });
});
