import { randomUUID } from 'node:crypto';
import {
  ApiError,
  asText,
  compareFilter,
  byKey,
  FileAnswer,
  generatedName,
  keyValues,
  missing,
  notFound,
  pyFloat,
  pyJson,
  pyRepr,
  sqlalchemyNote,
  tokenOffset,
  upsert,
  type DoubleContext,
  type Json,
  type LoggedModel,
  type LoggedModelStatus,
  type ModelMetric,
  type Point,
  type Route,
  type Run,
} from './mlflow-double-common.js';

/**
 * MLflow 3 logged models in the test double, as models-log.md recorded them: create, get, the
 * status PATCH (PENDING → READY / UPLOAD_FAILED), params, tags, delete, search, the metrics that
 * runs log with a `model_id`, and the model files the UI reads.
 */

const STATUSES = new Set<LoggedModelStatus>(['LOGGED_MODEL_PENDING', 'LOGGED_MODEL_READY', 'LOGGED_MODEL_UPLOAD_FAILED']);
/** The status as SQL stores it (an integer), which is what a search filter compares. */
const STATUS_CODES: Record<LoggedModelStatus, number> = {
  LOGGED_MODEL_STATUS_UNSPECIFIED: 0,
  LOGGED_MODEL_PENDING: 1,
  LOGGED_MODEL_READY: 2,
  LOGGED_MODEL_UPLOAD_FAILED: 3,
};
/** Search attributes, by the names a filter or an `order_by` uses. */
const ATTRIBUTES: Record<string, keyof LoggedModel['info']> = {
  name: 'name',
  model_id: 'model_id',
  model_type: 'model_type',
  status: 'status',
  source_run_id: 'source_run_id',
  experiment_id: 'experiment_id',
  creation_time: 'creation_timestamp_ms',
  creation_timestamp: 'creation_timestamp_ms',
  creation_timestamp_ms: 'creation_timestamp_ms',
  last_updated_timestamp: 'last_updated_timestamp_ms',
  last_updated_timestamp_ms: 'last_updated_timestamp_ms',
};

const notFoundModel = (id: string) => notFound(`Logged model with ID '${id}' not found.`);

interface DatasetFilter {
  dataset_name: string;
  dataset_digest?: string;
}

export class LoggedModels {
  /** Creation order, the tie-break of "newest first" within one millisecond. */
  private readonly order = new Map<string, number>();

  constructor(private readonly context: DoubleContext) {}

  /** A logged model that is not deleted, or 404. */
  get(id: string): LoggedModel {
    const model = this.context.state.loggedModels.get(id);
    if (!model || model.deleted) throw notFoundModel(id);
    return model;
  }

  /** The model as the API answers it: tags and params sorted by key, empty lists left out. */
  json(model: LoggedModel): Json {
    const data: Json = {};
    if (model.params.length) data['params'] = byKey(model.params);
    if (model.metrics.length) data['metrics'] = model.metrics;
    return { info: { ...model.info, ...(model.tags.length ? { tags: byKey(model.tags) } : {}) }, data };
  }

  /** Checks the model links of metrics a run is about to log, before anything is stored (the server logs none of them then). */
  checkMetricLinks(run: Run, metrics: readonly { metric: Json; point: Point }[]): void {
    for (const { metric, point } of metrics) {
      const name = asText(metric['dataset_name']);
      const digest = asText(metric['dataset_digest']);
      if ((name === '') !== (digest === '')) {
        throw new ApiError(400, 'INVALID_PARAMETER_VALUE', 'Both dataset_name and dataset_digest must be provided if one is provided');
      }
      const modelId = asText(metric['model_id']);
      // Deleted models are still rows of the table, so only an unknown id breaks the foreign key.
      if (modelId !== '' && !this.context.state.loggedModels.has(modelId)) {
        const dataset = name === '' ? undefined : this.context.state.datasets.get(run.info.experiment_id)?.get(`${name}\0${digest}`);
        const parameters = [
          pyRepr(modelId),
          pyRepr(point.key),
          point.timestamp,
          point.step,
          pyFloat(point.value),
          Number(run.info.experiment_id),
          pyRepr(run.info.run_id),
          dataset ? pyRepr(dataset.uuid) : 'None',
          name === '' ? 'None' : pyRepr(name),
          digest === '' ? 'None' : pyRepr(digest),
        ];
        throw new ApiError(
          400,
          'BAD_REQUEST',
          `(sqlite3.IntegrityError) FOREIGN KEY constraint failed\n[SQL: INSERT INTO logged_model_metrics (model_id, metric_name, metric_timestamp_ms, metric_step, metric_value, experiment_id, run_id, dataset_uuid, dataset_name, dataset_digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)]\n[parameters: (${parameters.join(', ')})]\n${sqlalchemyNote(this.context.build)}`,
        );
      }
    }
  }

