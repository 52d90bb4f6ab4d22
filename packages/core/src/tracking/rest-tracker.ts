import { cp, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { thawCacheDir } from '../util/thaw-cache-dir.js';
import {
  ThawError,
  messageOf,
  type Logger,
  type FindRunsOptions,
  type LoggedModelRequest,
  type RunDataset,
  type MetricPoint,
  type RunRecord,
  type RunStatus,
  type StartRunRequest,
  type TrackedRun,
  type Tracker,
} from '@thaw/contracts';
import type { FileStoreRun, FileStoreTracker } from './file-store-tracker.js';
import { checkMlflowKey } from './mlflow-keys.js';
import { fitValues } from './value-limits.js';
import { MlflowApiError, MlflowUnreachableError, type MlflowClient } from './mlflow-client.js';
import type { MlflowKeyValue, MlflowMetric, MlflowRun } from './mlflow-types.js';
import { mlflowDatasetInput } from './run-datasets.js';
import { RunSync } from './run-sync.js';
import { readSyncState, writeSyncState, type SyncState } from './sync-state.js';

export const EXPERIMENT_KIND_TAG = 'mlflow.experimentKind';

/**
 * Runs on an MLflow tracking server, mirrored in a local file store. Everything is written
 * locally first and then sent; when the server is away the trial goes on, the local run stays
 * marked pending, and `thaw sync` (RunSync) sends what the server lacks.
 */
export class RestTracker implements Tracker {
  private readonly experiments = new Map<string, string>();

  /** Sends what the server lacks of local runs (`thaw sync`, and a run whose server came back). */
  readonly sync: RunSync;

  constructor(
    readonly client: MlflowClient,
    readonly local: FileStoreTracker,
    private readonly logger: Logger,
    /** Metric points are sent when this many wait, or this long after the last send. */
    private readonly flush = { points: 1000, ms: 1000 },
  ) {
    this.sync = new RunSync(client, local, (name) => this.experimentId(name));
  }

  get location(): string {
    return this.client.url;
  }

  checkWritable(where: string): void {
    this.local.checkWritable(where);
  }

  /** The server's id of an experiment, created (as a model-training experiment) when missing. */
  async experimentId(name: string): Promise<string> {
    const known = this.experiments.get(name);
    if (known !== undefined) return known;
    let experiment = await this.client.getExperimentByName(name);
    if (experiment === undefined) {
      try {
        await this.client.createExperiment(name, { [EXPERIMENT_KIND_TAG]: 'custom_model_development' });
      } catch (error) {
        // Another process created it in between.
        if (!(error instanceof MlflowApiError && error.errorCode === 'RESOURCE_ALREADY_EXISTS')) throw error;
      }
      experiment = await this.client.getExperimentByName(name);
    }
    if (experiment === undefined)
      throw new ThawError(`MLflow server ${this.client.url}: experiment ${JSON.stringify(name)} was created but cannot be found`);
    if (experiment.lifecycle_stage !== 'active') {
      throw new ThawError(
        `MLflow server ${this.client.url}: experiment ${JSON.stringify(name)} is deleted; restore it in the MLflow UI or choose another name (tracking.experiment)`,
      );
    }
    this.experiments.set(name, experiment.experiment_id);
    return experiment.experiment_id;
  }

  async startRun(request: StartRunRequest): Promise<TrackedRun> {
    const startTime = Date.now();
    const tags: Record<string, string> = { ...request.tags };
    if (request.parentRunId !== undefined) tags['mlflow.parentRunId'] = request.parentRunId;
    for (const key of Object.keys(tags)) checkMlflowKey('tag', key);
    const fitted = fitValues('tag', tags);
    let remote: MlflowRun | undefined;
    let problem: unknown;
    try {
      remote = await this.client.createRun({
        experimentId: await this.experimentId(request.experimentName),
        runName: request.runName,
        startTime,
        tags: fitted.values,
        userId: request.tags['mlflow.user'] ?? '',
      });
    } catch (error) {
      // Wrong credentials or a deleted experiment are for the user to fix now, not to sync later.
      if (error instanceof MlflowApiError && (error.status === 401 || error.status === 403)) throw error;
      if (error instanceof ThawError && !(error instanceof MlflowApiError) && !(error instanceof MlflowUnreachableError)) throw error;
      problem = error;
    }
    const localRun = remote
      ? await this.local.createRun(request, remote.info.run_id, startTime)
      : await this.local.createRun(request, crypto.randomUUID().replaceAll('-', ''), startTime);
    const state: SyncState = {
      server: this.client.url,
      experimentName: request.experimentName,
      ...(remote
        ? { remoteRunId: remote.info.run_id, remoteExperimentId: remote.info.experiment_id, artifactUri: remote.info.artifact_uri }
        : {}),
      pending: true,
    };
    await writeSyncState(localRun.dirPath, state);
    const run = new RestRun(this, localRun, remote, this.logger, this.flush);
    if (problem !== undefined) run.goOffline(problem);
    else for (const { path, content } of fitted.overflow) await run.logArtifact(path, content);
    return run;
  }

  async findRuns(experimentName: string, tags: Readonly<Record<string, string>>, options: FindRunsOptions = {}): Promise<RunRecord[]> {
    try {
      const experiment = await this.client.getExperimentByName(experimentName);
      if (experiment === undefined) return [];
      const filter = Object.entries(tags)
        .map(([key, value]) => `tags.\`${key}\` = '${value.replaceAll("'", "\\'")}'`)
        .join(' and ');
      const runs = await this.client.searchRuns({ experimentIds: [experiment.experiment_id], ...(filter ? { filter } : {}) });
      const records: RunRecord[] = [];
      for (const run of runs) records.push(await this.record(run, options.histories ?? true));
      return records.sort((a, b) => a.startTime - b.startTime);
    } catch (error) {
      if (!(error instanceof MlflowUnreachableError)) throw error;
      this.logger.warn(`${error.message}; reading the local copy in ${this.local.root} instead`);
      return this.local.findRuns(experimentName, tags);
    }
  }

  private async record(run: MlflowRun, histories = true): Promise<RunRecord> {
    const metrics: Record<string, number[]> = {};
    for (const { key, value } of run.data.metrics ?? []) {
      if (!histories) {
        metrics[key] = [value];
        continue;
      }
      const history = await this.client.getMetricHistory(run.info.run_id, key);
      metrics[key] = history.sort((a, b) => a.step - b.step || a.timestamp - b.timestamp).map((point) => point.value);
    }
    return {
      runId: run.info.run_id,
      runName: run.info.run_name,
      status: run.info.status === 'SCHEDULED' ? 'RUNNING' : run.info.status,
      startTime: run.info.start_time,
      tags: Object.fromEntries((run.data.tags ?? []).map(({ key, value }) => [key, value])),
      params: Object.fromEntries((run.data.params ?? []).map(({ key, value }) => [key, value])),
      metrics,
    };
  }

  async artifactFolder(runId: string, artifactPath: string): Promise<string | undefined> {
    // The local copy first (a run made here); else downloaded once into thaw's cache.
    const local = await this.local.artifactFolder(runId, artifactPath);
    if (local !== undefined) return local;
    let run: MlflowRun;
    try {
      run = await this.client.getRun(runId);
    } catch (error) {
      if (error instanceof MlflowApiError && error.errorCode === 'RESOURCE_DOES_NOT_EXIST') return undefined;
      throw error;
    }
    const files = await this.client.listArtifactFiles(runId, artifactPath);
    if (files.length === 0) return undefined;
    const target = join(thawCacheDir(), 'mlflow-artifacts', runId);
    for (const file of files) {
      const bytes = await this.client.downloadArtifact(run.info.artifact_uri, file.path);
      await mkdir(dirname(join(target, file.path)), { recursive: true });
      await writeFile(join(target, file.path), bytes);
    }
    return join(target, artifactPath);
  }

  async getRun(runId: string): Promise<(RunRecord & { experimentName: string }) | undefined> {
    try {
      const run = await this.client.getRun(runId);
      const experiment = await this.client.getExperiment(run.info.experiment_id);
      return { ...(await this.record(run)), experimentName: experiment.name };
    } catch (error) {
      if (error instanceof MlflowApiError && error.errorCode === 'RESOURCE_DOES_NOT_EXIST') return undefined;
      if (!(error instanceof MlflowUnreachableError)) throw error;
      this.logger.warn(`${error.message}; reading the local copy in ${this.local.root} instead`);
      return this.local.getRun(runId);
    }
  }

  async resumeRun(experimentName: string, runId: string): Promise<TrackedRun> {
    const remote = await this.client.getRun(runId);
    await this.client.updateRun(runId, 'RUNNING');
    const dir = await this.local.runDir(experimentName, runId);
    const localRun = dir
      ? await this.local.resumeRun(experimentName, runId)
      : await this.local.createRun(
          {
            experimentName,
            runName: remote.info.run_name,
            tags: Object.fromEntries((remote.data.tags ?? []).map((t) => [t.key, t.value])),
          },
          runId,
          remote.info.start_time,
        );
    await writeSyncState(localRun.dirPath, {
      server: this.client.url,
      experimentName,
      remoteRunId: runId,
      remoteExperimentId: remote.info.experiment_id,
      artifactUri: remote.info.artifact_uri,
      pending: true,
    });
    return new RestRun(this, localRun, remote, this.logger, this.flush);
  }
}

/** A metric point as the server takes it: a logged model's metric carries its model and dataset. */
function mlflowMetric(point: MetricPoint): MlflowMetric {
  const { model, ...plain } = point;
  if (model === undefined) return plain;
  return {
    ...plain,
    model_id: model.modelId,
    ...(model.dataset ? { dataset_name: model.dataset.name, dataset_digest: model.dataset.digest } : {}),
  };
}

/** Key-value pairs within the server's length limits (a logged model's params and tags). */
function fitted(kind: 'param' | 'tag', values: Readonly<Record<string, string>>): MlflowKeyValue[] {
  return Object.entries(fitValues(kind, values).values).map(([key, value]) => ({ key, value }));
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => relative(dir, join(entry.parentPath, entry.name)));
}

