import * as tf from '@tensorflow/tfjs';
import { expect } from 'chai';
import {
  SweepRunner,
  ThawError,
  Tracker,
  TrialPlanner,
  planSweep,
  pruneDecision,
  readRawSpec,
  rungOf,
  type PruneSpec,
  type RunRecord,
} from '@thaw/core';
import { temporaryFolder, testContainer, tinySpec, writeSpec } from '../helpers/fixtures.js';

const max = { name: 'val_accuracy', goal: 'max' } as const;
const asha: PruneSpec = { method: 'asha', minEpochs: 1, reductionFactor: 2 };
const median: PruneSpec = { method: 'median', warmupEpochs: 1, minTrials: 2 };

describe('pruning sweep trials', () => {
  let dir: string;
  let remove: () => Promise<void>;
  before(async () => ({ dir, remove } = await temporaryFolder()));
  after(() => remove());

  it('ASHA: rungs at minEpochs × η^k; a trial goes on only among the best ⌊n/η⌋ (at least one) that reached the rung', () => {
    expect([1, 2, 3, 4, 5, 8].map((epoch) => rungOf({ method: 'asha', minEpochs: 1, reductionFactor: 2 }, epoch))).to.deep.equal([
      0,
      1,
      undefined,
      2,
      undefined,
      3,
    ]);
    expect(rungOf({ method: 'asha', minEpochs: 2, reductionFactor: 3 }, 6)).to.equal(1);
    // Alone at a rung: the best of one, goes on.
    expect(pruneDecision(asha, max, [0.5], [])).to.equal(undefined);
    // Two at the rung: only the better goes on (⌊2/2⌋ = 1).
    expect(pruneDecision(asha, max, [0.5], [[0.6]])).to.match(
      /^ASHA rung 0 \(epoch 1\): val_accuracy 0\.5 is not among the best 1 of the 2 trials/,
    );
    expect(pruneDecision(asha, max, [0.7], [[0.6]])).to.equal(undefined);
    // Four at the rung: the best two go on; a tie with the cut goes on.
    expect(
      pruneDecision(
        asha,
        max,
        [0.2, 0.6],
        [
          [0, 0.9],
          [0, 0.6],
          [0, 0.1],
        ],
      ),
    ).to.equal(undefined);
    expect(
      pruneDecision(
        asha,
        max,
        [0.2, 0.5],
        [
          [0, 0.9],
          [0, 0.6],
          [0, 0.1],
        ],
      ),
    ).to.match(/cut 0\.6\)$/);
    // Not a rung epoch: no decision; a loss is better when lower.
    expect(pruneDecision(asha, max, [0.1, 0.1, 0.1], [[0.9, 0.9, 0.9]])).to.equal(undefined);
    expect(pruneDecision(asha, { name: 'val_loss', goal: 'min' }, [0.5], [[0.6]])).to.equal(undefined);
  });

  it('median stopping: after the warm-up and once enough others reached the epoch, a best-so-far worse than their median stops', () => {
    expect(pruneDecision(median, max, [0.1], [[0.9], [0.8]]), 'warm-up').to.equal(undefined);
    expect(pruneDecision(median, max, [0.1, 0.2], [[0.9, 0.9]]), 'too few others').to.equal(undefined);
    expect(pruneDecision(median, max, [0.1, 0.2], [[0.9, 0.9], [0.8, 0.3], [0.5]])).to.match(
      /^median stopping \(epoch 2\): best val_accuracy so far 0\.2 is worse than the median 0\.6 of the 2 other trials at epoch 2$/,
    );
    expect(
      pruneDecision(
        median,
        max,
        [0.7, 0.2],
        [
          [0.9, 0.9],
          [0.8, 0.3],
        ],
      ),
      'its best so far counts',
    ).to.equal(undefined);
  });

  for (const prune of [asha, median]) {
    it(`${prune.method}: stops exactly the trials the rule stops, at the epoch it says, records them KILLED as pruned, and a resumed sweep keeps them`, async () => {
      const container = await testContainer(dir);
      const name = `prune-${prune.method}`;
      const file = await writeSpec(
        dir,
        `${name}.yaml`,
        tinySpec({
          name,
          train: { epochs: 4, batchSize: 16 },
          // Rates from hopeless to good: some trials fall behind early.
          sweep: { grid: { 'train.learningRate': [0.00001, 0.03, 0.0001, 0.01, 0.00003, 0.02] }, prune },
        }),
      );
      const planner = container.get<TrialPlanner>(TrialPlanner);
      const plan = await planSweep(await readRawSpec(file), file, [], (loaded) => planner.plan(loaded));
      const runner = container.get<SweepRunner>(SweepRunner);
      const outcome = await runner.run(plan, { backend: tf.getBackend() });

      const runs = await container.get<Tracker>(Tracker).findRuns(name, { 'mlflow.parentRunId': outcome.parentRunId });
      const byHash = new Map(runs.map((run) => [run.tags['thaw.configHash'], run]));
      const trials = plan.trials.map((trial) => byHash.get(trial.configHash)!);
      // Replay the rule on what was recorded, trial by trial in the order they ran.
      const expected: (number | undefined)[] = [];
      trials.forEach((run, i) => {
        const values = run.metrics['val_accuracy']!;
        const earlier = trials.slice(0, i).map((other) => [...other.metrics['val_accuracy']!]);
        let stop: number | undefined;
        for (let epoch = 1; epoch < 4 && stop === undefined; epoch++) {
          if (pruneDecision(prune, max, values.slice(0, epoch), earlier) !== undefined) stop = epoch;
        }
        expected.push(stop);
      });
      const prunedAt = trials.map((run: RunRecord) => (run.tags['thaw.pruned'] ? Number(run.tags['thaw.prunedAtEpoch']) : undefined));
      expect(prunedAt).to.deep.equal(expected);
      expect(expected.filter((epoch) => epoch !== undefined).length, 'some trial was pruned').to.be.greaterThan(0);
      for (const [i, run] of trials.entries()) {
        expect(run.status).to.equal(expected[i] === undefined ? 'FINISHED' : 'KILLED');
        if (expected[i] !== undefined) expect(run.metrics['val_accuracy']).to.have.length(expected[i]);
      }
      expect(outcome.pruned).to.equal(expected.filter((epoch) => epoch !== undefined).length);
      expect(outcome.ran + outcome.pruned).to.equal(6);
      expect(outcome.markdown.match(/^\| pruned /gm)).to.have.length(outcome.pruned);

      const again = await runner.run(plan, { backend: tf.getBackend() });
      expect(again).to.include({ ran: 0, pruned: 0, skipped: 6 });
    });
  }

  it('refuses pruning on a metric logged once per trial', async () => {
    const container = await testContainer(dir);
    const file = await writeSpec(
      dir,
      'prune-test-metric.yaml',
      tinySpec({ sweep: { grid: { seed: [1, 2] }, metric: { name: 'test_accuracy' }, prune: { method: 'asha' } } }),
    );
    const planner = container.get<TrialPlanner>(TrialPlanner);
    const planning = planSweep(await readRawSpec(file), file, [], (loaded) => planner.plan(loaded));
    const error = await planning.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).to.be.instanceOf(ThawError);
    expect((error as Error).message).to.match(
      /sweep\.prune: the sweep metric "test_accuracy" is logged once per trial.*expected an epoch metric: val_accuracy/,
    );
  });
});
