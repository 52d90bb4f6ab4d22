import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for an MLflow 3.x tracking server (SQLite backend, artifact serving on), on
 * 127.0.0.1, answering as the recordings in shared/mlflow-contract do: the same status codes,
 * error codes, messages and quirks. Its state outlives stop() / start(), as a real server's
 * database does.
 */

type Json = Record<string, unknown>;
interface KeyValue {
  key: string;
  value: string;
}
interface Point {
  key: string;
  value: number | 'NaN';
  timestamp: number;
  step: number;
}
interface Experiment {
  experiment_id: string;
  name: string;
  artifact_location: string;
  lifecycle_stage: string;
  last_update_time: number;
  creation_time: number;
  tags: KeyValue[];
}
interface Run {
  info: {
    run_uuid: string;
    experiment_id: string;
    run_name: string;
    user_id: string;
    status: string;
    start_time: number;
    end_time?: number;
    artifact_uri: string;
    lifecycle_stage: string;
    run_id: string;
  };
  params: KeyValue[];
  tags: KeyValue[];
  points: Point[];
}

/** A request value as text, whatever JSON type it came as. */
function asText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return `${value}`;
  return value === undefined || value === null ? '' : JSON.stringify(value);
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const NOT_FOUND_HTML =
  '<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n<p>The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.</p>\n';
const MAX_DOUBLE = 1.7976931348623157e308;
const STATUSES = new Set(['RUNNING', 'SCHEDULED', 'FINISHED', 'FAILED', 'KILLED']);
const ADJECTIVES = ['popular', 'blushing', 'quiet', 'bold', 'gentle', 'brave', 'clever', 'sincere'];
const ANIMALS = ['ant', 'seal', 'owl', 'fox', 'finch', 'lynx', 'whale', 'crab'];

