import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { expect } from 'chai';
import { parse } from 'yaml';
import {
  FileStoreTracker,
  MlflowClient,
  RestTracker,
  ThawError,
  TrialPipeline,
  readRunDetails,
  readRunInputs,
  registerRunModel,
} from '@thaw/core';
import { MlflowDouble } from '../helpers/mlflow-double.js';
import { loadTinySpec, recordingLogger, temporaryFolder, testContainer } from '../helpers/fixtures.js';

describe('MLflow 3: datasets, logged models and the registry', function () {
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

  const trackerIn = (store: string) =>
    new RestTracker(
      new MlflowClient({ url: double.url, insecureTls: false }, { retries: 1, backoffMs: 10 }),
      new FileStoreTracker(join(dir, store)),
      recordingLogger(),
    );

  async function trial(tracker: RestTracker | FileStoreTracker, name: string) {
    const container = await testContainer(dir, recordingLogger(), 0, tracker);
    const loaded = await loadTinySpec(dir, { name, train: { epochs: 2, batchSize: 16 } }, `${name}.yaml`);
    return container.get<TrialPipeline>(TrialPipeline).run(loaded, { backend: tf.getBackend() });
  }

  it('logs the three splits as the run’s datasets, and the trained model as a logged model with its MLmodel, params and linked metrics', async () => {
    const tracker = trackerIn('models');
    const result = await trial(tracker, 'models');
    const runId = result.runId;

    const inputs = double.runInputs(runId)!;
    expect(inputs.datasets.map((d) => [d.dataset.name, d.tags.find((t) => t.key === 'mlflow.data.context')?.value])).to.deep.equal([
      ['fashion-mnist-train', 'training'],
      ['fashion-mnist-validation', 'validation'],
      ['fashion-mnist-test', 'testing'],
    ]);
    const train = inputs.datasets[0]!.dataset;
    expect(train.digest).to.match(/^[0-9a-f]{8}$/);
    expect(JSON.parse(train.profile)).to.deep.equal({
      features_shape: [48, 28, 28, 1],
      features_size: 48 * 784,
      features_nbytes: 48 * 784 * 4,
      targets_shape: [48],
      targets_size: 48,
      targets_nbytes: 192,
    });
    const schema = JSON.parse(train.schema) as { mlflow_tensorspec: { features: string } };
    expect(JSON.parse(schema.mlflow_tensorspec.features)).to.deep.equal([
      { type: 'tensor', 'tensor-spec': { dtype: 'float32', shape: [-1, 28, 28, 1] } },
    ]);
    expect(JSON.parse(train.source)).to.deep.equal({ uri: result.dataSource });
    // The local copy keeps them for thaw sync.
    const localDir = (await tracker.local.runDir('models', runId))!;
    expect((await readRunInputs(localDir)).map((d) => d.digest)).to.deep.equal(inputs.datasets.map((d) => d.dataset.digest));

    const [model] = double.loggedModelsOf('models');
    expect(model!.info).to.include({
      name: 'models',
      status: 'LOGGED_MODEL_READY',
      source_run_id: runId,
      model_type: 'tfjs-small-convnet',
    });
    expect(double.runOutputs(runId)).to.deep.equal([{ model_id: model!.info.model_id, step: 2 }]);
    const run = double.run(runId)!;
    expect(run.tags).to.deep.include({ key: 'thaw.loggedModelId', value: model!.info.model_id });
    expect(model!.data.params).to.deep.include({ key: 'strategy.unfreeze', value: '1' });
    expect(model!.info.tags).to.deep.include({ key: 'mlflow.source.type', value: 'LOCAL' });
    const testAccuracy = model!.data.metrics!.find((m) => m.key === 'test_accuracy')!;
    expect(testAccuracy).to.include({
      dataset_name: 'fashion-mnist-test',
      dataset_digest: inputs.datasets[2]!.dataset.digest,
      run_id: runId,
    });
    expect(Number(testAccuracy.value)).to.equal(result.evaluation.accuracy);
    expect(model!.data.metrics!.find((m) => m.key === 'kept_val_accuracy')).to.include({ dataset_name: 'fashion-mnist-validation' });
    // The run holds each metric once.
    expect(run.points.filter((p) => p.key === 'test_accuracy')).to.have.length(1);

    const files = double.modelArtifactsOf(model!.info.model_id);
    expect([...files.keys()].sort()).to.deep.equal(['MLmodel', 'model.json', 'weights.bin']);
    const mlmodel = parse(files.get('MLmodel')!.toString()) as Record<string, unknown>;
    expect(mlmodel).to.include({ model_id: model!.info.model_id, run_id: runId, artifact_path: model!.info.artifact_uri });
    expect(Object.keys(mlmodel['flavors'] as object)).to.deep.equal(['tfjs']);
    expect(JSON.parse((mlmodel['signature'] as { inputs: string }).inputs)).to.deep.equal([
      { type: 'tensor', 'tensor-spec': { dtype: 'float32', shape: [-1, 28, 28, 1] } },
    ]);
    const outputs = JSON.parse((mlmodel['signature'] as { outputs: string }).outputs) as { 'tensor-spec': { shape: number[] } }[];
    expect(outputs[0]!['tensor-spec'].shape).to.deep.equal([-1, 3]);
    // The run's own model folder holds the same files.
    expect(double.artifactsOf(runId).get('model/MLmodel')!.equals(files.get('MLmodel')!)).to.equal(true);
  });

  it('with the local store: the datasets beside the run, an MLmodel among the model’s artifacts, no logged model', async () => {
    const store = new FileStoreTracker(join(dir, 'local-only'));
    const result = await trial(store, 'local-only');
    const runDir = (await store.runDir('local-only', result.runId))!;
    expect((await readRunInputs(runDir)).map((d) => d.context)).to.deep.equal(['training', 'validation', 'testing']);
    const details = await readRunDetails(runDir);
    expect(details.artifacts).to.include.members(['model/MLmodel', 'model/model.json', 'model/weights.bin']);
    expect(details.tags['thaw.loggedModelId']).to.equal(undefined);
  });

  it('registers a run’s model as new versions of a registered model, with tags and an alias; says clearly what cannot be registered', async () => {
    const tracker = trackerIn('registry');
    const result = await trial(tracker, 'registry');
    const first = await registerRunModel(tracker, result.runId, 'tiny-classifier', {
      alias: 'champion',
      tags: { 'thaw.metric': 'val_accuracy' },
    });
    expect(first).to.include({ name: 'tiny-classifier', version: '1' });
    expect(first.url).to.equal(`${double.url}/#/models/tiny-classifier/versions/1`);
    const second = await registerRunModel(tracker, result.runId, 'tiny-classifier');
    expect(second.version).to.equal('2');
    const registered = double.registeredModel('tiny-classifier')!;
    expect(registered.versions.map((v) => v.version)).to.deep.equal(['1', '2']);
    expect(registered.aliases).to.deep.equal({ champion: '1' });
    expect(registered.versions[0]!.tags).to.deep.include({ key: 'thaw.metric', value: 'val_accuracy' });
    expect(registered.versions[0]!.source).to.equal(`models:/${first.modelId}`);

    const refused = async (work: () => Promise<unknown>) =>
      work().then(
        () => expect.fail('expected a ThawError'),
        (error: unknown) => error as Error,
      );
    const cases: [() => Promise<unknown>, RegExp][] = [
      [
        () => registerRunModel(tracker, result.runId, 'tiny-classifier', { alias: 'latest' }),
        /--alias: received "latest"; MLflow reserves/,
      ],
      [
        () => registerRunModel(tracker, '0123456789abcdef0123456789abcdef', 'tiny-classifier'),
        /run 0123456789abcdef0123456789abcdef: not found on http/,
      ],
      [() => registerRunModel(new FileStoreTracker(join(dir, 'registry')), result.runId, 'x'), /the model registry is on an MLflow server/],
    ];
    for (const [work, message] of cases) {
      const error = await refused(work);
      expect(error).to.be.instanceOf(ThawError);
      expect(error.message).to.match(message);
    }
  });
});
