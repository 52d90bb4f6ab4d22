import { randomInt } from 'node:crypto';
import { Agent, fetch, type Dispatcher } from 'undici';
import { ThawError } from '@thaw/contracts';
import { decodeMetricValue, splitLogBatch, wireMetric } from './split-log-batch.js';
import type { MlflowServerConfig } from './tracking-config.js';
import type {
  MlflowBatch,
  MlflowDatasetInput,
  MlflowExperiment,
  MlflowLoggedModel,
  MlflowLoggedModelStatus,
  MlflowModelVersion,
  MlflowFileInfo,
  MlflowKeyValue,
  MlflowMetric,
  MlflowRun,
  MlflowRunInfo,
  MlflowRunStatus,
} from './mlflow-types.js';

/** The server answered with an MLflow error (`{"error_code", "message"}`) or another 4xx. */
export class MlflowApiError extends ThawError {
  constructor(
    readonly status: number,
    readonly errorCode: string,
    readonly serverMessage: string,
    readonly endpoint: string,
    url: string,
  ) {
    super(`MLflow server ${url}: ${endpoint} answered ${status} ${errorCode}: ${serverMessage}`);
    this.name = 'MlflowApiError';
  }
}

/** The server could not be reached, or kept answering 5xx, after every retry. */
export class MlflowUnreachableError extends ThawError {
  constructor(
    readonly endpoint: string,
    url: string,
    reason: string,
    attempts: number,
  ) {
    super(`MLflow server ${url} is unreachable: ${endpoint} failed ${attempts} times (last: ${reason})`);
    this.name = 'MlflowUnreachableError';
  }
}

export interface MlflowClientOptions {
  /** Attempts after the first on a network error, a timeout, 429 or 5xx (default 4). */
  readonly retries?: number;
  /** First wait between attempts; doubles each time, with jitter (default 500 ms). */
  readonly backoffMs?: number;
  /** Longest wait between attempts (default 8 s). */
  readonly maxBackoffMs?: number;
  /** Per-request timeout (default 60 s). */
  readonly timeoutMs?: number;
}

interface SearchRunsRequest {
  readonly experimentIds: readonly string[];
  readonly filter?: string;
  readonly orderBy?: readonly string[];
  /** Runs per page (the server allows up to 50,000). */
  readonly pageSize?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function decodeMetrics(metrics: unknown): MlflowMetric[] {
  return ((metrics as Record<string, unknown>[] | undefined) ?? []).map((metric) => ({
    key: String(metric['key']),
    value: decodeMetricValue(metric['value']),
    timestamp: Number(metric['timestamp']),
    step: Number(metric['step'] ?? 0),
  }));
}

function decodeRun(run: Record<string, unknown>): MlflowRun {
  const data = (run['data'] ?? {}) as Record<string, unknown>;
  return {
    info: run['info'] as MlflowRunInfo,
    data: {
      metrics: decodeMetrics(data['metrics']),
      params: (data['params'] as MlflowKeyValue[] | undefined) ?? [],
      tags: (data['tags'] as MlflowKeyValue[] | undefined) ?? [],
    },
  };
}

/**
 * A typed client for what thaw needs of MLflow's REST API, following what a real 3.x server
 * does (see shared/mlflow-contract): batches split within its limits, non-finite metric values
 * as strings, integer timestamps, metric history always paged with max_results.
 */
export class MlflowClient {
  private readonly headers: Record<string, string> = {};
  private readonly dispatcher: Dispatcher | undefined;
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly timeoutMs: number;

  constructor(
    readonly server: MlflowServerConfig,
    options: MlflowClientOptions = {},
  ) {
    if (server.token !== undefined) this.headers['authorization'] = `Bearer ${server.token}`;
    else if (server.username !== undefined || server.password !== undefined) {
      this.headers['authorization'] = `Basic ${Buffer.from(`${server.username ?? ''}:${server.password ?? ''}`).toString('base64')}`;
    }
    this.dispatcher = server.insecureTls ? new Agent({ connect: { rejectUnauthorized: false } }) : undefined;
    this.retries = options.retries ?? 4;
    this.backoffMs = options.backoffMs ?? 500;
    this.maxBackoffMs = options.maxBackoffMs ?? 8000;
    this.timeoutMs = options.timeoutMs ?? 60_000;
  }

  /** The server's base URL (never with credentials). */
  get url(): string {
    return this.server.url;
  }

  /** The MLflow UI's page of a run. */
  runPageUrl(experimentId: string, runId: string): string {
    return `${this.url}/#/experiments/${experimentId}/runs/${runId}`;
  }

