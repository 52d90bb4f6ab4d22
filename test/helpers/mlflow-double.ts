import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import {
  ApiError,
  asText,
  compareFilter,
  byKey,
  errorBody,
  FileAnswer,
  generatedName,
  keyValues,
  missing,
  notFound,
  pytext,
  sqlalchemyNote,
  type Dataset,
  type DoubleContext,
  type Experiment,
  type Json,
  type KeyValue,
  type LoggedModel,
  type MlflowDoubleState,
  type ModelMetric,
  type ModelOutput,
  type ModelVersion,
  type Point,
  type Route,
  type Run,
  type ServerBuild,
} from './mlflow-double-common.js';
import { LoggedModels } from './mlflow-double-models.js';
import { ModelRegistry } from './mlflow-double-registry.js';

export type { LoggedModel, MlflowDoubleState, RegisteredModel, Run, ServerBuild } from './mlflow-double-common.js';

/**
 * A stand-in for an MLflow 3.x tracking server (SQLite backend, artifact serving on), on
 * 127.0.0.1, answering as the recordings in shared/mlflow-contract do: the same status codes,
 * error codes, messages and quirks. Its state outlives stop() / start(), as a real server's
 * database does. Experiments, runs, datasets and artifacts are served here; logged models in
 * mlflow-double-models.ts, the model registry in mlflow-double-registry.ts.
 */

export interface MlflowDoubleOptions {
  /**
   * Which recorded server build to answer as (they differ in their error bodies): 'models-log'
   * (default, the newest recording) adds `sqlstate` and `error_class`; 'rest-log' answers as
   * rest-log.md and edge-log.md do.
   */
  build?: ServerBuild;
  /** The port to listen on (default: any free one). */
  readonly port?: number;
}

/** A logged model as `GET logged-models/<id>` answers it. */
export interface LoggedModelView {
  info: LoggedModel['info'] & { tags?: KeyValue[] };
  data: { params?: KeyValue[]; metrics?: ModelMetric[] };
}
/** A registered model's version with its tags, its aliases and where its files are. */
export type ModelVersionView = ModelVersion & { aliases: string[] };
export interface RegisteredModelView {
  name: string;
  versions: ModelVersionView[];
  /** Alias → version. */
  aliases: Record<string, string>;
  tags: KeyValue[];
}

/** A run's inputs, as a test reads them. */
export interface RunInputsView {
  datasets: { dataset: Required<Dataset>; tags: KeyValue[] }[];
  /** The ids of its input models. */
  models: string[];
}

const NOT_FOUND_HTML =
  '<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n<p>The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.</p>\n';
const MAX_DOUBLE = 1.7976931348623157e308;
const STATUSES = new Set(['RUNNING', 'SCHEDULED', 'FINISHED', 'FAILED', 'KILLED']);

/** Python's posixpath.normpath. */
function normpath(path: string): string {
  if (path === '') return '.';
  const initial = path.startsWith('/') ? (path.startsWith('//') && !path.startsWith('///') ? 2 : 1) : 0;
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part !== '..' || (initial === 0 && parts.length === 0) || parts[parts.length - 1] === '..') parts.push(part);
    else if (parts.length > 0) parts.pop();
  }
  const joined = '/'.repeat(initial) + parts.join('/');
  return joined === '' ? '.' : joined;
}

/** A run's info in the server's field order (`end_time`, once set, after `start_time`). */
function infoJson(run: Run): Json {
  const { end_time: endTime, artifact_uri: artifactUri, lifecycle_stage: stage, run_id: runId, ...first } = run.info;
  return {
    ...first,
    ...(endTime === undefined ? {} : { end_time: endTime }),
    artifact_uri: artifactUri,
    lifecycle_stage: stage,
    run_id: runId,
  };
}

/** The server's length limits on what it stores (datasets, input tags). */
function checkLength(name: string, limit: number, values: readonly string[]): void {
  if (values.some((value) => value.length > limit)) {
    throw new ApiError(400, 'INVALID_PARAMETER_VALUE', `'${name}' exceeds the maximum length of ${limit} characters`);
  }
}

function checkName(kind: 'metric' | 'param' | 'tag', key: string): void {
  const lengthName = kind === 'metric' ? 'Metric name' : kind === 'param' ? 'Param key' : 'key';
  const parameter = kind === 'metric' ? 'name' : 'key';
  if (key.length > 250) throw new ApiError(400, 'INVALID_PARAMETER_VALUE', `'${lengthName}' exceeds the maximum length of 250 characters`);
  if (!/^[\p{L}\p{N}_\-. :/]+$/u.test(key)) {
    throw new ApiError(
      400,
      'INVALID_PARAMETER_VALUE',
      `Invalid value ${pytext(key)} for parameter '${parameter}' supplied: Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).`,
    );
  }
  const norm = normpath(key);
  if (norm !== key || norm === '.' || norm.startsWith('..') || norm.startsWith('/')) {
    throw new ApiError(
      400,
      'INVALID_PARAMETER_VALUE',
      `Invalid value ${pytext(key)} for parameter '${parameter}' supplied: Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to '${norm}'`,
    );
  }
}

