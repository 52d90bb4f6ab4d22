/**
 * What the parts of the MLflow test double share: its state's types, its errors, and Python's ways
 * of writing values (the real server is Python, and some of its answers quote values as Python would).
 */

export type Json = Record<string, unknown>;
export interface KeyValue {
  key: string;
  value: string;
}
export interface Point {
  key: string;
  value: number | 'NaN';
  timestamp: number;
  step: number;
}
export interface Experiment {
  experiment_id: string;
  name: string;
  artifact_location: string;
  lifecycle_stage: string;
  last_update_time: number;
  creation_time: number;
  tags: KeyValue[];
}
/** A dataset as the server keeps it, once per experiment and (name, digest); the first logging wins. */
export interface Dataset {
  name: string;
  digest: string;
  source_type?: string;
  source?: string;
  schema?: string;
  profile?: string;
}
export interface DatasetInput {
  dataset: Dataset;
  tags: KeyValue[];
}
export interface ModelOutput {
  model_id: string;
  step: number;
}
export interface Run {
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
  /** `inputs.dataset_inputs`, `inputs.model_inputs` (model ids) and `outputs.model_outputs`, in logging order. */
  inputs: { datasets: DatasetInput[]; models: string[] };
  outputs: ModelOutput[];
}

export type LoggedModelStatus =
  'LOGGED_MODEL_STATUS_UNSPECIFIED' | 'LOGGED_MODEL_PENDING' | 'LOGGED_MODEL_READY' | 'LOGGED_MODEL_UPLOAD_FAILED';
/** A metric point of a logged model (`data.metrics`): the run's point with its links. */
export interface ModelMetric extends Point {
  dataset_name?: string;
  dataset_digest?: string;
  model_id: string;
  run_id: string;
}
export interface LoggedModel {
  info: {
    model_id: string;
    experiment_id: string;
    name: string;
    creation_timestamp_ms: number;
    last_updated_timestamp_ms: number;
    artifact_uri: string;
    status: LoggedModelStatus;
    model_type: string;
    source_run_id: string;
  };
  tags: KeyValue[];
  params: KeyValue[];
  metrics: ModelMetric[];
  /** Deleted models are kept (MLflow deletes them softly): metrics may still name them, nothing else finds them. */
  deleted: boolean;
}

export interface ModelVersion {
  name: string;
  version: string;
  creation_timestamp: number;
  last_updated_timestamp: number;
  current_stage: string;
  description: string;
  source: string;
  run_id: string;
  status: string;
  tags: KeyValue[];
  run_link: string;
  /** Where the version's files are: a logged model's `artifact_uri` for a `models:/<id>` source, else the source. */
  storage_location: string;
}
export interface RegisteredModel {
  name: string;
  creation_timestamp: number;
  last_updated_timestamp: number;
  description: string;
  tags: KeyValue[];
  /** Alias → version. */
  aliases: Map<string, string>;
  versions: ModelVersion[];
}

export interface MlflowDoubleState {
  experiments: Map<string, Experiment>;
  runs: Map<string, Run>;
  /** Artifact bytes by path under the proxy's root (`<exp>/<run>/artifacts/…`, `<exp>/models/<model_id>/artifacts/…`). */
  artifacts: Map<string, Buffer>;
  nextExperimentId: number;
  /** Datasets by experiment id, then by `name\0digest`. */
  datasets: Map<string, Map<string, Dataset & { uuid: string }>>;
  loggedModels: Map<string, LoggedModel>;
  registeredModels: Map<string, RegisteredModel>;
}

/**
 * The server builds the recordings came from. 'models-log' (models-log.md): error bodies carry
 * `sqlstate` and `error_class`, and SQL errors cite SQLAlchemy 2.0. 'rest-log' (rest-log.md,
 * edge-log.md): `error_code` and `message` only, SQLAlchemy 1.4.
 */
export type ServerBuild = 'models-log' | 'rest-log';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** `sqlstate` and `error_class` by error code, as the models-log.md build answers them. */
const ERROR_CLASSES: Record<string, [string, string]> = {
  RESOURCE_DOES_NOT_EXIST: ['KAM00', 'RESOURCE_NOT_FOUND'],
  INVALID_PARAMETER_VALUE: ['KAM00', 'INVALID_PARAMETER_VALUE'],
  BAD_REQUEST: ['KAM00', 'INVALID_PARAMETER_VALUE'],
  RESOURCE_ALREADY_EXISTS: ['KAM00', 'RESOURCE_ALREADY_EXISTS'],
  INTERNAL_ERROR: ['XXM00', 'CLIENT_INTERNAL_ERROR'],
};

/** An error's JSON body as the given server build writes it. */
export function errorBody(build: ServerBuild, code: string, message: string): Json {
  if (build === 'rest-log') return { error_code: code, message };
  const [sqlstate, errorClass] = ERROR_CLASSES[code] ?? ['KAM00', code];
  return { error_code: code, message, sqlstate, error_class: errorClass };
}

/** The SQLAlchemy page an SQL error message ends with, by server build. */
export function sqlalchemyNote(build: ServerBuild): string {
  return `(Background on this error at: https://sqlalche.me/e/${build === 'rest-log' ? '14' : '20'}/gkpj)`;
}

