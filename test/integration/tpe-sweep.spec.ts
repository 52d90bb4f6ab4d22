import * as tf from '@tensorflow/tfjs';
import { expect } from 'chai';
import { SweepRunner, Tracker, TrialPlanner, planSweep, readRawSpec, suggestTpe, type SearchSpace, type SweepPlan } from '@thaw/core';
import { temporaryFolder, testContainer, tinySpec, writeSpec } from '../helpers/fixtures.js';

describe('TPE sweeps', () => {
  let dir: string;
  let remove: () => Promise<void>;
  before(async () => ({ dir, remove } = await temporaryFolder()));
  after(() => remove());

  const space: SearchSpace = { 'train.learningRate': { logUniform: [1e-4, 1e-1] }, 'model.head.dropout': { uniform: [0, 0.5] } };

  it('chooses each later sample from the recorded results of those before it, and resumes to the same trials', async () => {
    const container = await testContainer(dir);
    const file = await writeSpec(
      dir,
      'tpe.yaml',
      tinySpec({
        name: 'tpe',
        train: { epochs: 1, batchSize: 16 },
        sweep: { grid: { seed: [1, 2] }, random: { sampler: 'tpe', trials: 5, startupTrials: 2, seed: 3, space } },
      }),
    );
    const planner = container.get<TrialPlanner>(TrialPlanner);
    const plan: SweepPlan = await planSweep(await readRawSpec(file), file, [], (loaded) => planner.plan(loaded));
    expect(plan.trials, 'only the startup samples are planned up front').to.have.length(4);
    expect(plan.adaptive?.total).to.equal(10);
    const runner = container.get<SweepRunner>(SweepRunner);
    const first = await runner.run(plan, { backend: tf.getBackend() });
    expect(first).to.include({ ran: 10, failed: 0 });

    // Replay the sampler on what the store holds: sample i's values from the mean result of samples 0…i-1 over both seeds.
    const tracker = container.get<Tracker>(Tracker);
    const runs = await tracker.findRuns('tpe', { 'mlflow.parentRunId': first.parentRunId });
    const key = (values: Record<string, unknown>) => JSON.stringify([values['train.learningRate'], values['model.head.dropout']]);
    const samples = new Map<string, number[]>();
    for (const run of runs) {
      const values = {
        'train.learningRate': Number(run.params['train.learningRate']),
        'model.head.dropout': Number(run.params['model.head.dropout']),
      };
      samples.set(key(values), [...(samples.get(key(values)) ?? []), run.metrics['kept_val_accuracy']!.at(-1)!]);
    }
    expect([...samples.values()].map((results) => results.length)).to.deep.equal([2, 2, 2, 2, 2]);
    const observations: { values: Record<string, unknown>; value: number }[] = [];
    for (let sample = 0; sample < 5; sample++) {
      const values = suggestTpe(space, observations, sample, { seed: 3, goal: 'max', startupTrials: 2 });
      const results = samples.get(key(values));
      expect(results, `sample ${sample} ran with the values TPE gives for the results before it`).to.not.equal(undefined);
      observations.push({ values, value: results!.reduce((a, b) => a + b, 0) / results!.length });
    }

    const again = await runner.run(plan, { backend: tf.getBackend() });
    expect(again).to.include({ ran: 0, skipped: 10, parentRunId: first.parentRunId });
    // A trial of a later sample lost: only it is trained again, with the same values.
    const lost = runs.find(
      (run) =>
        run.params['seed'] === '2' &&
        key({
          'train.learningRate': Number(run.params['train.learningRate']),
          'model.head.dropout': Number(run.params['model.head.dropout']),
        }) === key(observations[3]!.values),
    )!;
    const reopened = await tracker.resumeRun('tpe', lost.runId);
    await reopened.end('KILLED');
    const resumed = await runner.run(plan, { backend: tf.getBackend() });
    expect(resumed).to.include({ ran: 1, skipped: 9 });
  });
});