/**
 * JSON as Python's json module reads it: NaN, Infinity and -Infinity literals are accepted; the
 * server stores them (and numbers beyond double range) as 0. They are marked so the handlers can.
 */
const BAD_NUMBER = '\u0000bad-number';
function parseBody(text: string): Json {
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      out += c;
      if (c === '\\') out += text[++i] ?? '';
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') {
      inString = true;
      out += c;
      continue;
    }
    const literal = /^(-?Infinity|NaN|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(text.slice(i))?.[1];
    if (literal !== undefined && !/[\w.]/.test(text[i - 1] ?? '')) {
      const value = Number(literal);
      out += Number.isFinite(value) ? literal : JSON.stringify(BAD_NUMBER);
      i += literal.length - 1;
      continue;
    }
    out += c;
  }
  try {
    const parsed: unknown = JSON.parse(out);
    return parsed !== null && typeof parsed === 'object' ? (parsed as Json) : {};
  } catch {
    return {};
  }
}

function pageToken(offset: number): string {
  return Buffer.from(JSON.stringify({ offset }).replace(':', ': ')).toString('base64');
}

function readToken(token: unknown): number {
  if (typeof token !== 'string' || token === '') return 0;
  return Number((JSON.parse(Buffer.from(token, 'base64').toString()) as { offset: number }).offset);
}

export class MlflowDouble {
  private server: Server | undefined;
  private port = 0;
  readonly state: MlflowDoubleState = {
    experiments: new Map(),
    runs: new Map(),
    artifacts: new Map(),
    nextExperimentId: 1,
    datasets: new Map(),
    loggedModels: new Map(),
    registeredModels: new Map(),
  };
  /** The server build it answers as. */
  readonly build: ServerBuild;
  private readonly loggedModels: LoggedModels;
  private readonly registry: ModelRegistry;
  private readonly routes: Route[];
  /** Every request received, for tests that check what a client sent. */
  readonly requests: { method: string; path: string; body: string; authorization: string | undefined }[] = [];
  private faults: { count: number; status: number } = { count: 0, status: 503 };
  private flakiness = { every: 0, seen: 0 };

  /** Answers the next `count` requests with `status` (a server in trouble), then recovers. */
  failNext(count: number, status = 503): void {
    this.faults = { count, status };
  }

  /** Artifact uploads take this long to answer from now on (a slow link), in milliseconds. */
  artifactDelayMs = 0;

  /** Answers every `every`-th request with 503 from now on (0: never), as a flaky proxy would. */
  flaky(every: number): void {
    this.flakiness = { every, seen: 0 };
  }

  constructor(options: MlflowDoubleOptions = {}) {
    this.build = options.build ?? 'models-log';
    this.port = options.port ?? 0;
    const context: DoubleContext = {
      state: this.state,
      build: this.build,
      experiment: (id) => this.experiment(id),
    };
    this.loggedModels = new LoggedModels(context);
    this.registry = new ModelRegistry(context, this.loggedModels);
    this.routes = [...this.loggedModels.routes, ...this.registry.routes];
    const now = Date.now();
    this.state.experiments.set('0', {
      experiment_id: '0',
      name: 'Default',
      artifact_location: 'mlflow-artifacts:/0',
      lifecycle_stage: 'active',
      last_update_time: now,
      creation_time: now,
      tags: [],
    });
  }

  get url(): string {
    return `${this.tls ? 'https' : 'http'}://127.0.0.1:${this.port}`;
  }

  private tls: { key: string; cert: string } | undefined;

  /** Listens on 127.0.0.1 (the same port again after a stop, when it had one); over https with a key and certificate. */
  async start(tls?: { key: string; cert: string }): Promise<string> {
    this.tls = tls ?? this.tls;
    const handler = (request: IncomingMessage, response: ServerResponse) => void this.handle(request, response);
    const server = this.tls ? createHttpsServer(this.tls, handler) : createServer(handler);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
    return this.url;
  }

  /** Stops answering at once, dropping open connections, as a crashed server would. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  // Reading state, for tests

  run(runId: string): Run | undefined {
    return this.state.runs.get(runId);
  }

  runsOf(experimentName: string): Run[] {
    const experiment = [...this.state.experiments.values()].find((e) => e.name === experimentName);
    return [...this.state.runs.values()].filter((run) => run.info.experiment_id === experiment?.experiment_id);
  }

  artifactsOf(runId: string): Map<string, Buffer> {
    const run = this.state.runs.get(runId);
    const prefix = run ? `${run.info.artifact_uri.slice('mlflow-artifacts:/'.length)}/` : '\u0000';
    return new Map(
      [...this.state.artifacts].filter(([path]) => path.startsWith(prefix)).map(([path, bytes]) => [path.slice(prefix.length), bytes]),
    );
  }

  /** The experiment's logged models, deleted ones left out, newest first, as `GET logged-models/<id>` answers them. */
  loggedModelsOf(experimentName: string): LoggedModelView[] {
    const experiment = [...this.state.experiments.values()].find((e) => e.name === experimentName);
    return [...this.state.loggedModels.values()]
      .filter((model) => !model.deleted && model.info.experiment_id === experiment?.experiment_id)
      .reverse()
      .map((model) => this.loggedModels.json(model) as unknown as LoggedModelView);
  }

