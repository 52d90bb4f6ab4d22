import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import {
  FileStoreTracker,
  MlflowApiError,
  MlflowClient,
  MlflowUnreachableError,
  RestTracker,
  ThawError,
  TrialObserver,
  TrialPipeline,
  createTracker,
  readRunDetails,
  readSyncState,
  writeSyncState,
  splitLogBatch,
  type EpochLogs,
  type MetricPoint,
  type TrialObserver as TrialObserverType,
} from '@thaw/core';
import { MlflowDouble } from '../helpers/mlflow-double.js';
import { selfSignedCertificate } from '../helpers/self-signed.js';
import { freePort, loadTinySpec, recordingLogger, temporaryFolder, testContainer } from '../helpers/fixtures.js';

const quick = { retries: 2, backoffMs: 10 };

function serverOf(url: string, extra: Record<string, unknown> = {}) {
  return { url, insecureTls: false, ...extra };
}

describe('MLflow client against the test double', function () {
  this.timeout(30_000);
  const double = new MlflowDouble();
  let client: MlflowClient;
  let runId = '';
  let artifactUri = '';
  before(async () => {
    client = new MlflowClient(serverOf(await double.start()), quick);
    const experimentId = await client.createExperiment('client-tests');
    const run = await client.createRun({ experimentId, runName: 'r', startTime: 1_795_000_000_000.7, tags: { a: 'b' } });
    runId = run.info.run_id;
    artifactUri = run.info.artifact_uri;
  });
  after(() => double.stop());

  it('splits a batch within the server limits: 1000 metrics, 100 params, 100 tags, 1000 in all, one key once', () => {
    const metrics = Array.from({ length: 2500 }, (_, i) => ({ key: 'm', value: i, step: i, timestamp: 1 }));
    const params = [...Array.from({ length: 150 }, (_, i) => ({ key: `p${i}`, value: 'x' })), { key: 'p0', value: 'x' }];
    const tags = Array.from({ length: 120 }, (_, i) => ({ key: `t${i}`, value: 'y' }));
    const parts = splitLogBatch({ metrics, params, tags });
    for (const part of parts) {
      expect(part.metrics?.length ?? 0).to.be.at.most(1000);
      expect(part.params?.length ?? 0).to.be.at.most(100);
      expect(part.tags?.length ?? 0).to.be.at.most(100);
      expect((part.metrics?.length ?? 0) + (part.params?.length ?? 0) + (part.tags?.length ?? 0)).to.be.at.most(1000);
      const keys = (part.params ?? []).map((p) => p.key);
      expect(new Set(keys).size).to.equal(keys.length);
    }
    expect(parts.flatMap((p) => p.metrics ?? [])).to.have.length(2500);
    expect(parts.flatMap((p) => p.params ?? [])).to.have.length(151);
    expect(parts.flatMap((p) => p.tags ?? [])).to.have.length(120);
  });

  it('logs 2,500 points and reads them back through paged history; the server refuses none', async () => {
    const points = Array.from({ length: 2500 }, (_, i) => ({ key: 'bulk', value: i / 7, step: i, timestamp: 1_795_000_000_000 + i }));
    const before = double.requests.length;
    await client.logBatch(runId, { metrics: points, params: Array.from({ length: 130 }, (_, i) => ({ key: `k${i}`, value: String(i) })) });
    expect(double.requests.length - before).to.equal(4);
    const history = await client.getMetricHistory(runId, 'bulk', 700);
    expect(history.map((p) => p.value)).to.deep.equal(points.map((p) => p.value));
    const pages = double.requests.filter((r) => r.path.includes('metric_key=bulk'));
    expect(pages).to.have.length(4);
    expect(pages.every((r) => r.path.includes('max_results=700'))).to.equal(true);
  });

  it('sends NaN and ±Infinity as strings and fractional times as integers, and reads them back', async () => {
    await client.logBatch(runId, {
      metrics: [
        { key: 'odd', value: NaN, step: 0, timestamp: 1.5 },
        { key: 'odd', value: Infinity, step: 1, timestamp: 2.4 },
        { key: 'odd', value: -Infinity, step: 2, timestamp: 3 },
        { key: 'odd', value: 0.25, step: 3.2, timestamp: 4 },
      ],
    });
    const body = double.requests.at(-1)!.body;
    expect(body).to.include('"value":"NaN"').and.include('"value":"Infinity"').and.include('"value":"-Infinity"');
    expect(body).to.include('"timestamp":2,').and.include('"step":3}');
    const history = await client.getMetricHistory(runId, 'odd');
    expect(history.map((p) => p.value)).to.deep.equal([NaN, Infinity, -Infinity, 0.25]);
    expect(history.map((p) => p.timestamp)).to.deep.equal([2, 2, 3, 4]);
    expect((await client.getRun(runId)).info.start_time).to.equal(1_795_000_000_001);
  });

  it('answers server errors with the server code and message, naming the endpoint', async () => {
    await client.logBatch(runId, { params: [{ key: 'fixed', value: '1' }] });
    const error = await client.logBatch(runId, { params: [{ key: 'fixed', value: '2' }] }).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(MlflowApiError);
    expect((error as MlflowApiError).message).to.match(
      /runs\/log-batch answered 400 INVALID_PARAMETER_VALUE: Changing param values is not allowed/,
    );
    expect(await client.getExperimentByName('no-such-experiment')).to.equal(undefined);
  });

  it('retries 5xx with backoff and goes on; gives up with a clear error when the server stays away', async () => {
    double.failNext(2);
    await client.setTag(runId, 'after', 'retries');
    expect((await client.getRun(runId)).data.tags).to.deep.include({ key: 'after', value: 'retries' });
    const port = await freePort();
    const dead = createTracker({
      uri: `http://user:hunter2@127.0.0.1:${port}`,
      store: 'unused',
      logger: recordingLogger(),
      env: { THAW_MLFLOW_RETRIES: '1', THAW_MLFLOW_BACKOFF_MS: '1' },
    }) as RestTracker;
    const error = await dead.client.getRun('x').catch((e: unknown) => e);
    expect(error).to.be.instanceOf(MlflowUnreachableError);
    expect((error as Error).message).to.equal(
      `MLflow server http://127.0.0.1:${port} is unreachable: runs/get failed 2 times (last: ECONNREFUSED)`,
    );
    expect((error as Error).message).to.not.include('hunter2');
  });

  it('uploads, lists and downloads artifacts through the proxy', async () => {
    await client.uploadArtifact(artifactUri, 'model/model.json', '{"a":1}');
    await client.uploadArtifact(artifactUri, 'model/weights.bin', new Uint8Array([1, 2, 3]));
    await client.uploadArtifact(artifactUri, 'notes.txt', 'hello');
    expect(await client.listArtifacts(runId)).to.deep.equal([
      { path: 'model', is_dir: true },
      { path: 'notes.txt', is_dir: false, file_size: 5 },
    ]);
    expect((await client.listArtifactFiles(runId)).map((f) => f.path)).to.deep.equal([
      'model/model.json',
      'model/weights.bin',
      'notes.txt',
    ]);
    expect([...(await client.downloadArtifact(artifactUri, 'model/weights.bin'))]).to.deep.equal([1, 2, 3]);
  });

  it('speaks https; a self-signed certificate is refused unless MLFLOW_TRACKING_INSECURE_TLS says otherwise', async function () {
    const { dir: certDir, remove: removeCert } = await temporaryFolder();
    const certificate = selfSignedCertificate(certDir);
    if (!certificate) {
      await removeCert();
      this.skip();
    }
    const secure = new MlflowDouble();
    try {
      const url = await secure.start(certificate);
      expect(url).to.match(/^https:/);
      const strict = createTracker({
        store: 'unused',
        logger: recordingLogger(),
        env: { MLFLOW_TRACKING_URI: url, THAW_MLFLOW_RETRIES: '0' },
      }) as RestTracker;
      const refused = await strict.client.getExperimentByName('x').catch((e: unknown) => e);
      expect((refused as Error).message).to.match(
        /unreachable: experiments\/get-by-name failed 1 times \(last: DEPTH_ZERO_SELF_SIGNED_CERT\)/,
      );
      const insecure = createTracker({
        store: 'unused',
        logger: recordingLogger(),
        env: { MLFLOW_TRACKING_URI: url, MLFLOW_TRACKING_INSECURE_TLS: 'true' },
      }) as RestTracker;
      expect(await insecure.client.createExperiment('over-tls')).to.equal('1');
    } finally {
      await secure.stop();
      await removeCert();
    }
  });

  it('authenticates with a bearer token or a user name and password, never printing them', async () => {
    await new MlflowClient(serverOf(double.url, { token: 's3cret-token' }), quick).getRun(runId);
    expect(double.requests.at(-1)!.authorization).to.equal('Bearer s3cret-token');
    const tracker = createTracker({
      uri: double.url.replace('http://', 'http://alice:pa55word@'),
      store: 'unused',
      logger: recordingLogger(),
      env: {},
    });
    expect(tracker).to.be.instanceOf(RestTracker);
    expect(tracker.location).to.equal(double.url);
    await (tracker as RestTracker).client.getRun(runId);
    expect(double.requests.at(-1)!.authorization).to.equal(`Basic ${Buffer.from('alice:pa55word').toString('base64')}`);
    const fromEnv = createTracker({
      store: 'unused',
      logger: recordingLogger(),
      env: { MLFLOW_TRACKING_URI: double.url, MLFLOW_TRACKING_USERNAME: 'bob', MLFLOW_TRACKING_PASSWORD: 'pw' },
    }) as RestTracker;
    await fromEnv.client.getRun(runId);
    expect(double.requests.at(-1)!.authorization).to.equal(`Basic ${Buffer.from('bob:pw').toString('base64')}`);
    const local = createTracker({ store: 'somewhere', logger: recordingLogger(), env: {} });
    expect(local).to.be.instanceOf(FileStoreTracker);
    expect(() => createTracker({ uri: 'ftp://x:secret@host/', store: 's', logger: recordingLogger(), env: {} }))
      .to.throw(ThawError, /tracking\.uri: received "ftp:\/\/host\/"/)
      .with.property('message')
      .that.does.not.include('secret');
  });
});