class RestRun implements TrackedRun {
  private offline = false;
  private warned = false;
  private readonly buffer: MetricPoint[] = [];
  private lastFlush = Date.now();

  constructor(
    private readonly tracker: RestTracker,
    private readonly localRun: FileStoreRun,
    private readonly remote: MlflowRun | undefined,
    private readonly logger: Logger,
    private readonly flush: { points: number; ms: number },
  ) {
    this.offline = remote === undefined;
  }

  get runId(): string {
    return this.localRun.runId;
  }

  get experimentId(): string {
    return this.remote?.info.experiment_id ?? this.localRun.experimentId;
  }

  /** The run's page in the UI, only while the server has all of it; else the local copy and how to send it. */
  get location(): string {
    return this.remote && !this.offline
      ? this.tracker.client.runPageUrl(this.remote.info.experiment_id, this.remote.info.run_id)
      : `${this.localRun.dirPath} (not on ${this.tracker.client.url} yet: \`thaw sync\` sends it)`;
  }

  /** Stops sending for the rest of the run; the local copy keeps everything for `thaw sync`. */
  goOffline(error: unknown): void {
    this.offline = true;
    if (this.warned) return;
    this.warned = true;
    this.logger.warn(
      `${messageOf(error)}\n  the run goes on and is kept in ${this.localRun.dirPath}; \`thaw sync\` sends it to ${this.tracker.client.url} later`,
    );
  }