  // Experiments

  async createExperiment(name: string, tags: Readonly<Record<string, string>> = {}): Promise<string> {
    const body = { name, tags: Object.entries(tags).map(([key, value]) => ({ key, value })) };
    const answer = await this.call('POST', 'experiments/create', body);
    return String(answer['experiment_id']);
  }

  /** The experiment with this name, or undefined when there is none. */
  async getExperimentByName(name: string): Promise<MlflowExperiment | undefined> {
    try {
      const answer = await this.call('GET', `experiments/get-by-name?${new URLSearchParams({ experiment_name: name }).toString()}`);
      return answer['experiment'] as MlflowExperiment;
    } catch (error) {
      if (error instanceof MlflowApiError && error.errorCode === 'RESOURCE_DOES_NOT_EXIST') return undefined;
      throw error;
    }
  }

  async getExperiment(experimentId: string): Promise<MlflowExperiment> {
    const answer = await this.call('GET', `experiments/get?${new URLSearchParams({ experiment_id: experimentId }).toString()}`);
    return answer['experiment'] as MlflowExperiment;
  }

  async setExperimentTag(experimentId: string, key: string, value: string): Promise<void> {
    await this.call('POST', 'experiments/set-experiment-tag', { experiment_id: experimentId, key, value });
  }

  // Runs

  async createRun(request: {
    experimentId: string;
    runName: string;
    startTime: number;
    tags: Readonly<Record<string, string>>;
    userId?: string;
  }): Promise<MlflowRun> {
    // run_name and the mlflow.runName tag must agree; send the name once, as the tag.
    const tags = { ...request.tags, 'mlflow.runName': request.runName };
    const body = {
      experiment_id: request.experimentId,
      start_time: Math.round(request.startTime),
      ...(request.userId === undefined ? {} : { user_id: request.userId }),
      tags: Object.entries(tags).map(([key, value]) => ({ key, value })),
    };
    const answer = await this.call('POST', 'runs/create', body);
    return decodeRun(answer['run'] as Record<string, unknown>);
  }

  async updateRun(runId: string, status: MlflowRunStatus, endTime?: number): Promise<MlflowRunInfo> {
    const body = { run_id: runId, status, ...(endTime === undefined ? {} : { end_time: Math.round(endTime) }) };
    const answer = await this.call('POST', 'runs/update', body);
    return answer['run_info'] as MlflowRunInfo;
  }

  /** Deletes a run (its lifecycle stage becomes `deleted`; the server keeps it, restorable). */
  async deleteRun(runId: string): Promise<void> {
    await this.call('POST', 'runs/delete', { run_id: runId });
  }

  async getRun(runId: string): Promise<MlflowRun> {
    const answer = await this.call('GET', `runs/get?${new URLSearchParams({ run_id: runId }).toString()}`);
    return decodeRun(answer['run'] as Record<string, unknown>);
  }

  /** Every run that matches, following next_page_token. */
  async searchRuns(request: SearchRunsRequest): Promise<MlflowRun[]> {
    const runs: MlflowRun[] = [];
    let pageToken: string | undefined;
    do {
      const body = {
        experiment_ids: request.experimentIds,
        ...(request.filter === undefined ? {} : { filter: request.filter }),
        ...(request.orderBy === undefined ? {} : { order_by: request.orderBy }),
        run_view_type: 'ACTIVE_ONLY',
        max_results: request.pageSize ?? 1000,
        ...(pageToken === undefined ? {} : { page_token: pageToken }),
      };
      const answer = await this.call('POST', 'runs/search', body);
      for (const run of (answer['runs'] as Record<string, unknown>[] | undefined) ?? []) runs.push(decodeRun(run));
      pageToken = answer['next_page_token'] as string | undefined;
    } while (pageToken);
    return runs;
  }

  /** Logs metrics, params and tags in as many `log-batch` requests as the server's limits need. */
  async logBatch(runId: string, batch: MlflowBatch): Promise<void> {
    for (const part of splitLogBatch(batch)) {
      await this.call('POST', 'runs/log-batch', {
        run_id: runId,
        ...(part.metrics ? { metrics: part.metrics.map(wireMetric) } : {}),
        ...(part.params ? { params: part.params } : {}),
        ...(part.tags ? { tags: part.tags } : {}),
      });
    }
  }

  async setTag(runId: string, key: string, value: string): Promise<void> {
    await this.call('POST', 'runs/set-tag', { run_id: runId, key, value });
  }