/** Stops the double after the first epoch of the trial it watches, as a server crash would. */
class CrashAfterFirstEpoch implements TrialObserverType {
  readonly order = 200;
  constructor(private readonly double: MlflowDouble) {}
  async onEpochEnd(logs: EpochLogs): Promise<void> {
    if (logs.epoch === 0) await this.double.stop();
  }
}

function summarise(double: MlflowDouble, runId: string) {
  const run = double.run(runId)!;
  const timing = /seconds|per_second/;
  return {
    status: run.info.status,
    params: Object.fromEntries(run.params.filter((p) => p.key !== 'data.source').map((p) => [p.key, p.value])),
    tags: run.tags.map((t) => t.key).sort(),
    metrics: run.points
      .map((p) => ({ key: p.key, step: p.step, value: timing.test(p.key) ? 'timing' : p.value }))
      .sort((a, b) => a.key.localeCompare(b.key) || a.step - b.step),
    artifacts: [...double.artifactsOf(runId).keys()].sort(),
  };
}

describe('MLflow tracking of trials', function () {
  this.timeout(180_000);
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

  const trackerIn = (store: string, logger = recordingLogger()) =>
    new RestTracker(new MlflowClient(serverOf(double.url), quick), new FileStoreTracker(join(dir, store)), logger);

  it('records a trial on the server exactly as in the local store, in a model-training experiment', async () => {
    const tracker = trackerIn('mirror');
    const container = await testContainer(dir, recordingLogger(), 0, tracker);
    const loaded = await loadTinySpec(dir, { name: 'via-server', tracking: { experiment: 'served' } }, 'served.yaml');
    const result = await container.get<TrialPipeline>(TrialPipeline).run(loaded, { backend: tf.getBackend() });
    expect(result.runLocation).to.equal(`${double.url}/#/experiments/${double.run(result.runId)!.info.experiment_id}/runs/${result.runId}`);
    const experiment = [...double.state.experiments.values()].find((e) => e.name === 'served')!;
    expect(experiment.tags).to.deep.include({ key: 'mlflow.experimentKind', value: 'custom_model_development' });

    const run = double.run(result.runId)!;
    const localDir = await tracker.local.runDir('served', result.runId);
    const local = await readRunDetails(localDir!);
    expect(run.info.status).to.equal('FINISHED').and.equal(local.status);
    expect(run.info.end_time).to.equal(local.endTime);
    expect(Object.fromEntries(run.params.map((p) => [p.key, p.value]))).to.deep.equal(local.params);
    expect(Object.fromEntries(run.tags.map((t) => [t.key, t.value]))).to.deep.equal(local.tags);
    const asServer = (p: MetricPoint) => ({ key: p.key, value: p.value, timestamp: p.timestamp, step: p.step });
    expect(run.points.map((p) => ({ ...p, value: p.value === 'NaN' ? NaN : p.value }))).to.have.deep.members(local.points.map(asServer));
    const artifacts = double.artifactsOf(result.runId);
    expect([...artifacts.keys()].sort()).to.deep.equal([...local.artifacts].sort());
    for (const path of local.artifacts)
      expect(artifacts.get(path)!.equals(await readFile(join(localDir!, 'artifacts', path))), path).to.equal(true);
    expect(local.artifacts).to.include.members([
      'learning-curves.png',
      'confusion-matrix.png',
      'learning-curves.csv',
      'model/model.json',
      'spec.yaml',
    ]);
    expect(artifacts.get('learning-curves.png')!.subarray(1, 4).toString()).to.equal('PNG');
    expect(run.tags.map((t) => t.key)).to.include.members([
      'mlflow.runName',
      'mlflow.user',
      'mlflow.source.name',
      'mlflow.note.content',
      'thaw.configHash',
    ]);
    expect((await readSyncState(localDir!))?.pending).to.equal(false);
  });

  it('keeps over-long values whole as artifacts and logs a shortened value that says so', async () => {
    const tracker = trackerIn('long');
    const run = await tracker.startRun({ experimentName: 'long-values', runName: 'long', tags: { 'thaw.long': 'y'.repeat(9000) } });
    await run.logParams({ 'spec.long': 'x'.repeat(7000) });
    await run.end('FINISHED');
    const served = double.run(run.runId)!;
    const param = served.params.find((p) => p.key === 'spec.long')!.value;
    expect(param.length).to.be.at.most(6000);
    expect(param).to.match(/shortened from 7000 characters; the whole value is in artifact thaw-full-values\/params\/spec\.long\.txt/);
    expect(served.tags.find((t) => t.key === 'thaw.long')!.value.length).to.be.at.most(8000);
    const artifacts = double.artifactsOf(run.runId);
    expect(artifacts.get('thaw-full-values/params/spec.long.txt')!.toString()).to.equal('x'.repeat(7000));
    expect(artifacts.get('thaw-full-values/tags/thaw.long.txt')!.toString()).to.equal('y'.repeat(9000));
  });

  it('stops at once when the server refuses the credentials, saying which settings to check', async () => {
    const tracker = trackerIn('auth');
    double.failNext(1, 401);
    const error = await tracker.startRun({ experimentName: 'auth', runName: 'r', tags: {} }).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(MlflowApiError);
    expect((error as Error).message).to.match(
      /answered 401 HTTP_401: .*set MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD/,
    );
  });

  it('refuses a key MLflow would refuse before sending anything', async () => {
    const tracker = trackerIn('keys');
    const run = await tracker.startRun({ experimentName: 'keys', runName: 'k', tags: {} });
    const sent = double.requests.length;
    const error = await run.logMetrics([{ key: 'accuracy@top1', value: 1, step: 0, timestamp: 1 }]).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(ThawError);
    expect((error as Error).message).to.match(/invalid MLflow metric key "accuracy@top1": only letters, digits/);
    expect(await run.logParams({ 'a/../b': '1' }).catch((e: unknown) => (e as Error).message)).to.match(/would resolve to another path/);
    expect(double.requests.length).to.equal(sent);
  });

  it('survives the server going away mid-trial; thaw sync then makes the server match a trial without a fault, point by point', async () => {
    const spec = { name: 'fault', seed: 11, train: { epochs: 3, batchSize: 16, learningRate: 0.01 } };
    const clean = trackerIn('clean');
    const cleanResult = await (
      await testContainer(dir, recordingLogger(), 0, clean)
    )
      .get<TrialPipeline>(TrialPipeline)
      .run(await loadTinySpec(dir, { ...spec, tracking: { experiment: 'fault-clean' } }, 'clean.yaml'), { backend: tf.getBackend() });

    const logger = recordingLogger();
    const faulty = trackerIn('faulty', logger);
    const container = await testContainer(dir, logger, 0, faulty);
    container.bind(TrialObserver).toConstantValue(new CrashAfterFirstEpoch(double));
    const result = await container
      .get<TrialPipeline>(TrialPipeline)
      .run(await loadTinySpec(dir, { ...spec, tracking: { experiment: 'fault-crash' } }, 'crash.yaml'), { backend: tf.getBackend() });
    expect(result.evaluation.accuracy).to.equal(cleanResult.evaluation.accuracy);
    expect(logger.lines.join('\n')).to.match(/unreachable[\s\S]*the run goes on and is kept in[\s\S]*thaw sync/);
    // While away, the server holds only what came before the crash; the run is still RUNNING there.
    expect(double.run(result.runId)!.info.status).to.equal('RUNNING');

    await double.start();
    const dry = await faulty.sync.syncPending(true);
    expect(dry).to.have.length(1);
    expect(dry[0]!.metricPoints).to.be.greaterThan(0);
    expect(double.run(result.runId)!.info.status).to.equal('RUNNING');
    const sent = await faulty.sync.syncPending(false);
    expect(sent[0]!.status).to.equal('FINISHED');
    expect(await faulty.sync.syncPending(false)).to.deep.equal([]);
    // Idempotent: a forced second pass sends nothing more.
    const again = await faulty.sync.syncDir((await faulty.local.runDir('fault-crash', result.runId))!);
    expect([again.params, again.tags, again.metricPoints, again.artifacts]).to.deep.equal([0, 0, 0, 0]);

    const crashed = summarise(double, result.runId);
    const reference = summarise(double, cleanResult.runId);
    // A run that ended while the server was away keeps its model among its artifacts, but becomes no logged model.
    const withoutExperiment = (s: typeof crashed) => ({
      ...s,
      params: { ...s.params, 'tracking.experiment': '' },
      tags: s.tags.filter((key) => key !== 'thaw.loggedModelId'),
    });
    expect(withoutExperiment(crashed)).to.deep.equal(withoutExperiment(reference));
    const local = await readRunDetails((await faulty.local.runDir('fault-crash', result.runId))!);
    expect(double.run(result.runId)!.points).to.have.length(local.points.length);
  });

  it('gives the same numbers and weights, bit for bit, against a server that fails every third request as with no server', async () => {
    const spec = { name: 'determinism', seed: 5, train: { epochs: 3, batchSize: 16, learningRate: 0.01 } };
    const run = async (tracker: FileStoreTracker | RestTracker, file: string) => {
      const container = await testContainer(dir, recordingLogger(), 0, tracker);
      const result = await container
        .get<TrialPipeline>(TrialPipeline)
        .run(await loadTinySpec(dir, spec, file), { backend: tf.getBackend() });
      const local = tracker instanceof RestTracker ? tracker.local : tracker;
      const runDir = (await local.runDir('determinism', result.runId))!;
      const details = await readRunDetails(runDir);
      const metrics = details.points
        .filter((p) => !['epoch_seconds', 'trial_seconds', 'train_images_per_second'].includes(p.key) && !p.key.startsWith('system/'))
        .map((p) => `${p.key}@${p.step}=${p.value}`)
        .sort();
      return { metrics, weights: await readFile(join(runDir, 'artifacts', 'model', 'weights.bin')), requests: double.requests.length };
    };
    const alone = await run(new FileStoreTracker(join(dir, 'alone')), 'alone.yaml');
    const before = double.requests.length;
    double.flaky(3);
    let flaky;
    try {
      flaky = await run(trackerIn('flaky'), 'flaky.yaml');
    } finally {
      double.flaky(0);
    }
    // Every third request failed: the server refused many times, and each was retried.
    expect(Math.floor((flaky.requests - before) / 3)).to.be.at.least(10);
    expect(flaky.metrics).to.deep.equal(alone.metrics);
    expect(flaky.weights.equals(alone.weights)).to.equal(true);
  });

  it("samples CPU, memory, disk and network during a trial under MLflow's system/ keys, and not when switched off", async () => {
    process.env['MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL'] = '0.2';
    try {
      const spec = { name: 'system', train: { epochs: 12, batchSize: 16, learningRate: 0.01 } };
      const container = await testContainer(dir, recordingLogger(), 0, trackerIn('system'));
      const pipeline = container.get<TrialPipeline>(TrialPipeline);
      const sampled = await pipeline.run(await loadTinySpec(dir, spec, 'system.yaml'), { backend: tf.getBackend() });
      const points = double.run(sampled.runId)!.points.filter((p) => p.key.startsWith('system/'));
      const keys = [
        'cpu_utilization_percentage',
        'system_memory_usage_megabytes',
        'system_memory_usage_percentage',
        'disk_usage_percentage',
        'disk_usage_megabytes',
        'disk_available_megabytes',
        'network_receive_megabytes',
        'network_transmit_megabytes',
      ];
      expect([...new Set(points.map((p) => p.key))].sort()).to.deep.equal(keys.map((key) => `system/${key}`).sort());
      const cpu = points.filter((p) => p.key === 'system/cpu_utilization_percentage');
      expect(cpu.length, 'a sample every 0.2 s of a trial of a second or more').to.be.at.least(3);
      expect(cpu.map((p) => p.step)).to.deep.equal(cpu.map((_, i) => i));
      for (const point of points) {
        expect(Number(point.value), point.key).to.be.at.least(0);
        expect(Math.round(Number(point.value) * 10) / 10, 'rounded to 0.1 as MLflow does').to.equal(Number(point.value));
        if (point.key.endsWith('percentage')) expect(Number(point.value), point.key).to.be.at.most(100);
      }
      const quiet = await pipeline.run(await loadTinySpec(dir, { ...spec, tracking: { systemMetrics: false } }, 'quiet.yaml'), {
        backend: tf.getBackend(),
      });
      expect(double.run(quiet.runId)!.points.filter((p) => p.key.startsWith('system/'))).to.deep.equal([]);
    } finally {
      delete process.env['MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL'];
    }
  });

  it('starts a run locally when the server cannot be reached, and sync creates it there with its children', async () => {
    const url = double.url;
    await double.stop();
    const logger = recordingLogger();
    const tracker = new RestTracker(
      new MlflowClient(serverOf(url), { retries: 1, backoffMs: 5 }),
      new FileStoreTracker(join(dir, 'offline')),
      logger,
    );
    const parent = await tracker.startRun({ experimentName: 'offline', runName: 'parent', tags: {} });
    const child = await tracker.startRun({ experimentName: 'offline', runName: 'child', tags: {}, parentRunId: parent.runId });
    await child.logMetrics([{ key: 'm', value: 1, step: 0, timestamp: 5 }]);
    await child.end('FINISHED');
    await parent.end('FINISHED');
    expect(logger.lines.join('\n')).to.match(/run `thaw sync` when/);
    await double.start();
    const reports = await tracker.sync.syncPending(false);
    expect(reports.map((r) => r.runName)).to.deep.equal(['parent', 'child']);
    const runs = double.runsOf('offline');
    const served = Object.fromEntries(runs.map((r) => [r.info.run_name, r]));
    expect(served['child']!.tags).to.deep.include({ key: 'mlflow.parentRunId', value: served['parent']!.info.run_id });
    expect(served['child']!.points).to.deep.equal([{ key: 'm', value: 1, timestamp: 5, step: 0 }]);
  });

  it('thaw sync reports a run whose param contradicts the server, and still sends the others', async () => {
    const tracker = trackerIn('conflict');
    const a = await tracker.startRun({ experimentName: 'conflict', runName: 'a', tags: {} });
    await a.logParams({ lr: '0.1' });
    await a.end('FINISHED');
    const b = await tracker.startRun({ experimentName: 'conflict', runName: 'b', tags: {} });
    await b.end('FINISHED');
    const dirA = (await tracker.local.runDir('conflict', a.runId))!;
    const dirB = (await tracker.local.runDir('conflict', b.runId))!;
    await writeFile(join(dirA, 'params', 'lr'), '0.2');
    await mkdir(join(dirB, 'metrics'), { recursive: true });
    await writeFile(join(dirB, 'metrics', 'late'), '7 1.0 0\n');
    for (const runDir of [dirA, dirB]) await writeSyncState(runDir, { ...(await readSyncState(runDir))!, pending: true });
    const error = await tracker.sync.syncPending(false).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(ThawError);
    expect((error as Error).message).to.match(
      /^1 run\(s\) could not be sent \(the others were\):\n {2}.*: run a \(.*\): param lr is "0\.2" here but "0\.1" on http:\/\/127\.0\.0\.1:\d+; MLflow params cannot change$/,
    );
    expect(double.run(b.runId)!.points).to.deep.include({ key: 'late', value: 1, timestamp: 7, step: 0 });
  });
});