  private async send(action: (client: MlflowClient, runId: string) => Promise<void>): Promise<void> {
    if (this.offline || this.remote === undefined) return;
    try {
      await action(this.tracker.client, this.remote.info.run_id);
    } catch (error) {
      this.goOffline(error);
    }
  }

  async logParams(params: Readonly<Record<string, string>>): Promise<void> {
    await this.localRun.logParams(params);
    const fitted = fitValues('param', params);
    for (const { path, content } of fitted.overflow) await this.sendArtifact(path, content);
    await this.flushMetrics();
    await this.send((client, runId) =>
      client.logBatch(runId, { params: Object.entries(fitted.values).map(([key, value]) => ({ key, value })) }),
    );
  }

  async logMetrics(points: readonly MetricPoint[]): Promise<void> {
    await this.localRun.logMetrics(points);
    this.buffer.push(...points);
    if (this.buffer.length >= this.flush.points || Date.now() - this.lastFlush >= this.flush.ms) await this.flushMetrics();
  }

  private async flushMetrics(): Promise<void> {
    this.lastFlush = Date.now();
    const points = this.buffer.splice(0);
    if (points.length > 0) await this.send((client, runId) => client.logBatch(runId, { metrics: points.map(mlflowMetric) }));
  }

  async setTags(tags: Readonly<Record<string, string>>): Promise<void> {
    await this.localRun.setTags(tags);
    const fitted = fitValues('tag', tags);
    for (const { path, content } of fitted.overflow) await this.sendArtifact(path, content);
    await this.send((client, runId) =>
      client.logBatch(runId, { tags: Object.entries(fitted.values).map(([key, value]) => ({ key, value })) }),
    );
  }