export const missing = (name: string): ApiError =>
  new ApiError(
    400,
    'INVALID_PARAMETER_VALUE',
    `Missing value for required parameter '${name}'. See the API docs for more information about request parameters.`,
  );

export const notFound = (message: string): ApiError => new ApiError(404, 'RESOURCE_DOES_NOT_EXIST', message);

/** A request value as text, whatever JSON type it came as. */
export function asText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return `${value}`;
  return value === undefined || value === null ? '' : JSON.stringify(value);
}

/** A request's list of `{key, value}` pairs, values as text. */
export function keyValues(value: unknown): KeyValue[] {
  return (Array.isArray(value) ? (value as Json[]) : []).map((item) => ({ key: asText(item['key']), value: asText(item['value']) }));
}

/** Sets or overwrites a tag in a list. */
export function upsert(list: KeyValue[], key: string, value: string): void {
  const previous = list.find((item) => item.key === key);
  if (previous) previous.value = value;
  else list.push({ key, value });
}

/** Sorted by key, as SQLite orders text (by code point). */
export function byKey<T extends { key: string }>(list: readonly T[]): T[] {
  return [...list].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** Python's json.dumps of a string (ensure_ascii), as MLflow quotes values in its messages. */
export function pytext(text: string): string {
  return JSON.stringify(text).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Python's json.dumps with its default separators (`, ` and `: `) and ensure_ascii. */
export function pyJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(pyJson).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.entries(value)
      .map(([key, item]) => `${pytext(key)}: ${pyJson(item)}`)
      .join(', ')}}`;
  }
  return typeof value === 'string' ? pytext(value) : value === undefined ? 'null' : JSON.stringify(value);
}

/** Python's repr of a float. */
export function pyFloat(value: number | 'NaN'): string {
  if (value === 'NaN' || Number.isNaN(value)) return 'nan';
  if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf';
  const magnitude = Math.abs(value);
  if (magnitude !== 0 && (magnitude >= 1e16 || magnitude < 1e-4)) {
    return value.toExponential().replace(/e([+-])(\d)$/, 'e$10$2');
  }
  const text = String(value);
  return text.includes('.') ? text : `${text}.0`;
}

/** Python's repr of a string (as SQLAlchemy lists parameters). */
export function pyRepr(text: string): string {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  const body = text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t');
  return `${quote}${quote === "'" ? body.replace(/'/g, "\\'") : body}${quote}`;
}

const ADJECTIVES = ['popular', 'blushing', 'quiet', 'bold', 'gentle', 'brave', 'clever', 'sincere', 'kindly', 'caring'];
const ANIMALS = ['ant', 'seal', 'owl', 'fox', 'finch', 'lynx', 'whale', 'crab', 'roo', 'mink'];

/** A name the server makes up (adjective-animal-number), for runs and logged models given none. */
export function generatedName(): string {
  const pick = (list: readonly string[]) => list[Math.floor(Math.random() * list.length)]!;
  return `${pick(ADJECTIVES)}-${pick(ANIMALS)}-${Math.floor(Math.random() * 1000)}`;
}

/** The `offset` of a page token (base64 JSON) that a search answered with; 0 without one. */
export function tokenOffset(token: unknown): number {
  if (typeof token !== 'string' || token === '') return 0;
  try {
    return Number((JSON.parse(Buffer.from(token, 'base64').toString()) as { offset?: unknown }).offset) || 0;
  } catch {
    throw new ApiError(400, 'INVALID_PARAMETER_VALUE', `Invalid page token: ${token}`);
  }
}

/** A file a handler answers with, instead of JSON. */
export class FileAnswer {
  constructor(
    readonly bytes: Buffer,
    readonly type = 'application/octet-stream',
  ) {}
}

/** A handler of a route: the request (JSON body, or query parameters) and the path's captures. */
export type Handler = (body: Json, captures: readonly string[]) => Json | FileAnswer;
export interface Route {
  readonly method: string;
  /** Matched against the endpoint (the path after `/api/2.0/mlflow/`). */
  readonly path: RegExp;
  readonly handler: Handler;
}

/** What the logged-model and registry parts need from the double. */
export interface DoubleContext {
  readonly state: MlflowDoubleState;
  readonly build: ServerBuild;
  /** The experiment, or 404. */
  experiment(id: unknown): Experiment;
}

/** One comparison of a search filter, as MLflow's SQL makes it: LIKE and ILIKE with % and _, NOT LIKE. */
export function compareFilter(actual: string | number, comparator: string, expected: string | number): boolean {
  switch (comparator) {
    case '=':
      return actual === expected;
    case '!=':
      return actual !== expected;
    case '<':
      return actual < expected;
    case '<=':
      return actual <= expected;
    case '>':
      return actual > expected;
    case '>=':
      return actual >= expected;
    default: {
      const pattern = new RegExp(
        `^${asText(expected)
          .replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
          .replace(/%/g, '.*')
          .replace(/_/g, '.')}$`,
        comparator === 'ILIKE' ? 'i' : '',
      );
      return pattern.test(asText(actual)) === (comparator !== 'NOT LIKE');
    }
  }
}