  /** A logged model by id as `GET logged-models/<id>` answers it; undefined when unknown or deleted. */
  loggedModel(modelId: string): LoggedModelView | undefined {
    const model = this.state.loggedModels.get(modelId);
    return model && !model.deleted ? (this.loggedModels.json(model) as unknown as LoggedModelView) : undefined;
  }

  /** The files uploaded under a logged model's `artifact_uri`, by path below it. */
  modelArtifactsOf(modelId: string): Map<string, Buffer> {
    const model = this.state.loggedModels.get(modelId);
    const prefix = model ? `${model.info.artifact_uri.slice('mlflow-artifacts:/'.length)}/` : '\u0000';
    return new Map(
      [...this.state.artifacts].filter(([path]) => path.startsWith(prefix)).map(([path, bytes]) => [path.slice(prefix.length), bytes]),
    );
  }

  /** A registered model: its versions (oldest first, each with its tags, aliases and files' location), aliases and tags; undefined when there is none. */
  registeredModel(name: string): RegisteredModelView | undefined {
    const model = this.state.registeredModels.get(name);
    return (
      model && {
        name: model.name,
        versions: model.versions.map((version) => ({ ...version, tags: byKey(version.tags), aliases: this.registry.aliasesOf(version) })),
        aliases: Object.fromEntries(model.aliases),
        tags: byKey(model.tags),
      }
    );
  }

  /** A run's inputs: its datasets (every field as text, '' where the input had none) with their input tags, and its input models' ids; undefined for an unknown run. */
  runInputs(runId: string): RunInputsView | undefined {
    const run = this.state.runs.get(runId);
    return (
      run && {
        datasets: run.inputs.datasets.map(({ dataset, tags }) => ({
          dataset: { source_type: '', source: '', schema: '', profile: '', ...dataset },
          tags: [...tags],
        })),
        models: [...run.inputs.models],
      }
    );
  }