  /** A metric's every point. Always pages with max_results: without it the server returns none. */
  async getMetricHistory(runId: string, key: string, pageSize = 25_000): Promise<MlflowMetric[]> {
    const points: MlflowMetric[] = [];
    let pageToken: string | undefined;
    do {
      const query = new URLSearchParams({ run_id: runId, metric_key: key, max_results: String(pageSize) });
      if (pageToken !== undefined) query.set('page_token', pageToken);
      const answer = await this.call('GET', `metrics/get-history?${query.toString()}`);
      points.push(...decodeMetrics(answer['metrics']));
      pageToken = answer['next_page_token'] as string | undefined;
    } while (pageToken);
    return points;
  }

  // Datasets, logged models (MLflow 3) and the model registry

  /** Logs datasets as the run's inputs (a (name, digest) pair the run has is kept as it was). */
  async logInputs(runId: string, datasets: readonly MlflowDatasetInput[]): Promise<void> {
    await this.call('POST', 'runs/log-inputs', { run_id: runId, datasets });
  }

  /** A new logged model, PENDING until finalized; its files go under its own `artifact_uri`. */
  async createLoggedModel(request: {
    experimentId: string;
    name: string;
    modelType: string;
    sourceRunId: string;
    params: readonly MlflowKeyValue[];
    tags: readonly MlflowKeyValue[];
  }): Promise<MlflowLoggedModel> {
    const answer = await this.call('POST', 'logged-models', {
      experiment_id: request.experimentId,
      name: request.name,
      model_type: request.modelType,
      source_run_id: request.sourceRunId,
      params: request.params,
      tags: request.tags,
    });
    return answer['model'] as MlflowLoggedModel;
  }

  /** A logged model by id; undefined when the server has none (or it was deleted). */
  async getLoggedModel(modelId: string): Promise<MlflowLoggedModel | undefined> {
    try {
      const answer = await this.call('GET', `logged-models/${encodeURIComponent(modelId)}`);
      return answer['model'] as MlflowLoggedModel;
    } catch (error) {
      if (error instanceof MlflowApiError && error.status === 404) return undefined;
      throw error;
    }
  }

  /** Ends a logged model's upload: READY, or UPLOAD_FAILED. The id goes in the body too, which the server requires. */
  async finalizeLoggedModel(modelId: string, status: Exclude<MlflowLoggedModelStatus, 'LOGGED_MODEL_PENDING'>): Promise<void> {
    await this.call('PATCH', `logged-models/${encodeURIComponent(modelId)}`, { model_id: modelId, status });
  }

  /** Links logged models to the run as its outputs, at a step (the run page's "Logged models"). */
  async logOutputs(runId: string, models: readonly { model_id: string; step: number }[]): Promise<void> {
    await this.call('POST', 'runs/outputs', { run_id: runId, models });
  }

  /** Creates a registered model; one that exists already is fine. */
  async createRegisteredModel(name: string): Promise<void> {
    try {
      await this.call('POST', 'registered-models/create', { name });
    } catch (error) {
      if (!(error instanceof MlflowApiError && error.errorCode === 'RESOURCE_ALREADY_EXISTS')) throw error;
    }
  }

  /** A new version of a registered model from a logged model (`models:/<id>`); the server links it back to the model. */
  async createModelVersion(name: string, modelId: string): Promise<MlflowModelVersion> {
    const answer = await this.call('POST', 'model-versions/create', { name, source: `models:/${modelId}`, model_id: modelId });
    return answer['model_version'] as MlflowModelVersion;
  }

  async setModelVersionTag(name: string, version: string, key: string, value: string): Promise<void> {
    await this.call('POST', 'model-versions/set-tag', { name, version, key, value });
  }

  async setRegisteredModelAlias(name: string, alias: string, version: string): Promise<void> {
    await this.call('POST', 'registered-models/alias', { name, alias, version });
  }

  /** The UI's page of a registered model's version. */
  modelVersionPageUrl(name: string, version: string): string {
    return `${this.url}/#/models/${encodeURIComponent(name)}/versions/${version}`;
  }

  // Artifacts, through the server's proxy (mlflow-artifacts:/ URIs)

  async uploadArtifact(artifactUri: string, path: string, content: string | Uint8Array): Promise<void> {
    await this.send('PUT', this.artifactUrl(artifactUri, path), `mlflow-artifacts PUT ${path}`, {
      body: typeof content === 'string' ? Buffer.from(content) : content,
      headers: { 'content-type': 'application/octet-stream' },
    });
  }

