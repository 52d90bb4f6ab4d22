import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { expect } from 'chai';
import {
  FileStoreTracker,
  MlflowClient,
  RestTracker,
  ThawError,
  SweepRunner,
  Tracker,
  TrialPlanner,
  expandSweep,
  planSweep,
  readRawSpec,
  type SweepSpec,
} from '@thaw/core';
import { MlflowDouble } from '../helpers/mlflow-double.js';
import { recordingLogger, temporaryFolder, testContainer, tinySpec, writeSpec } from '../helpers/fixtures.js';

describe('sweeps', () => {
  let dir: string;
  let remove: () => Promise<void>;
  before(async () => ({ dir, remove } = await temporaryFolder()));
  after(() => remove());

  it('expands a grid and seeded random samples', () => {
    const sweep: SweepSpec = {
      grid: { 'strategy.unfreeze': [0, 'all'], seed: [1, 2] },
      random: {
        sampler: 'random',
        startupTrials: 10,
        trials: 3,
        seed: 5,
        space: { 'train.learningRate': { logUniform: [1e-4, 1e-2] }, 'train.batchSize': { int: [8, 16] } },
      },
      metric: { name: 'val_accuracy', goal: 'max' },
      parallel: 1,
    };
    const trials = expandSweep(sweep);
    expect(trials).to.have.length(12);
    expect(trials.map((t) => [t['strategy.unfreeze'], t['seed']]).slice(0, 4)).to.deep.equal([
      [0, 1],
      [0, 1],
      [0, 1],
      [0, 2],
    ]);
    for (const t of trials) {
      expect(t['train.learningRate']).to.be.within(1e-4, 1e-2);
      expect(Number.isInteger(t['train.batchSize'])).to.equal(true);
    }
    expect(expandSweep(sweep)).to.deep.equal(trials);
  });

  it('reports an invalid path or value before any training, naming the trial', async () => {
    const container = await testContainer(dir);
    const planner = container.get<TrialPlanner>(TrialPlanner);
    const check = (file: string) => async () => planSweep(await readRawSpec(file), file, [], (loaded) => planner.plan(loaded));
    const badPath = await writeSpec(dir, 'bad-path.yaml', tinySpec({ sweep: { grid: { 'train.epoch': [1, 2] } } }));
    const badValue = await writeSpec(dir, 'bad-value.yaml', tinySpec({ sweep: { grid: { 'strategy.unfreeze': [1, 'two'] } } }));
    for (const [make, pattern] of [
      [check(badPath), /sweep trial 1 \(epoch=1\): [\s\S]*train\.epoch: unknown option \(received 1\); allowed: epochs/],
      [check(badValue), /sweep trial 2 \(unfreeze=two\): [\s\S]*strategy\.unfreeze: received "two"/],
    ] as const) {
      try {
        await make();
        expect.fail('expected an error');
      } catch (error) {
        expect(error).to.be.instanceOf(ThawError);
        expect((error as Error).message).to.match(pattern);
      }
    }
  });

  it('runs every trial as a child of one sweep run, resumes without re-running, and logs the summary', async () => {
    const container = await testContainer(dir);
    const planner = container.get<TrialPlanner>(TrialPlanner);
    const file = await writeSpec(
      dir,
      'sweep.yaml',
      tinySpec({ name: 'sweep', train: { epochs: 1, batchSize: 16 }, sweep: { grid: { 'strategy.unfreeze': [0, 1], seed: [1, 2] } } }),
    );
    const plan = await planSweep(await readRawSpec(file), file, [], (loaded) => planner.plan(loaded));
    const runner = container.get<SweepRunner>(SweepRunner);
    const first = await runner.run(plan, { backend: tf.getBackend() });
    expect(first).to.include({ ran: 4, skipped: 0, failed: 0 });
    expect(first.rows).to.have.length(4);
    const metrics = first.rows.map((row) => row.metric);
    expect(metrics).to.deep.equal([...metrics].sort((a, b) => b - a));

    const again = await runner.run(plan, { backend: tf.getBackend() });
    expect(again).to.include({ ran: 0, skipped: 4, parentRunId: first.parentRunId });

    const tracker = container.get<Tracker>(Tracker);
    const children = await tracker.findRuns('sweep', { 'mlflow.parentRunId': first.parentRunId });
    expect(children.map((run) => run.status)).to.deep.equal(['FINISHED', 'FINISHED', 'FINISHED', 'FINISHED']);
    const [parent] = await tracker.findRuns('sweep', { 'thaw.sweepHash': plan.sweepHash });
    expect(parent!.status).to.equal('FINISHED');
    expect(parent!.metrics['best_val_accuracy']).to.deep.equal([first.rows[0]!.metric]);
    const csv = await readFile(join(dir, 'mlruns', (await experimentId(dir)) ?? '', first.parentRunId, 'artifacts', 'summary.csv'), 'utf8');
    expect(csv.split('\n')[0]).to.equal('rank,trial,strategy.unfreeze,seed,val_accuracy,test_accuracy,test_loss,epochs,run_id,pruned');
    expect(csv.trim().split('\n')).to.have.length(5);
  });

  it('runs the trials of one cut together, so each cut’s features are computed once, and counts the feature sets', async () => {
    const container = await testContainer(dir);
    const planner = container.get<TrialPlanner>(TrialPlanner);
    // The rate first: as listed, the two cuts alternate. (Seeds would not share: small-convnet starts from random weights.)
    const file = await writeSpec(
      dir,
      'cuts.yaml',
      tinySpec({
        name: 'cuts',
        train: { epochs: 1, batchSize: 16 },
        sweep: { grid: { 'train.learningRate': [0.01, 0.02], 'strategy.unfreeze': [0, 1] } },
      }),
    );
    const plan = await planSweep(await readRawSpec(file), file, [], (loaded) => planner.plan(loaded));
    expect(plan.trials.map((t) => t.label)).to.deep.equal([
      'learningRate=0.01 unfreeze=0',
      'learningRate=0.01 unfreeze=1',
      'learningRate=0.02 unfreeze=0',
      'learningRate=0.02 unfreeze=1',
    ]);
    const outcome = await container.get<SweepRunner>(SweepRunner).run(plan, { backend: tf.getBackend() });
    const runs = await container.get<Tracker>(Tracker).findRuns('cuts', { 'mlflow.parentRunId': outcome.parentRunId });
    expect(runs.map((run) => run.runName)).to.deep.equal([
      'learningRate=0.01 unfreeze=0',
      'learningRate=0.02 unfreeze=0',
      'learningRate=0.01 unfreeze=1',
      'learningRate=0.02 unfreeze=1',
    ]);
    const computed = runs.map((run) => run.metrics['feature_sets_computed']!.at(-1));
    // Each cut's training and validation features: computed by its first trial, read from the cache by the second.
    expect(computed).to.deep.equal([2, 0, 2, 0]);
    expect(outcome.featureSets).to.equal(4);
  });

  it('sweeps on an MLflow server: resumes through search, and thaw report by sweep run id reads the same table back', async () => {
    const double = new MlflowDouble();
    await double.start();
    try {
      const tracker = new RestTracker(
        new MlflowClient({ url: double.url, insecureTls: false }, { retries: 1, backoffMs: 5 }),
        new FileStoreTracker(join(dir, 'server-copy')),
        recordingLogger(),
      );
      const container = await testContainer(dir, recordingLogger(), 0, tracker);
      const planner = container.get<TrialPlanner>(TrialPlanner);
      const file = await writeSpec(
        dir,
        'served-sweep.yaml',
        tinySpec({
          name: 'served-sweep',
          train: { epochs: 1, batchSize: 16 },
          sweep: { grid: { 'strategy.unfreeze': [0, 'all'], seed: [1, 2] } },
        }),
      );
      const plan = await planSweep(await readRawSpec(file), file, [], (loaded) => planner.plan(loaded));
      const runner = container.get<SweepRunner>(SweepRunner);
      const first = await runner.run(plan, { backend: tf.getBackend() });
      expect(first).to.include({ ran: 4, failed: 0 });
      const histories = (from: number) => double.requests.slice(from).filter((r) => r.path.includes('metrics/get-history')).length;
      const beforeResume = double.requests.length;
      const again = await runner.run(plan, { backend: tf.getBackend() });
      expect(again).to.include({ ran: 0, skipped: 4, parentRunId: first.parentRunId });
      // Finding the finished trials reads status and tags only: histories are read once, for the summary, as a report does.
      const resumeHistories = histories(beforeResume);
      const beforeReport = double.requests.length;
      await runner.reportRun(first.parentRunId);
      expect(resumeHistories).to.be.greaterThan(0).and.at.most(histories(beforeReport));
      const parent = double.run(first.parentRunId)!;
      expect(parent.info.status).to.equal('FINISHED');
      expect(double.runsOf('served-sweep').filter((run) => run.tags.some((t) => t.key === 'mlflow.parentRunId'))).to.have.length(4);
      expect([...double.artifactsOf(first.parentRunId).keys()]).to.include.members([
        'summary.csv',
        'summary.md',
        'metric-by-depth.svg',
        'metric-by-depth.png',
      ]);
      const report = await runner.reportRun(first.parentRunId);
      expect(report!.markdown).to.equal(first.markdown);
      expect(report!.trials).to.equal(4);
      expect(await runner.reportRun('0123456789abcdef0123456789abcdef')).to.equal(undefined);
    } finally {
      await double.stop();
    }
  });
});

async function experimentId(dir: string): Promise<string | undefined> {
  const { readdir } = await import('node:fs/promises');
  for (const entry of await readdir(join(dir, 'mlruns'))) {
    const meta = await readFile(join(dir, 'mlruns', entry, 'meta.yaml'), 'utf8').catch(() => '');
    if (/^name: sweep$/m.test(meta)) return entry;
  }
  return undefined;
}