  /** Stores the model metric of a run metric that names a model (after checkMetricLinks). */
  logMetric(run: Run, metric: Json, point: Point): void {
    const modelId = asText(metric['model_id']);
    const model = this.context.state.loggedModels.get(modelId);
    if (!model) return;
    const name = asText(metric['dataset_name']);
    const digest = asText(metric['dataset_digest']);
    const stored: ModelMetric = {
      ...point,
      ...(name === '' ? {} : { dataset_name: name, dataset_digest: digest }),
      model_id: modelId,
      run_id: run.info.run_id,
    };
    model.metrics.push(stored);
  }

  private params(model: LoggedModel, params: unknown): void {
    for (const { key, value } of keyValues(params)) {
      // (model_id, param_key) is the table's key: a second insert fails, whatever its value.
      if (model.params.some((param) => param.key === key)) {
        throw new ApiError(
          400,
          'BAD_REQUEST',
          `(sqlite3.IntegrityError) UNIQUE constraint failed: logged_model_params.model_id, logged_model_params.param_key\n[SQL: INSERT INTO logged_model_params (model_id, experiment_id, param_key, param_value) VALUES (?, ?, ?, ?)]\n[parameters: (${pyRepr(model.info.model_id)}, ${Number(model.info.experiment_id)}, ${pyRepr(key)}, ${pyRepr(value)})]\n${sqlalchemyNote(this.context.build)}`,
        );
      }
      model.params.push({ key, value });
    }
  }

  private search(body: Json): Json {
    const ids = new Set(((body['experiment_ids'] as unknown[] | undefined) ?? []).map(asText));
    const datasets = ((body['datasets'] as DatasetFilter[] | undefined) ?? []).map((d) => ({
      name: asText(d.dataset_name),
      digest: d.dataset_digest === undefined ? undefined : asText(d.dataset_digest),
    }));
    const inDatasets = (metric: ModelMetric) =>
      datasets.length === 0 ||
      datasets.some((d) => d.name === metric.dataset_name && (d.digest === undefined || d.digest === metric.dataset_digest));
    const filter = asText(body['filter']);
    const clauses = filter.trim() === '' ? [] : filter.split(/\s+AND\s+/i).map((clause) => parseClause(clause, inDatasets));
    const orderBy = (body['order_by'] as Json[] | undefined) ?? [];
    const max = body['max_results'] === undefined ? 100 : Number(body['max_results']);
    const offset = tokenOffset(body['page_token']);
    const models = [...this.context.state.loggedModels.values()]
      .filter((model) => !model.deleted && ids.has(model.info.experiment_id) && clauses.every((clause) => clause(model)))
      .sort((a, b) => {
        for (const order of orderBy) {
          const result = compareBy(a, b, asText(order['field_name']), order['ascending'] !== false, inDatasets);
          if (result !== 0) return result;
        }
        // Newest first, by the creation clock, then by creation order.
        return (
          b.info.creation_timestamp_ms - a.info.creation_timestamp_ms || this.order.get(b.info.model_id)! - this.order.get(a.info.model_id)!
        );
      });
    const page = models.slice(offset, offset + max);
    const token = {
      experiment_ids: body['experiment_ids'] ?? [],
      filter_string: body['filter'] ?? null,
      order_by: body['order_by'] ?? null,
      offset: offset + max,
    };
    return {
      ...(page.length ? { models: page.map((model) => this.json(model)) } : {}),
      ...(offset + max < models.length ? { next_page_token: Buffer.from(pyJson(token)).toString('base64') } : {}),
    };
  }

