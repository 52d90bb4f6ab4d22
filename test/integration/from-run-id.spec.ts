import { join } from 'node:path';
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { FileStoreTracker, MlflowClient, RestTracker, TrialPipeline, layersModelFolder, type Tracker } from '@thaw/core';
import { MlflowDouble } from '../helpers/mlflow-double.js';
import { loadTinySpec, recordingLogger, temporaryFolder, testContainer } from '../helpers/fixtures.js';

describe('from-run by run id', function () {
  this.timeout(120_000);
  let dir = '';
  let remove: () => Promise<void>;
  const double = new MlflowDouble();
  before(async () => {
    ({ dir, remove } = await temporaryFolder());
    await double.start();
  });
  after(async () => {
    await double.stop();
    await remove();
  });

  /** A layer's kernel in the model a run recorded (the trial's own model is freed when it ends). */
  async function weightsOf(tracker: Tracker, run: { runId?: string }, layer: string): Promise<number[]> {
    const model = await tf.loadLayersModel(layersModelFolder((await tracker.artifactFolder(run.runId!, 'model'))!));
    const values = Array.from(await model.getLayer(layer).getWeights()[0]!.data());
    model.dispose();
    return values;
  }

  it('takes the trained base out of an earlier run in the local store, leaving its head behind', async () => {
    const container = await testContainer(dir);
    const pipeline = container.get<TrialPipeline>(TrialPipeline);
    const source = await pipeline.run(
      await loadTinySpec(dir, { name: 'source', strategy: { plugin: 'fine-tune', unfreeze: 'all' } }, 'source.yaml'),
      {
        backend: tf.getBackend(),
      },
    );
    const store = new FileStoreTracker(join(dir, 'mlruns'));
    const trained = await weightsOf(store, source, 'block2_conv');
    const reuse = await loadTinySpec(
      dir,
      {
        name: 'reuse',
        model: { base: { plugin: 'from-run', run: source.runId }, head: { dropout: 0 } },
        strategy: { plugin: 'feature-extraction' },
      },
      'reuse.yaml',
    );
    const result = await pipeline.run(reuse, { backend: tf.getBackend() });
    expect(await weightsOf(store, result, 'block2_conv')).to.deep.equal(trained);
    expect(result.built.units.map((u) => u.name)).to.deep.equal(['block1', 'block2']);
    expect(result.facts.trainableUnits).to.equal(0);

    const missing = await loadTinySpec(
      dir,
      { name: 'missing', model: { base: { plugin: 'from-run', run: '0123456789abcdef0123456789abcdef' } } },
      'missing.yaml',
    );
    const error = await pipeline.run(missing, { backend: tf.getBackend() }).catch((e: unknown) => e);
    expect((error as Error).message).to.match(
      /model\.base\.run: received 0123456789abcdef0123456789abcdef, which is not a run in .*mlruns; expected the id of an earlier run/,
    );
  });

  it('downloads the model of a run on an MLflow server through its artifact proxy', async () => {
    const client = () => new MlflowClient({ url: double.url, insecureTls: false }, { retries: 1, backoffMs: 5 });
    const here = new RestTracker(client(), new FileStoreTracker(join(dir, 'machine-a')), recordingLogger());
    const source = await (
      await testContainer(dir, recordingLogger(), 0, here)
    )
      .get<TrialPipeline>(TrialPipeline)
      .run(await loadTinySpec(dir, { name: 'served-source', strategy: { plugin: 'fine-tune', unfreeze: 'all' } }, 'served-source.yaml'), {
        backend: tf.getBackend(),
      });
    // Another machine: nothing of that run in its local store.
    const there = new RestTracker(client(), new FileStoreTracker(join(dir, 'machine-b')), recordingLogger());
    const reuse = await loadTinySpec(
      dir,
      { name: 'served-reuse', model: { base: { plugin: 'from-run', run: source.runId } } },
      'served-reuse.yaml',
    );
    const result = await (
      await testContainer(dir, recordingLogger(), 0, there)
    )
      .get<TrialPipeline>(TrialPipeline)
      .run(reuse, { backend: tf.getBackend() });
    expect(await weightsOf(there, result, 'block1_conv')).to.deep.equal(await weightsOf(here, source, 'block1_conv'));
    expect(
      double.requests.some(
        (r) => r.method === 'GET' && r.path.includes(`/mlflow-artifacts/artifacts/`) && r.path.endsWith('/model/model.json'),
      ),
    ).to.equal(true);
  });
});