  async logArtifact(artifactPath: string, content: string | Uint8Array): Promise<void> {
    await this.localRun.logArtifact(artifactPath, content);
    await this.sendArtifact(artifactPath, content);
  }

  private async sendArtifact(artifactPath: string, content: string | Uint8Array): Promise<void> {
    const uri = this.remote?.info.artifact_uri;
    if (uri !== undefined) await this.send((client) => client.uploadArtifact(uri, artifactPath, content));
  }

  async logArtifactDirectory(localDir: string, artifactPath: string): Promise<void> {
    const target = join(this.localRun.dirPath, 'artifacts', artifactPath);
    await cp(localDir, target, { recursive: true });
    for (const file of await filesUnder(target)) {
      await this.sendArtifact(`${artifactPath}/${file.split('\\').join('/')}`, await readFile(join(target, file)));
    }
  }

  async logInputs(datasets: readonly RunDataset[]): Promise<void> {
    await this.localRun.logInputs(datasets);
    await this.send((client, runId) => client.logInputs(runId, datasets.map(mlflowDatasetInput)));
  }

  /**
   * An MLflow 3 logged model, as the UI wants one (see the contract's plain-HTTP sequence): created
   * with the source run, linked as the run's output at `step`, its files (MLmodel included)
   * uploaded under the model, then marked READY. A server that cannot (away, or older than MLflow 3)
   * is told once; the model stays among the run's artifacts either way.
   */
  async logModel(request: LoggedModelRequest): Promise<string | undefined> {
    if (this.offline || this.remote === undefined) return undefined;
    const client = this.tracker.client;
    const runId = this.remote.info.run_id;
    let modelId: string | undefined;
    try {
      const model = await client.createLoggedModel({
        experimentId: this.remote.info.experiment_id,
        name: request.name,
        modelType: request.modelType,
        sourceRunId: runId,
        params: fitted('param', request.params),
        tags: fitted('tag', request.tags),
      });
      modelId = model.info.model_id;
      await client.logOutputs(runId, [{ model_id: modelId, step: request.step }]);
      await writeFile(join(request.dir, 'MLmodel'), request.mlmodel({ modelId, runId, artifactUri: model.info.artifact_uri }));
      for (const file of await filesUnder(request.dir)) {
        await client.uploadArtifact(model.info.artifact_uri, file.split('\\').join('/'), await readFile(join(request.dir, file)));
      }
      await client.finalizeLoggedModel(modelId, 'LOGGED_MODEL_READY');
      return modelId;
    } catch (error) {
      if (modelId !== undefined) await client.finalizeLoggedModel(modelId, 'LOGGED_MODEL_UPLOAD_FAILED').catch(() => undefined);
      if (error instanceof MlflowUnreachableError) this.goOffline(error);
      else
        this.logger.warn(
          `${messageOf(error)}\n  the trained model stays among the run's artifacts (model/) but is not an MLflow logged model`,
        );
      return undefined;
    }
  }

  async discard(): Promise<void> {
    await this.localRun.discard();
    const state = await readSyncState(this.localRun.dirPath);
    if (state) await writeSyncState(this.localRun.dirPath, { ...state, pending: false });
    await this.send((client, runId) => client.deleteRun(runId));
  }

  async end(status: Exclude<RunStatus, 'RUNNING'>): Promise<void> {
    const endTime = Date.now();
    await this.localRun.end(status, endTime);
    await this.flushMetrics();
    await this.send((client, runId) => client.updateRun(runId, status, endTime).then(() => undefined));
    const dir = this.localRun.dirPath;
    const state = await readSyncState(dir);
    if (!this.offline && state) {
      await writeSyncState(dir, { ...state, pending: false });
      return;
    }
    // The server was away for part of the run: if it is back, send what it lacks now.
    try {
      const report = await this.tracker.sync.syncDir(dir);
      if (this.remote !== undefined || report.remoteRunId !== undefined) this.offline = false;
      this.logger.info(`run ${this.localRun.runId} is complete on ${this.tracker.client.url} again`);
    } catch (error) {
      this.logger.warn(
        `${messageOf(error)}\n  run ${this.localRun.runId} stays in ${dir}; run \`thaw sync\` when ${this.tracker.client.url} is back`,
      );
    }
  }
}