  /** A run's output models with their steps (`runs/outputs`); undefined for an unknown run. */
  runOutputs(runId: string): ModelOutput[] | undefined {
    return this.state.runs.get(runId)?.outputs.map((output) => ({ ...output }));
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks);
    const url = new URL(request.url ?? '/', 'http://localhost');
    const method = request.method ?? 'GET';
    this.requests.push({
      method,
      path: `${url.pathname}${url.search}`,
      body: method === 'PUT' ? `(${raw.length} bytes)` : raw.toString(),
      authorization: request.headers.authorization,
    });
    if (method === 'PUT' && this.artifactDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.artifactDelayMs));
    const flake = this.flakiness.every > 0 && ++this.flakiness.seen % this.flakiness.every === 0;
    if (this.faults.count > 0 || flake) {
      if (!flake) this.faults.count--;
      response.writeHead(flake ? 503 : this.faults.status, { 'content-type': 'text/html' });
      response.end('<html><body>Service Unavailable</body></html>');
      return;
    }
    const send = (status: number, body: string | Buffer, type = 'application/json') => {
      response.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
      response.end(body);
    };
    const host = (request.headers.host ?? '').replace(/:\d+$/, '');
    if (!['127.0.0.1', 'localhost', '[::1]'].includes(host)) return send(403, 'Invalid Host header', 'text/plain');
    const origin = request.headers.origin;
    if (origin !== undefined && !/^https?:\/\/(127\.0\.0\.1|localhost)(:\d+)?$/.test(origin)) {
      return send(403, 'Cross-origin request blocked', 'text/plain');
    }
    try {
      const file = (answer: FileAnswer) => send(200, answer.bytes, answer.type);
      if (url.pathname === '/api/2.0/mlflow-artifacts/artifacts' && method === 'GET') {
        return send(200, JSON.stringify(this.listProxy(url.searchParams.get('path') ?? '')));
      }
      const artifact = url.pathname.match(/^\/api\/2\.0\/mlflow-artifacts\/artifacts\/(.+)$/);
      if (artifact) {
        const path = decodeURIComponent(artifact[1]!);
        if (method === 'PUT') {
          this.state.artifacts.set(path, raw);
          return send(200, '{}');
        }
        const bytes = this.state.artifacts.get(path);
        if (method === 'GET' && bytes) return file(new FileAnswer(bytes));
        throw notFound(`File ${path} not found`);
      }
      if (url.pathname === '/model-versions/get-artifact' && method === 'GET') {
        return file(this.registry.artifact(Object.fromEntries(url.searchParams)));
      }
      // The UI calls the same endpoints under /ajax-api/.
      const endpoint = url.pathname.match(/^\/(?:api|ajax-api)\/2\.0\/mlflow\/(.+)$/)?.[1];
      const handler = endpoint === undefined ? undefined : this.handler(method, endpoint);
      if (handler === undefined) return send(404, NOT_FOUND_HTML, 'text/html; charset=utf-8');
      if (method === 'POST' && !(request.headers['content-type'] ?? '').includes('application/json')) {
        throw new ApiError(400, 'BAD_REQUEST', 'Bad Request. Content-Type must be "application/json".');
      }
      const body = method === 'GET' || raw.length === 0 ? Object.fromEntries(url.searchParams) : parseBody(raw.toString());
      const answer = handler(body);
      if (answer instanceof FileAnswer) return file(answer);
      send(200, JSON.stringify(answer));
    } catch (error) {
      const [status, code, message] =
        error instanceof ApiError ? [error.status, error.code, error.message] : [500, 'INTERNAL_ERROR', asText(error)];
      send(status, JSON.stringify(errorBody(this.build, code, message)));
    }
  }

  /** The handler of an endpoint: a fixed one, else the first route whose path matches. */
  private handler(method: string, endpoint: string): ((body: Json) => Json | FileAnswer) | undefined {
    const fixed = this.handlers[`${method} ${endpoint}`];
    if (fixed) return fixed;
    for (const route of this.routes) {
      const match = route.method === method ? route.path.exec(endpoint) : null;
      if (match) return (body) => route.handler(body, match.slice(1));
    }
    return undefined;
  }

  /** `GET mlflow-artifacts/artifacts?path=`: the entries right under a path, named relative to it; `{}` for a file or nothing. */
  private listProxy(path: string): Json {
    const base = path.replace(/\/+$/, '');
    const prefix = base === '' ? '' : `${base}/`;
    const entries = new Map<string, { path: string; is_dir: boolean; file_size?: number }>();
    for (const [stored, bytes] of this.state.artifacts) {
      if (!stored.startsWith(prefix)) continue;
      const [first, ...more] = stored.slice(prefix.length).split('/');
      entries.set(first!, more.length ? { path: first!, is_dir: true } : { path: first!, is_dir: false, file_size: bytes.length });
    }
    const files = [...entries.values()].sort((a, b) => (a.path < b.path ? -1 : 1));
    return files.length ? { files } : {};
  }

  private experiment(id: unknown): Experiment {
    const experiment = this.state.experiments.get(asText(id));
    if (!experiment) throw new ApiError(404, 'RESOURCE_DOES_NOT_EXIST', `No Experiment with id=${asText(id)} exists`);
    return experiment;
  }

  private findRun(body: Json, active = true): Run {
    const id = body['run_id'] ?? body['run_uuid'];
    if (id === undefined || id === '') throw missing('run_id');
    const run = this.state.runs.get(asText(id));
    if (!run) throw new ApiError(404, 'RESOURCE_DOES_NOT_EXIST', `Run with id=${asText(id)} not found`);
    if (active && run.info.lifecycle_stage !== 'active') {
      throw new ApiError(
        400,
        'INVALID_PARAMETER_VALUE',
        `The run ${run.info.run_id} must be in the 'active' state. Current state is ${run.info.lifecycle_stage}.`,
      );
    }
    return run;
  }

  /**
   * A run as an endpoint answers it. runs/create: `inputs` only; runs/get: `inputs` (datasets and
   * models) and `outputs`; runs/search: the same but without `inputs.model_inputs`, as recorded.
   */
  private runJson(run: Run, view: 'create' | 'get' | 'search'): Json {
    const latest = new Map<string, Point>();
    for (const point of run.points) {
      const previous = latest.get(point.key);
      if (!previous || point.step > previous.step || (point.step === previous.step && point.timestamp >= previous.timestamp))
        latest.set(point.key, point);
    }
    const data: Json = {};
    if (latest.size) data['metrics'] = [...latest.values()];
    if (run.params.length) data['params'] = run.params;
    if (run.tags.length) data['tags'] = run.tags;
    const inputs: Json = {};
    if (run.inputs.datasets.length) {
      inputs['dataset_inputs'] = run.inputs.datasets.map(({ dataset, tags }) => ({ ...(tags.length ? { tags } : {}), dataset }));
    }
    if (view === 'get' && run.inputs.models.length) inputs['model_inputs'] = run.inputs.models.map((id) => ({ model_id: id }));
    const outputs: Json = run.outputs.length ? { model_outputs: run.outputs } : {};
    return { info: infoJson(run), data, inputs, ...(view === 'create' ? {} : { outputs }) };
  }

  /** A metric point as stored: quirky values become 0, as the real server stores them. */
  private point(metric: Json): { point: Point; quirk: boolean } {
    if (metric['value'] === undefined || metric['value'] === null) throw missing('value');
    if (metric['timestamp'] === undefined || metric['timestamp'] === null) throw missing('timestamp');
    const key = asText(metric['key'] ?? '');
    if (key === '') throw missing('key');
    checkName('metric', key);
    const raw = metric['value'];
    const timestamp = metric['timestamp'];
    let value: number | 'NaN';
    let quirk = raw === BAD_NUMBER || timestamp === BAD_NUMBER || (typeof timestamp === 'number' && !Number.isInteger(timestamp));
    if (raw === 'NaN') value = 'NaN';
    else if (raw === 'Infinity') value = MAX_DOUBLE;
    else if (raw === '-Infinity') value = -MAX_DOUBLE;
    else value = Number(raw);
    if (typeof value === 'number' && Number.isNaN(value)) quirk = true;
    if (quirk) value = 0;
    return { point: { key, value, timestamp: Math.trunc(Number(timestamp)) || 0, step: Number(metric['step'] ?? 0) }, quirk };
  }

  private logParam(run: Run, key: string, value: unknown, changed: { key: string; old_value: string; new_value: string }[]): void {
    if (typeof value !== 'string') {
      const type = typeof value === 'number' ? (Number.isInteger(value) ? 'int' : 'float') : typeof value;
      throw new ApiError(
        400,
        'INVALID_PARAMETER_VALUE',
        `Invalid value ${asText(value)} for parameter 'value' supplied:  Hint: Value was of type '${type}'. See the API docs for more information about request parameters.`,
      );
    }
    checkName('param', key);
    const stored = value.slice(0, 6000);
    const previous = run.params.find((param) => param.key === key);
    if (previous && previous.value !== stored) changed.push({ key, old_value: previous.value, new_value: stored });
    else if (!previous) run.params.push({ key, value: stored });
  }

  private setTag(run: Run, key: string, value: unknown): void {
    checkName('tag', key);
    const stored = asText(value ?? '').slice(0, 8000);
    const previous = run.tags.find((tag) => tag.key === key);
    if (previous) previous.value = stored;
    else run.tags.push({ key, value: stored });
  }

  /** A dataset of `runs/log-inputs`, its lengths checked; a missing digest is stored as "". */
  private dataset(input: Json): Dataset {
    const dataset: Dataset = { name: asText(input['name']), digest: asText(input['digest']) };
    for (const field of ['source_type', 'source', 'schema', 'profile'] as const) {
      if (input[field] !== undefined && input[field] !== null) dataset[field] = asText(input[field]);
    }
    checkLength('name', 500, [dataset.name]);
    checkLength('digest', 36, [dataset.digest]);
    checkLength('source', 65535, [dataset.source ?? '']);
    checkLength('schema', 1048575, [dataset.schema ?? '']);
    checkLength('profile', 16777215, [dataset.profile ?? '']);
    return dataset;
  }

  private readonly handlers: Record<string, (body: Json) => Json> = {
    'POST experiments/create': (body) => {
      const name = body['name'];
      if (typeof name !== 'string' || name === '') throw missing('name');
      if ([...this.state.experiments.values()].some((experiment) => experiment.name === name)) {
        const now = Date.now();
        throw new ApiError(
          400,
          'RESOURCE_ALREADY_EXISTS',
          `Experiment(name=${name}) already exists. Error: (sqlite3.IntegrityError) UNIQUE constraint failed: experiments.workspace, experiments.name\n[SQL: INSERT INTO experiments (name, workspace, artifact_location, lifecycle_stage, creation_time, last_update_time) VALUES (?, ?, ?, ?, ?, ?)]\n[parameters: ('${name}', 'default', '', 'active', ${now}, ${now})]\n${sqlalchemyNote(this.build)}`,
        );
      }
      const id = asText(this.state.nextExperimentId++);
      const now = Date.now();
      const tags = ((body['tags'] as KeyValue[] | undefined) ?? []).map(({ key, value }) => ({ key, value }));
      this.state.experiments.set(id, {
        experiment_id: id,
        name,
        artifact_location: `mlflow-artifacts:/${id}`,
        lifecycle_stage: 'active',
        last_update_time: now,
        creation_time: now,
        tags,
      });
      return { experiment_id: id };
    },
    'GET experiments/get-by-name': (query) => {
      const name = query['experiment_name'];
      const experiment = [...this.state.experiments.values()].find((e) => e.name === name);
      if (!experiment) throw new ApiError(404, 'RESOURCE_DOES_NOT_EXIST', `Could not find experiment with name '${asText(name)}'`);
      return { experiment: this.experimentJson(experiment) };
    },
    'GET experiments/get': (query) => ({ experiment: this.experimentJson(this.experiment(query['experiment_id'])) }),
    'POST experiments/set-experiment-tag': (body) => {
      const experiment = this.experiment(body['experiment_id']);
      const key = asText(body['key'] ?? '');
      const previous = experiment.tags.find((tag) => tag.key === key);
      if (previous) previous.value = asText(body['value']);
      else experiment.tags.push({ key, value: asText(body['value']) });
      return {};
    },
    'POST runs/create': (body) => {
      const tags = ((body['tags'] as KeyValue[] | undefined) ?? []).map(({ key, value }) => ({ key, value: asText(value) }));
      const tagName = tags.find((tag) => tag.key === 'mlflow.runName')?.value;
      const runName = body['run_name'] as string | undefined;
      if (runName !== undefined && tagName !== undefined && runName !== tagName) {
        throw new ApiError(
          400,
          'INVALID_PARAMETER_VALUE',
          `Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different values (run_name='${runName}', mlflow.runName='${tagName}').`,
        );
      }
      const runId = randomUUID().replaceAll('-', '');
      const name = runName ?? tagName ?? generatedName();
      const startTime = Number(body['start_time'] ?? 0);
      const experimentId = body['experiment_id'];
      if (experimentId === undefined || experimentId === '') {
        throw new ApiError(
          400,
          'BAD_REQUEST',
          `(raised as a result of Query-invoked autoflush; consider using a session.no_autoflush block if this flush is occurring prematurely)\n(sqlite3.IntegrityError) FOREIGN KEY constraint failed\n[SQL: INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, status, start_time, end_time, deleted_time, source_version, lifecycle_stage, artifact_uri, experiment_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)]\n[parameters: ('${runId}', '${name}', 'UNKNOWN', '', '', '', 'RUNNING', ${startTime}, None, None, '', 'active', 'mlflow-artifacts:/0/${runId}/artifacts', '')]\n${sqlalchemyNote(this.build)}`,
        );
      }
      const experiment = this.experiment(experimentId);
      if (tagName === undefined) tags.push({ key: 'mlflow.runName', value: name });
      const run: Run = {
        info: {
          run_uuid: runId,
          experiment_id: experiment.experiment_id,
          run_name: name,
          user_id: asText(body['user_id'] ?? ''),
          status: 'RUNNING',
          start_time: startTime,
          artifact_uri: `mlflow-artifacts:/${experiment.experiment_id}/${runId}/artifacts`,
          lifecycle_stage: 'active',
          run_id: runId,
        },
        params: [],
        tags,
        points: [],
        inputs: { datasets: [], models: [] },
        outputs: [],
      };
      this.state.runs.set(runId, run);
      const json = this.runJson(run, 'create');
      return { run: { ...json, data: { tags: run.tags } } };
    },
    'POST runs/update': (body) => {
      const run = this.findRun(body);
      const status = body['status'];
      if (typeof status === 'string' && STATUSES.has(status)) run.info.status = status;
      if (body['end_time'] !== undefined) run.info.end_time = Number(body['end_time']);
      if (typeof body['run_name'] === 'string') run.info.run_name = body['run_name'];
      return { run_info: infoJson(run) };
    },
    'POST runs/delete': (body) => {
      this.findRun(body, false).info.lifecycle_stage = 'deleted';
      return {};
    },
    'POST runs/restore': (body) => {
      this.findRun(body, false).info.lifecycle_stage = 'active';
      return {};
    },
    'GET runs/get': (query) => ({ run: this.runJson(this.findRun(query, false), 'get') }),
    'POST runs/log-metric': (body) => {
      const run = this.findRun(body);
      const { point } = this.point(body);
      // A metric naming a model is also the model's metric; a bad link stores neither.
      this.loggedModels.checkMetricLinks(run, [{ metric: body, point }]);
      run.points.push(point);
      this.loggedModels.logMetric(run, body, point);
      return {};
    },
    'POST runs/log-inputs': (body) => {
      const run = this.findRun(body);
      // Everything is checked before anything is stored.
      const datasets = ((body['datasets'] as Json[] | undefined) ?? []).map((input) => {
        const tags = keyValues(input['tags']);
        checkLength(
          'key',
          255,
          tags.map((tag) => tag.key),
        );
        checkLength(
          'value',
          500,
          tags.map((tag) => tag.value),
        );
        return { dataset: this.dataset((input['dataset'] as Json | undefined) ?? {}), tags };
      });
      const models = ((body['models'] as Json[] | undefined) ?? []).map((model) => asText(model['model_id']));
      for (const { dataset, tags } of datasets) {
        const datasetsOfExperiment = this.state.datasets.get(run.info.experiment_id) ?? new Map<string, Dataset & { uuid: string }>();
        this.state.datasets.set(run.info.experiment_id, datasetsOfExperiment);
        const key = `${dataset.name}\0${dataset.digest}`;
        // The experiment keeps the first dataset of a (name, digest); the run keeps its first input of it.
        const stored = datasetsOfExperiment.get(key) ?? { ...dataset, uuid: randomUUID().replaceAll('-', '') };
        datasetsOfExperiment.set(key, stored);
        if (!run.inputs.datasets.some((input) => input.dataset.name === dataset.name && input.dataset.digest === dataset.digest)) {
          const { uuid: _, ...fields } = stored;
          run.inputs.datasets.push({ dataset: fields, tags });
        }
      }
      for (const id of models) if (!run.inputs.models.includes(id)) run.inputs.models.push(id);
      return {};
    },
    'POST runs/outputs': (body) => {
      const run = this.findRun(body);
      // The models are not checked: an unknown id is stored as given.
      for (const model of (body['models'] as Json[] | undefined) ?? []) {
        const output = { model_id: asText(model['model_id']), step: Number(model['step'] ?? 0) };
        if (!run.outputs.some((o) => o.model_id === output.model_id && o.step === output.step)) run.outputs.push(output);
      }
      return {};
    },
    'POST runs/log-parameter': (body) => {
      const run = this.findRun(body);
      const key = asText(body['key'] ?? '');
      if (key === '') throw missing('key');
      const changed: { key: string; old_value: string; new_value: string }[] = [];
      this.logParam(run, key, body['value'], changed);
      const change = changed[0];
      if (change) {
        throw new ApiError(
          400,
          'INVALID_PARAMETER_VALUE',
          `Changing param values is not allowed. Param with key='${key}' was already logged with value='${change.old_value}' for run ID='${run.info.run_id}'. Attempted logging new value '${change.new_value}'.`,
        );
      }
      return {};
    },
    'POST runs/set-tag': (body) => {
      const run = this.findRun(body);
      const key = asText(body['key'] ?? '');
      if (key === '') throw missing('key');
      this.setTag(run, key, body['value']);
      return {};
    },
    'POST runs/log-batch': (body) => {
      const metrics = (body['metrics'] as Json[] | undefined) ?? [];
      const params = (body['params'] as Json[] | undefined) ?? [];
      const tags = (body['tags'] as Json[] | undefined) ?? [];
      const limit = (count: number, max: number, what: string) => {
        if (count > max) {
          throw new ApiError(
            400,
            'INVALID_PARAMETER_VALUE',
            `A batch logging request can contain at most ${max} ${what}. Got ${count} ${what}. Please split up ${what} across multiple requests and try again.`,
          );
        }
      };
      limit(metrics.length, 1000, 'metrics');
      limit(params.length, 100, 'params');
      limit(tags.length, 100, 'tags');
      limit(metrics.length + params.length + tags.length, 1000, 'metrics, params, and tags');
      const keys = params.map((param) => asText(param['key']));
      const duplicates = [...new Set(keys.filter((key, index) => keys.indexOf(key) !== index))];
      if (duplicates.length) {
        throw new ApiError(
          400,
          'INVALID_PARAMETER_VALUE',
          `Duplicate parameter keys have been submitted: [${duplicates.map((key) => `'${key}'`).join(', ')}]. Please ensure the request contains only one param value per param key.`,
        );
      }
      const run = this.findRun(body);
      const changed: { key: string; old_value: string; new_value: string }[] = [];
      const before = run.params.length;
      try {
        for (const param of params) this.logParam(run, asText(param['key'] ?? ''), param['value'], changed);
      } catch (error) {
        run.params.length = before;
        throw error;
      }
      if (changed.length) {
        run.params.length = before;
        const list = changed.map((c) => `{'key': '${c.key}', 'old_value': '${c.old_value}', 'new_value': '${c.new_value}'}`).join(', ');
        throw new ApiError(
          400,
          'INVALID_PARAMETER_VALUE',
          `Changing param values is not allowed. Params were already logged='[${list}]' for run ID='${run.info.run_id}'.`,
        );
      }
      for (const tag of tags) this.setTag(run, asText(tag['key'] ?? ''), tag['value']);
      const points: { metric: Json; point: Point }[] = [];
      for (const metric of metrics) {
        const { point, quirk } = this.point(metric);
        points.push({ metric, point });
        // After a value the server cannot read, the rest of the batch is silently dropped.
        if (quirk) break;
      }
      this.loggedModels.checkMetricLinks(run, points);
      for (const { metric, point } of points) {
        run.points.push(point);
        this.loggedModels.logMetric(run, metric, point);
      }
      return {};
    },
    'GET metrics/get-history': (query) => {
      const run = this.state.runs.get(asText(query['run_id'] ?? ''));
      if (!run) return {};
      const points = run.points.filter((point) => point.key === query['metric_key']);
      const max = query['max_results'] === undefined ? 0 : Number(query['max_results']);
      const offset = readToken(query['page_token']);
      const page = points.slice(offset, offset + max);
      const answer: Json = {};
      if (page.length) answer['metrics'] = page;
      if (offset + max < points.length) answer['next_page_token'] = pageToken(offset + max);
      return answer;
    },
    'POST runs/search': (body) => this.search(body),
    'GET artifacts/list': (query) => {
      const run = this.findRun(query, false);
      const root = run.info.artifact_uri.slice('mlflow-artifacts:/'.length);
      const base = query['path'] ? `${asText(query['path'])}/` : '';
      const entries = new Map<string, { path: string; is_dir: boolean; file_size?: number }>();
      for (const [path, bytes] of this.state.artifacts) {
        if (!path.startsWith(`${root}/${base}`)) continue;
        const rest = path.slice(root.length + 1 + base.length);
        const [first, ...more] = rest.split('/');
        const entry = `${base}${first}`;
        entries.set(entry, more.length ? { path: entry, is_dir: true } : { path: entry, is_dir: false, file_size: bytes.length });
      }
      const files = [...entries.values()].sort((a, b) => a.path.localeCompare(b.path));
      return { root_uri: run.info.artifact_uri, ...(files.length ? { files } : {}) };
    },
  };

  private experimentJson(experiment: Experiment): Json {
    const { tags, ...rest } = experiment;
    return { ...rest, ...(tags.length ? { tags } : {}) };
  }

  private search(body: Json): Json {
    const max = body['max_results'] === undefined ? 1000 : Number(body['max_results']);
    if (!(max > 0 && max <= 50000)) {
      throw new ApiError(
        400,
        'INVALID_PARAMETER_VALUE',
        `Invalid value ${asText(body['max_results'])} for parameter 'max_results' supplied:  Hint: Value was of type 'int'. See the API docs for more information about request parameters.`,
      );
    }
    const ids = new Set(((body['experiment_ids'] as unknown[] | undefined) ?? []).map(String));
    const view = asText(body['run_view_type'] ?? 'ACTIVE_ONLY');
    const clauses = parseFilter(asText(body['filter'] ?? ''));
    const order = ((body['order_by'] as string[] | undefined) ?? []).map(parseOrder);
    let runs = [...this.state.runs.values()].filter(
      (run) =>
        ids.has(run.info.experiment_id) &&
        (view === 'ALL' || (view === 'DELETED_ONLY') === (run.info.lifecycle_stage === 'deleted')) &&
        clauses.every((clause) => clause(this.runJson(run, 'search'))),
    );
    const sortKeys = [...order, parseOrder('attributes.start_time DESC'), parseOrder('attributes.run_id ASC')];
    runs = runs.sort((a, b) => {
      for (const compare of sortKeys) {
        const result = compare(this.runJson(a, 'search'), this.runJson(b, 'search'));
        if (result !== 0) return result;
      }
      return 0;
    });
    const offset = readToken(body['page_token']);
    const page = runs.slice(offset, offset + max);
    return {
      ...(page.length ? { runs: page.map((run) => this.runJson(run, 'search')) } : {}),
      ...(offset + max < runs.length ? { next_page_token: pageToken(offset + max) } : {}),
    };
  }
}