  readonly routes: Route[] = [
    {
      method: 'POST',
      path: /^logged-models$/,
      handler: (body) => {
        if (body['experiment_id'] === undefined || body['experiment_id'] === '') throw missing('experiment_id');
        const experiment = this.context.experiment(body['experiment_id']);
        const id = `m-${randomUUID().replaceAll('-', '')}`;
        const now = Date.now();
        const model: LoggedModel = {
          info: {
            model_id: id,
            experiment_id: experiment.experiment_id,
            name: asText(body['name']) || generatedName(),
            creation_timestamp_ms: now,
            last_updated_timestamp_ms: now,
            artifact_uri: `${experiment.artifact_location}/models/${id}/artifacts`,
            status: 'LOGGED_MODEL_PENDING',
            model_type: asText(body['model_type']),
            source_run_id: asText(body['source_run_id']),
          },
          tags: [],
          params: [],
          metrics: [],
          deleted: false,
        };
        this.params(model, body['params']);
        for (const { key, value } of keyValues(body['tags'])) upsert(model.tags, key, value);
        this.context.state.loggedModels.set(id, model);
        this.order.set(id, this.order.size);
        return { model: this.json(model) };
      },
    },
    { method: 'POST', path: /^logged-models\/search$/, handler: (body) => this.search(body) },
    { method: 'GET', path: /^logged-models\/([^/]+)$/, handler: (_, [id]) => ({ model: this.json(this.get(id!)) }) },
    {
      method: 'PATCH',
      path: /^logged-models\/([^/]+)$/,
      handler: (body, [id]) => {
        // The id must be in the body as well as in the URL.
        if (asText(body['model_id']) === '') throw missing('model_id');
        if (body['status'] === undefined) throw missing('status');
        const model = this.get(id!);
        const status = asText(body['status']) as LoggedModelStatus;
        model.info.status = STATUSES.has(status) ? status : 'LOGGED_MODEL_STATUS_UNSPECIFIED';
        model.info.last_updated_timestamp_ms = Date.now();
        return { model: this.json(model) };
      },
    },
    {
      method: 'DELETE',
      path: /^logged-models\/([^/]+)$/,
      handler: (_, [id]) => {
        this.get(id!).deleted = true;
        return {};
      },
    },
    {
      method: 'POST',
      path: /^logged-models\/([^/]+)\/params$/,
      handler: (body, [id]) => {
        if (asText(body['model_id']) === '') throw missing('model_id');
        this.params(this.get(id!), body['params']);
        return {};
      },
    },
    {
      method: 'PATCH',
      path: /^logged-models\/([^/]+)\/tags$/,
      handler: (body, [id]) => {
        const model = this.get(id!);
        for (const { key, value } of keyValues(body['tags'])) upsert(model.tags, key, value);
        return {};
      },
    },
    {
      method: 'DELETE',
      path: /^logged-models\/([^/]+)\/tags\/(.+)$/,
      handler: (_, [id, key]) => {
        const model = this.get(id!);
        model.tags = model.tags.filter((tag) => tag.key !== decodeURIComponent(key!));
        return {};
      },
    },
    {
      // What the UI reads (under /ajax-api/): one of the model's files.
      method: 'GET',
      path: /^logged-models\/([^/]+)\/artifacts\/files$/,
      handler: (query, [id]) => {
        const model = this.get(id!);
        const path = `${model.info.artifact_uri.slice('mlflow-artifacts:/'.length)}/${asText(query['artifact_file_path'])}`;
        const bytes = this.context.state.artifacts.get(path);
        if (!bytes) throw notFound(`File ${path} not found`);
        return new FileAnswer(bytes);
      },
    },
  ];
}

/** `metrics.<k>`, `params.<k>`, `tags.<k>` or an attribute (bare or `attributes.<name>`), as a logged-model search names a field. */
function field(name: string): [entity: string, key: string] {
  const match = /^(?:(metrics?|params?|tags?|attributes?)\.)?(?:`([^`]+)`|"([^"]+)"|(.+))$/.exec(name.trim());
  const entity = (match?.[1] ?? 'attribute').replace(/s$/, '');
  const key = match?.[2] ?? match?.[3] ?? match?.[4] ?? '';
  if (entity === 'attribute' && !(key in ATTRIBUTES)) throw new ApiError(400, 'INVALID_PARAMETER_VALUE', `Invalid attribute key '${key}'`);
  return [entity, key];
}

/** The values of a field of a model (a metric may have several points). */
function values(model: LoggedModel, entity: string, key: string, inDatasets: (metric: ModelMetric) => boolean): (string | number)[] {
  switch (entity) {
    case 'metric':
      return model.metrics.filter((m) => m.key === key && inDatasets(m)).map((m) => (m.value === 'NaN' ? NaN : m.value));
    case 'param':
      return model.params.filter((p) => p.key === key).map((p) => p.value);
    case 'tag':
      return model.tags.filter((t) => t.key === key).map((t) => t.value);
    default: {
      const attribute = ATTRIBUTES[key]!;
      // SQL keeps the status as an integer: a string never equals it.
      return [attribute === 'status' ? STATUS_CODES[model.info.status] : model.info[attribute]];
    }
  }
}

function parseClause(clause: string, inDatasets: (metric: ModelMetric) => boolean): (model: LoggedModel) => boolean {
  const match = /^\s*(.+?)\s*(!=|<=|>=|=|<|>|\bNOT\s+LIKE\b|\bLIKE\b|\bILIKE\b)\s*(.+?)\s*$/i.exec(clause);
  if (!match) throw new ApiError(400, 'INVALID_PARAMETER_VALUE', `Invalid filter '${clause}'`);
  const [entity, key] = field(match[1]!);
  const comparator = match[2]!.toUpperCase().replace(/\s+/g, ' ');
  const literal = match[3]!;
  const expected: string | number = /^'.*'$|^".*"$/s.test(literal) ? literal.slice(1, -1) : Number(literal);
  return (model) =>
    values(model, entity, key, inDatasets).some((actual) => {
      if (typeof actual !== typeof expected) return comparator === '!=' && entity === 'attribute';
      return compareFilter(actual, comparator, expected);
    });
}

function compareBy(a: LoggedModel, b: LoggedModel, name: string, ascending: boolean, inDatasets: (metric: ModelMetric) => boolean): number {
  const [entity, key] = field(name);
  const x = values(a, entity, key, inDatasets).at(-1);
  const y = values(b, entity, key, inDatasets).at(-1);
  if (x === undefined || y === undefined) return x === y ? 0 : x === undefined ? 1 : -1;
  const sign = ascending ? 1 : -1;
  return x < y ? -sign : x > y ? sign : 0;
}