  async downloadArtifact(artifactUri: string, path: string): Promise<Uint8Array> {
    const response = await this.send('GET', this.artifactUrl(artifactUri, path), `mlflow-artifacts GET ${path}`);
    return new Uint8Array(await response.arrayBuffer());
  }

  /** Files and folders directly under `path` of a run's artifacts. */
  async listArtifacts(runId: string, path?: string): Promise<MlflowFileInfo[]> {
    const query = new URLSearchParams({ run_id: runId, ...(path === undefined ? {} : { path }) });
    const answer = await this.call('GET', `artifacts/list?${query.toString()}`);
    return (answer['files'] as MlflowFileInfo[] | undefined) ?? [];
  }

  /** Every file of a run's artifacts, recursively, with its size. */
  async listArtifactFiles(runId: string, path?: string): Promise<MlflowFileInfo[]> {
    const files: MlflowFileInfo[] = [];
    for (const entry of await this.listArtifacts(runId, path)) {
      if (entry.is_dir) files.push(...(await this.listArtifactFiles(runId, entry.path)));
      else files.push(entry);
    }
    return files;
  }

  private artifactUrl(artifactUri: string, path: string): string {
    const prefix = 'mlflow-artifacts:';
    if (!artifactUri.startsWith(prefix)) {
      throw new ThawError(
        `MLflow server ${this.url}: the run's artifact location is ${JSON.stringify(artifactUri)}; thaw uploads artifacts through the server's proxy, expected an mlflow-artifacts:/ location (start the server with artifact serving on, the default)`,
      );
    }
    const root = artifactUri.slice(prefix.length).replace(/^\/+/, '');
    const encoded = [...root.split('/'), ...path.split('/')].filter((part) => part !== '').map(encodeURIComponent);
    return `${this.url}/api/2.0/mlflow-artifacts/artifacts/${encoded.join('/')}`;
  }

  private async call(method: 'GET' | 'POST' | 'PATCH', endpoint: string, body?: unknown): Promise<Record<string, unknown>> {
    const response = await this.send(method, `${this.url}/api/2.0/mlflow/${endpoint}`, endpoint.split('?')[0]!, {
      ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    });
    const text = await response.text();
    try {
      return text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
    } catch {
      throw new ThawError(`MLflow server ${this.url}: ${endpoint} answered ${response.status} with non-JSON text: ${text.slice(0, 200)}`);
    }
  }

  /** One request with retries on network errors, timeouts, 429 and 5xx; other errors are thrown at once. */
  private async send(
    method: string,
    url: string,
    endpoint: string,
    init: { body?: string | Uint8Array; headers?: Record<string, string> } = {},
  ): Promise<Awaited<ReturnType<typeof fetch>>> {
    let reason = '';
    for (let attempt = 0; attempt <= this.retries; attempt++) {
      if (attempt > 0) {
        const delay = Math.min(this.maxBackoffMs, this.backoffMs * 2 ** (attempt - 1));
        // Jitter from crypto: a trial seeds Math.random, and a retry must not shift the trial's random stream.
        await sleep(delay * (0.75 + 0.5 * (randomInt(1_000_000) / 1_000_000)));
      }
      let response: Awaited<ReturnType<typeof fetch>>;
      try {
        response = await fetch(url, {
          method,
          headers: { ...this.headers, ...init.headers },
          ...(init.body === undefined ? {} : { body: init.body }),
          signal: AbortSignal.timeout(this.timeoutMs),
          ...(this.dispatcher ? { dispatcher: this.dispatcher } : {}),
        });
      } catch (error) {
        const cause = (error as { cause?: { code?: string; message?: string } }).cause;
        reason = cause?.code ?? cause?.message ?? (error as Error).message;
        continue;
      }
      if (response.ok) return response;
      if (response.status === 429 || response.status >= 500) {
        reason = `HTTP ${response.status}`;
        await response.body?.cancel();
        continue;
      }
      const text = await response.text();
      let errorCode = `HTTP_${response.status}`;
      let message = text.slice(0, 300);
      try {
        const parsed = JSON.parse(text) as { error_code?: string; message?: string };
        errorCode = parsed.error_code ?? errorCode;
        message = parsed.message ?? message;
      } catch {
        if (response.status === 404) message = `no such endpoint (${endpoint}); is ${this.url} an MLflow tracking server?`;
        else if (response.status === 401 || response.status === 403) {
          message = `${message.trim()} (set MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD)`;
        }
      }
      throw new MlflowApiError(response.status, errorCode, message, endpoint, this.url);
    }
    throw new MlflowUnreachableError(endpoint, this.url, reason, this.retries + 1);
  }
}