type RunView = Json & { info: Run['info']; data: { metrics?: Point[]; params?: KeyValue[]; tags?: KeyValue[] } };

function entityValue(run: Json, entity: string, key: string): string | number | undefined {
  const view = run as RunView;
  switch (entity) {
    case 'metric':
      return view.data.metrics?.find((m) => m.key === key)?.value;
    case 'parameter':
      return view.data.params?.find((p) => p.key === key)?.value;
    case 'tag':
      return view.data.tags?.find((t) => t.key === key)?.value;
    default:
      return (view.info as unknown as Record<string, string | number>)[key === 'run_name' ? 'run_name' : key];
  }
}

function entityType(name: string): string {
  const types: Record<string, string> = {
    metric: 'metric',
    metrics: 'metric',
    param: 'parameter',
    params: 'parameter',
    parameter: 'parameter',
    parameters: 'parameter',
    tag: 'tag',
    tags: 'tag',
    attribute: 'attribute',
    attributes: 'attribute',
    attr: 'attribute',
    run: 'attribute',
    dataset: 'dataset',
    datasets: 'dataset',
  };
  const type = types[name];
  if (type === undefined) {
    throw new ApiError(
      400,
      'INVALID_PARAMETER_VALUE',
      `Invalid entity type '${name}'. Valid values are ['metric', 'parameter', 'tag', 'attribute', 'dataset']`,
    );
  }
  return type;
}

