import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { expect } from 'chai';
import { FileStoreTracker, SweepRunner, TrialPlanner, planSweep, readRawSpec } from '@thaw/core';
import { temporaryFolder, testContainer, tinySpec, writeSpec } from '../helpers/fixtures.js';

describe('what a sweep records, as the MLflow UI shows it', () => {
  let dir: string;
  let remove: () => Promise<void>;
  before(async () => ({ dir, remove } = await temporaryFolder()));
  after(() => remove());

  it('names trials by their swept values, gives the sweep run its trials’ source tags, keeps class names out of key paths and machine paths out of the record', async () => {
    const container = await testContainer(dir);
    const file = await writeSpec(
      dir,
      'named.yaml',
      tinySpec({
        name: 'named',
        data: { plugin: 'fashion-mnist', classes: [0, 1], trainPerClass: 8, validationPerClass: 4, testPerClass: 4 },
        train: { epochs: 1, batchSize: 8 },
        sweep: { grid: { 'strategy.unfreeze': [0, 1] } },
      }),
    );
    const planner = container.get<TrialPlanner>(TrialPlanner);
    const plan = await planSweep(await readRawSpec(file), file, [], (loaded) => planner.plan(loaded));
    await container.get<SweepRunner>(SweepRunner).run(plan, { backend: tf.getBackend() });

    const runs = await new FileStoreTracker(join(dir, 'mlruns')).findRuns('named', {});
    const parent = runs.find((run) => run.tags['mlflow.parentRunId'] === undefined)!;
    const trials = runs.filter((run) => run.tags['mlflow.parentRunId'] === parent.runId);
    expect(trials.map((run) => run.runName).sort()).to.deep.equal(['unfreeze=0', 'unfreeze=1']);
    for (const run of trials) {
      expect(run.tags['thaw.specName']).to.equal('named');
      for (const tag of ['mlflow.user', 'mlflow.source.name', 'mlflow.source.type', 'thaw.spec']) {
        expect(parent.tags[tag], tag).to.be.a('string').and.equal(run.tags[tag]);
      }
      const keys = Object.keys(run.metrics).filter((key) => key.startsWith('test_precision.') || key.startsWith('test_recall.'));
      expect(keys.sort()).to.deep.equal([
        'test_precision.T-shirt_top',
        'test_precision.Trouser',
        'test_recall.T-shirt_top',
        'test_recall.Trouser',
      ]);
    }
    expect(parent.tags['thaw.spec']).to.equal('named.yaml');

    // Everything recorded, but the store's own artifact locations, is free of this machine's paths.
    const leaks: string[] = [];
    for (const name of await readdir(join(dir, 'mlruns'), { recursive: true })) {
      const path = join(dir, 'mlruns', name);
      const text = await readFile(path, 'latin1').catch(() => undefined);
      if (text === undefined) continue;
      for (const line of text.split('\n')) {
        if (line.includes(dir) && !/^(artifact_uri|artifact_location):/.test(line)) leaks.push(`${name}: ${line.slice(0, 160)}`);
      }
    }
    expect(leaks).to.deep.equal([]);
    const store = new FileStoreTracker(join(dir, 'mlruns'));
    const mapping = JSON.parse(await readFile((await store.artifactFolder(trials[0]!.runId, 'class-metric-keys.json'))!, 'utf8')) as Record<
      string,
      string
    >;
    expect(mapping).to.deep.equal({ 'T-shirt/top': 'T-shirt_top', Trouser: 'Trouser' });
  });
});
