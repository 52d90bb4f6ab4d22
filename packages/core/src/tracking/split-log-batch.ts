import type { MlflowBatch, MlflowKeyValue, MlflowMetric } from './mlflow-types.js';

/** The limits a real MLflow server enforces on one `runs/log-batch` request. */
export const LOG_BATCH_LIMITS = {
  metrics: 1000,
  params: 100,
  tags: 100,
  entities: 1000,
  /** The server's limit is 1 MB of request body; stay well below it. */
  bytes: 900_000,
} as const;

/** A metric's value as MLflow's JSON accepts it: non-finite values as the strings "NaN", "Infinity", "-Infinity". */
export function encodeMetricValue(value: number): number | string {
  return Number.isFinite(value) ? value : Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity';
}

/** The server answers NaN as "NaN" and stores ±Infinity as ±max double; both read back as what was logged. */
export function decodeMetricValue(value: unknown): number {
  if (value === 'NaN') return NaN;
  if (value === 'Infinity') return Infinity;
  if (value === '-Infinity') return -Infinity;
  const number = Number(value);
  if (number >= Number.MAX_VALUE) return Infinity;
  if (number <= -Number.MAX_VALUE) return -Infinity;
  return number;
}

export function wireMetric(metric: MlflowMetric): Record<string, unknown> {
  return {
    key: metric.key,
    value: encodeMetricValue(metric.value),
    timestamp: Math.round(metric.timestamp),
    step: Math.round(metric.step),
    ...(metric.model_id === undefined ? {} : { model_id: metric.model_id }),
    ...(metric.dataset_name === undefined ? {} : { dataset_name: metric.dataset_name, dataset_digest: metric.dataset_digest ?? '' }),
  };
}

function size(entity: unknown): number {
  return Buffer.byteLength(JSON.stringify(entity)) + 1;
}

/**
 * Splits what is to be logged into requests, in order, within the server's limits: ≤ 1000 metrics,
 * ≤ 100 params, ≤ 100 tags, ≤ 1000 entities, under 1 MB, and each param key at most once per
 * request (the server refuses a repeated key even with the same value).
 */
export function splitLogBatch(batch: MlflowBatch): MlflowBatch[] {
  interface Request {
    metrics: MlflowMetric[];
    params: MlflowKeyValue[];
    tags: MlflowKeyValue[];
    bytes: number;
    keys: Set<string>;
  }
  const requests: Request[] = [];
  const fresh = (): Request => {
    const request: Request = { metrics: [], params: [], tags: [], bytes: 200, keys: new Set<string>() };
    requests.push(request);
    return request;
  };
  let current = fresh();
  const place = (kind: 'metrics' | 'params' | 'tags', entity: MlflowMetric | MlflowKeyValue) => {
    const bytes = size(kind === 'metrics' ? wireMetric(entity as MlflowMetric) : entity);
    const fits = (request: Request) =>
      request[kind].length < LOG_BATCH_LIMITS[kind] &&
      request.metrics.length + request.params.length + request.tags.length < LOG_BATCH_LIMITS.entities &&
      (request.bytes + bytes <= LOG_BATCH_LIMITS.bytes || request.bytes === 200) &&
      !(kind === 'params' && request.keys.has(entity.key));
    // Always forward: points of a metric keep their order across requests.
    if (!fits(current)) current = fresh();
    (current[kind] as (MlflowMetric | MlflowKeyValue)[]).push(entity);
    current.bytes += bytes;
    if (kind === 'params') current.keys.add(entity.key);
  };
  for (const param of batch.params ?? []) place('params', param);
  for (const tag of batch.tags ?? []) place('tags', tag);
  for (const metric of batch.metrics ?? []) place('metrics', metric);
  return requests
    .filter((request) => request.metrics.length + request.params.length + request.tags.length > 0)
    .map(({ metrics, params, tags }) => ({
      ...(metrics.length ? { metrics } : {}),
      ...(params.length ? { params } : {}),
      ...(tags.length ? { tags } : {}),
    }));
}