/** `entity.key` or entity.`key with dots`, as MLflow's search syntax names a field. */
function splitField(field: string): [string, string] {
  const match = /^(\w+)\.(?:`([^`]+)`|"([^"]+)"|(.+))$/.exec(field.trim());
  if (!match) throw new ApiError(400, 'INVALID_PARAMETER_VALUE', `Invalid identifier '${field}'`);
  return [entityType(match[1]!), match[2] ?? match[3] ?? match[4]!];
}

function parseFilter(filter: string): ((run: Json) => boolean)[] {
  if (filter.trim() === '') return [];
  return filter.split(/\s+and\s+/i).map((clause) => {
    const match = /^\s*(\w+\.(?:`[^`]+`|"[^"]+"|[\w.:/-]+))\s*([<>=!]+|LIKE|ILIKE)\s*(.+?)\s*$/i.exec(clause);
    if (!match) throw new ApiError(400, 'INVALID_PARAMETER_VALUE', `Invalid filter '${clause}'`);
    const [entity, key] = splitField(match[1]!);
    const comparator = match[2]!.toUpperCase();
    if (!['=', '!=', '<', '<=', '>', '>=', 'LIKE', 'ILIKE'].includes(comparator)) {
      throw new ApiError(400, 'INVALID_PARAMETER_VALUE', `Invalid comparator '${match[2]!}' not one of '{'=', '<', '>=', '<=', '>', '!='}`);
    }
    const literal = match[3]!;
    const expected: string | number = /^'.*'$|^".*"$/.test(literal) ? literal.slice(1, -1).replace(/\\'/g, "'") : Number(literal);
    return (run) => {
      const actual = entityValue(run, entity, key);
      if (actual === undefined) return false;
      const a = entity === 'metric' ? Number(actual) : actual;
      return compareFilter(a, comparator, expected);
    };
  });
}

function parseOrder(clause: string): (a: Json, b: Json) => number {
  const match = /^\s*(.+?)(?:\s+(ASC|DESC))?\s*$/i.exec(clause)!;
  const [entity, key] = splitField(match[1]!);
  const sign = (match[2] ?? 'ASC').toUpperCase() === 'DESC' ? -1 : 1;
  return (a, b) => {
    const x = entityValue(a, entity, key);
    const y = entityValue(b, entity, key);
    if (x === undefined || y === undefined) return x === y ? 0 : x === undefined ? 1 : -1;
    return x < y ? -sign : x > y ? sign : 0;
  };
}