/** Python's json.dumps of a string (ensure_ascii), as MLflow quotes values in its messages. */
function pytext(text: string): string {
  return JSON.stringify(text).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

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

const missing = (name: string) =>
  new ApiError(
    400,
    'INVALID_PARAMETER_VALUE',
    `Missing value for required parameter '${name}'. See the API docs for more information about request parameters.`,
  );

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

export interface MlflowDoubleState {
  experiments: Map<string, Experiment>;
  runs: Map<string, Run>;
  artifacts: Map<string, Buffer>;
  nextExperimentId: number;
}

export class MlflowDouble {
  private server: Server | undefined;
  private port = 0;
  readonly state: MlflowDoubleState = { experiments: new Map(), runs: new Map(), artifacts: new Map(), nextExperimentId: 1 };
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

  constructor() {
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
      const artifact = url.pathname.match(/^\/api\/2\.0\/mlflow-artifacts\/artifacts\/(.+)$/);
      if (artifact) {
        const path = decodeURIComponent(artifact[1]!);
        if (method === 'PUT') {
          this.state.artifacts.set(path, raw);
          return send(200, '{}');
        }
        const bytes = this.state.artifacts.get(path);
        if (method === 'GET' && bytes) return send(200, bytes, 'application/octet-stream');
        throw new ApiError(404, 'RESOURCE_DOES_NOT_EXIST', `File ${path} not found`);
      }
      const endpoint = url.pathname.match(/^\/api\/2\.0\/mlflow\/(.+)$/)?.[1];
      const key = `${method} ${endpoint}`;
      const handler = endpoint === undefined ? undefined : this.handlers[key];
      if (handler === undefined) return send(404, NOT_FOUND_HTML, 'text/html; charset=utf-8');
      if (method === 'POST' && !(request.headers['content-type'] ?? '').includes('application/json')) {
        throw new ApiError(400, 'BAD_REQUEST', 'Bad Request. Content-Type must be "application/json".');
      }
      const body = method === 'POST' ? parseBody(raw.toString()) : Object.fromEntries(url.searchParams);
      send(200, JSON.stringify(handler(body)));
    } catch (error) {
      if (!(error instanceof ApiError)) {
        send(500, JSON.stringify({ error_code: 'INTERNAL_ERROR', message: asText(error) }));
        return;
      }
      send(error.status, JSON.stringify({ error_code: error.code, message: error.message }));
    }
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

  private runJson(run: Run, withOutputs: boolean): Json {
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
    return { info: run.info, data, inputs: {}, ...(withOutputs ? { outputs: {} } : {}) };
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

  private readonly handlers: Record<string, (body: Json) => Json> = {
    'POST experiments/create': (body) => {
      const name = body['name'];
      if (typeof name !== 'string' || name === '') throw missing('name');
      if ([...this.state.experiments.values()].some((experiment) => experiment.name === name)) {
        const now = Date.now();
        throw new ApiError(
          400,
          'RESOURCE_ALREADY_EXISTS',
          `Experiment(name=${name}) already exists. Error: (sqlite3.IntegrityError) UNIQUE constraint failed: experiments.workspace, experiments.name\n[SQL: INSERT INTO experiments (name, workspace, artifact_location, lifecycle_stage, creation_time, last_update_time) VALUES (?, ?, ?, ?, ?, ?)]\n[parameters: ('${name}', 'default', '', 'active', ${now}, ${now})]\n(Background on this error at: https://sqlalche.me/e/14/gkpj)`,
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
      const name =
        runName ??
        tagName ??
        `${ADJECTIVES[Math.floor(Math.random() * 8)]}-${ANIMALS[Math.floor(Math.random() * 8)]}-${Math.floor(Math.random() * 1000)}`;
      const startTime = Number(body['start_time'] ?? 0);
      const experimentId = body['experiment_id'];
      if (experimentId === undefined || experimentId === '') {
        throw new ApiError(
          400,
          'BAD_REQUEST',
          `(raised as a result of Query-invoked autoflush; consider using a session.no_autoflush block if this flush is occurring prematurely)\n(sqlite3.IntegrityError) FOREIGN KEY constraint failed\n[SQL: INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, status, start_time, end_time, deleted_time, source_version, lifecycle_stage, artifact_uri, experiment_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)]\n[parameters: ('${runId}', '${name}', 'UNKNOWN', '', '', '', 'RUNNING', ${startTime}, None, None, '', 'active', 'mlflow-artifacts:/0/${runId}/artifacts', '')]\n(Background on this error at: https://sqlalche.me/e/14/gkpj)`,
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
      };
      this.state.runs.set(runId, run);
      const json = this.runJson(run, false);
      return { run: { ...json, data: { tags: run.tags } } };
    },
    'POST runs/update': (body) => {
      const run = this.findRun(body);
      const status = body['status'];
      if (typeof status === 'string' && STATUSES.has(status)) run.info.status = status;
      if (body['end_time'] !== undefined) run.info.end_time = Number(body['end_time']);
      if (typeof body['run_name'] === 'string') run.info.run_name = body['run_name'];
      return { run_info: run.info };
    },
    'POST runs/delete': (body) => {
      this.findRun(body, false).info.lifecycle_stage = 'deleted';
      return {};
    },
    'POST runs/restore': (body) => {
      this.findRun(body, false).info.lifecycle_stage = 'active';
      return {};
    },
    'GET runs/get': (query) => ({ run: this.runJson(this.findRun(query, false), true) }),
    'POST runs/log-metric': (body) => {
      const run = this.findRun(body);
      run.points.push(this.point(body).point);
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
      for (const metric of metrics) {
        const { point, quirk } = this.point(metric);
        run.points.push(point);
        // After a value the server cannot read, the rest of the batch is silently dropped.
        if (quirk) break;
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
        clauses.every((clause) => clause(this.runJson(run, true))),
    );
    const sortKeys = [...order, parseOrder('attributes.start_time DESC'), parseOrder('attributes.run_id ASC')];
    runs = runs.sort((a, b) => {
      for (const compare of sortKeys) {
        const result = compare(this.runJson(a, true), this.runJson(b, true));
        if (result !== 0) return result;
      }
      return 0;
    });
    const offset = readToken(body['page_token']);
    const page = runs.slice(offset, offset + max);
    return {
      ...(page.length ? { runs: page.map((run) => this.runJson(run, true)) } : {}),
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
      switch (comparator) {
        case '=':
          return a === expected;
        case '!=':
          return a !== expected;
        case '<':
          return a < expected;
        case '<=':
          return a <= expected;
        case '>':
          return a > expected;
        case '>=':
          return a >= expected;
        default: {
          const pattern = new RegExp(
            `^${asText(expected)
              .replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
              .replace(/%/g, '.*')
              .replace(/_/g, '.')}$`,
            comparator === 'ILIKE' ? 'i' : '',
          );
          return pattern.test(asText(a));
        }
      }
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
