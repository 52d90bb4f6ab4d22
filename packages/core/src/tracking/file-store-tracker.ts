import { checkWritableFolder } from '../util/check-writable-folder.js';
import { randomInt, randomUUID } from 'node:crypto';
import { appendFile, cp, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { withPath } from '../util/with-path.js';
import { basename, dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse, stringify } from 'yaml';
import {
  ThawError,
  describeValue,
  type MetricPoint,
  type RunRecord,
  type RunStatus,
  type StartRunRequest,
  type TrackedRun,
  type Tracker,
  type RunDataset,
} from '@thaw/contracts';
import { checkMlflowKey } from './mlflow-keys.js';
import { fitValues } from './value-limits.js';

/** MLflow's numeric run statuses in meta.yaml. */
const STATUS_CODES: Record<RunStatus, number> = { RUNNING: 1, FINISHED: 3, FAILED: 4, KILLED: 5 };
const EXPERIMENT_KIND_TAG = 'mlflow.experimentKind';

function yaml(value: unknown): string {
  return stringify(value, { singleQuote: true, lineWidth: 0 });
}

const INPUTS_FILE = 'thaw-inputs.json';

/** The datasets a local run logged as its inputs (none when it logged none). */
export async function readRunInputs(dir: string): Promise<RunDataset[]> {
  try {
    return JSON.parse(await readFile(join(dir, INPUTS_FILE), 'utf8')) as RunDataset[];
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

/** Python's repr of a float, as MLflow writes metric values. */
export function formatMetricValue(value: number): string {
  if (Number.isNaN(value)) return 'nan';
  if (value === Infinity) return 'inf';
  if (value === -Infinity) return '-inf';
  return Number.isInteger(value) && Math.abs(value) < 1e16 ? value.toFixed(1) : String(value);
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * MLflow's own file store (`mlruns/`), written as the MLflow client writes it, so that MLflow
 * can read it (`mlflow ui --backend-store-uri ./mlruns`) or migrate it (`mlflow migrate-filestore`).
 */
export class FileStoreTracker implements Tracker {
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  checkWritable(where: string): void {
    checkWritableFolder(this.root, where);
  }

  get location(): string {
    return this.root;
  }

  async startRun(request: StartRunRequest): Promise<FileStoreRun> {
    return this.createRun(request, randomUUID().replaceAll('-', ''));
  }

  /**
   * A new run with a given id and start time (a mirror of a server's run keeps the server's id and
   * time). Without one, the start time is taken as the run becomes visible, so that runs started
   * earlier are seen earlier, which sweep claims rely on.
   */
  async createRun(request: StartRunRequest, runId: string, startTime?: number): Promise<FileStoreRun> {
    const experimentId = await this.experimentId(request.experimentName);
    const runDir = join(this.root, experimentId, runId);
    await mkdir(join(runDir, 'artifacts'), { recursive: true });
    const meta = {
      artifact_uri: `${pathToFileURL(join(runDir, 'artifacts')).href}`,
      end_time: null,
      entry_point_name: '',
      experiment_id: experimentId,
      lifecycle_stage: 'active',
      run_id: runId,
      run_name: request.runName,
      source_name: '',
      source_type: 4,
      source_version: '',
      start_time: startTime ?? 0,
      status: STATUS_CODES.RUNNING,
      tags: [],
      user_id: request.tags['mlflow.user'] ?? '',
    };
    const run = new FileStoreRun(runDir, runId, experimentId, meta);
    const tags: Record<string, string> = { ...request.tags, 'mlflow.runName': request.runName };
    if (request.parentRunId !== undefined) tags['mlflow.parentRunId'] = request.parentRunId;
    try {
      // Tags first, meta.yaml last and whole (renamed into place): a run is seen complete or not at
      // all, as a server's runs/create makes it, which sweep claims rely on.
      await run.setTags(tags);
      meta.start_time = startTime ?? Date.now();
      const file = join(runDir, 'meta.yaml');
      await withPath(file, () => writeFile(`${file}.tmp`, yaml(meta)));
      await rename(`${file}.tmp`, file);
    } catch (error) {
      // A run that could not be fully created (a full disk) is removed, never left RUNNING.
      await rm(runDir, { recursive: true, force: true }).catch(() => undefined);
      throw error;
    }
    return run;
  }

  async findRuns(experimentName: string, tags: Readonly<Record<string, string>>): Promise<RunRecord[]> {
    const experimentId = await this.findExperiment(experimentName);
    if (experimentId === undefined) return [];
    const records: RunRecord[] = [];
    for (const entry of await readdir(join(this.root, experimentId), { withFileTypes: true })) {
      if (!entry.isDirectory() || entry.name === 'tags') continue;
      const record = await readRun(join(this.root, experimentId, entry.name)).catch(() => undefined);
      if (record && Object.entries(tags).every(([key, value]) => record.tags[key] === value)) records.push(record);
    }
    return records.sort((a, b) => a.startTime - b.startTime);
  }

  /** The folder of a run of an experiment, or undefined when this store does not hold it. */
  async runDir(experimentName: string, runId: string): Promise<string | undefined> {
    const experimentId = await this.findExperiment(experimentName);
    const dir = experimentId === undefined ? undefined : join(this.root, experimentId, runId);
    return dir !== undefined && (await exists(join(dir, 'meta.yaml'))) ? dir : undefined;
  }

  /** Every run folder of the store, experiment by experiment. */
  async allRunDirs(): Promise<string[]> {
    const dirs: string[] = [];
    if (!(await exists(this.root))) return dirs;
    for (const experiment of await readdir(this.root, { withFileTypes: true })) {
      if (!experiment.isDirectory() || experiment.name.startsWith('.')) continue;
      for (const run of await readdir(join(this.root, experiment.name), { withFileTypes: true })) {
        const dir = join(this.root, experiment.name, run.name);
        if (run.isDirectory() && (await exists(join(dir, 'meta.yaml')))) dirs.push(dir);
      }
    }
    return dirs;
  }

  /** The folder of a run, whatever its experiment; undefined when this store does not hold it. */
  async findRunDir(runId: string): Promise<string | undefined> {
    return (await this.allRunDirs()).find((candidate) => basename(candidate) === runId);
  }

  async artifactFolder(runId: string, artifactPath: string): Promise<string | undefined> {
    const dir = await this.findRunDir(runId);
    const folder = dir === undefined ? undefined : join(dir, 'artifacts', artifactPath);
    return folder !== undefined && (await exists(folder)) ? folder : undefined;
  }

  async getRun(runId: string): Promise<(RunRecord & { experimentName: string }) | undefined> {
    const dir = await this.findRunDir(runId);
    if (dir === undefined) return undefined;
    const run = await readRun(dir);
    if (run === undefined) return undefined;
    const meta = await this.readExperimentMeta(basename(dirname(dir)));
    return { ...run, experimentName: typeof meta?.['name'] === 'string' ? meta['name'] : '' };
  }

  async resumeRun(experimentName: string, runId: string): Promise<FileStoreRun> {
    const experimentId = await this.findExperiment(experimentName);
    const dir = experimentId === undefined ? undefined : join(this.root, experimentId, runId);
    if (dir === undefined || !(await exists(join(dir, 'meta.yaml')))) {
      throw new ThawError(`run ${runId} not found in experiment ${JSON.stringify(experimentName)} of ${this.root}`);
    }
    const meta = parse(await readFile(join(dir, 'meta.yaml'), 'utf8')) as Record<string, unknown>;
    meta['status'] = STATUS_CODES.RUNNING;
    meta['end_time'] = null;
    await writeFile(join(dir, 'meta.yaml'), yaml(meta));
    return new FileStoreRun(dir, runId, experimentId!, meta);
  }

  async findExperiment(name: string): Promise<string | undefined> {
    if (!(await exists(this.root))) return undefined;
    for (const entry of await readdir(this.root, { withFileTypes: true })) {
      if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
      const meta = await this.readExperimentMeta(entry.name);
      if (meta?.['name'] === name && meta['lifecycle_stage'] === 'active') return String(meta['experiment_id']);
    }
    return undefined;
  }

  /** The id of the active experiment with this name, created (with Default beside it) when missing. */
  async experimentId(name: string): Promise<string> {
    await mkdir(this.root, { recursive: true });
    await this.ensureExperiment('0', 'Default');
    const found = await this.findExperiment(name);
    if (found !== undefined) return found;
    // crypto, not Math.random: a trial seeds Math.random, and ids must differ between stores.
    let id: string;
    do id = String(randomInt(1e11, 9e11)) + String(randomInt(1e6, 9e6));
    while (await exists(join(this.root, id)));
    await this.ensureExperiment(id, name);
    await mkdir(join(this.root, id, 'tags'), { recursive: true });
    await writeFile(join(this.root, id, 'tags', EXPERIMENT_KIND_TAG), 'custom_model_development');
    return id;
  }

  private async readExperimentMeta(id: string): Promise<Record<string, unknown> | undefined> {
    try {
      return parse(await readFile(join(this.root, id, 'meta.yaml'), 'utf8')) as Record<string, unknown>;
    } catch {
      return undefined;
    }
  }

  private async ensureExperiment(id: string, name: string): Promise<void> {
    const dir = join(this.root, id);
    if (await exists(join(dir, 'meta.yaml'))) return;
    await mkdir(dir, { recursive: true });
    const now = Date.now();
    const meta = {
      artifact_location: pathToFileURL(dir).href,
      creation_time: now,
      experiment_id: id,
      last_update_time: now,
      lifecycle_stage: 'active',
      name,
      trace_location: null,
      workspace: 'default',
    };
    await writeFile(join(dir, 'meta.yaml'), yaml(meta));
  }
}

const STATUS_NAMES = Object.fromEntries(Object.entries(STATUS_CODES).map(([name, code]) => [code, name])) as Record<number, RunStatus>;

/** Files of a folder (recursively, keys with '/' are nested), as key → content. */
async function readKeyed(dir: string, prefix = ''): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    const key = `${prefix}${entry.name}`;
    if (entry.isDirectory()) Object.assign(out, await readKeyed(join(dir, entry.name), `${key}/`));
    else out[key] = await readFile(join(dir, entry.name), 'utf8');
  }
  return out;
}

function parseMetricValue(text: string): number {
  return text === 'nan' ? NaN : text === 'inf' ? Infinity : text === '-inf' ? -Infinity : Number(text);
}

/** Everything a local run holds, as `thaw sync` replays it to a server. */
export interface LocalRunDetails {
  readonly dir: string;
  readonly experimentId: string;
  readonly runId: string;
  readonly runName: string;
  readonly status: RunStatus;
  readonly startTime: number;
  readonly endTime: number | undefined;
  readonly userId: string;
  /** `deleted` for a run deleted as MLflow deletes: hidden from searches. */
  readonly lifecycleStage: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly params: Readonly<Record<string, string>>;
  readonly points: readonly MetricPoint[];
  /** Artifact paths relative to the run's artifact root. */
  readonly artifacts: readonly string[];
}

async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    if (entry.isDirectory()) files.push(...(await listFiles(join(dir, entry.name), `${prefix}${entry.name}/`)));
    else files.push(`${prefix}${entry.name}`);
  }
  return files;
}

export async function readRunDetails(dir: string): Promise<LocalRunDetails> {
  const meta = parse(await readFile(join(dir, 'meta.yaml'), 'utf8')) as Record<string, unknown>;
  const points: MetricPoint[] = [];
  for (const [key, text] of Object.entries(await readKeyed(join(dir, 'metrics')))) {
    for (const line of text.split('\n')) {
      const [timestamp, value, step] = line.trim().split(' ');
      if (timestamp === undefined || timestamp === '' || value === undefined) continue;
      points.push({ key, timestamp: Number(timestamp), value: parseMetricValue(value), step: Number(step ?? 0) });
    }
  }
  const endTime = meta['end_time'];
  return {
    dir,
    experimentId: String(meta['experiment_id']),
    runId: String(meta['run_id']),
    runName: String(meta['run_name']),
    status: STATUS_NAMES[Number(meta['status'])] ?? 'RUNNING',
    startTime: Number(meta['start_time']),
    endTime: endTime === null || endTime === undefined ? undefined : Number(endTime),
    userId: typeof meta['user_id'] === 'string' ? meta['user_id'] : '',
    lifecycleStage: typeof meta['lifecycle_stage'] === 'string' ? meta['lifecycle_stage'] : 'active',
    tags: await readKeyed(join(dir, 'tags')),
    params: await readKeyed(join(dir, 'params')),
    points,
    artifacts: await listFiles(join(dir, 'artifacts')),
  };
}

async function readRun(dir: string): Promise<RunRecord | undefined> {
  const details = await readRunDetails(dir);
  if (details.lifecycleStage === 'deleted') return undefined;
  const metrics: Record<string, number[]> = {};
  for (const point of [...details.points].sort((a, b) => a.step - b.step)) (metrics[point.key] ??= []).push(point.value);
  const { runId, runName, status, startTime, tags, params } = details;
  return { runId, runName, status, startTime, tags, params, metrics };
}

export class FileStoreRun implements TrackedRun {
  constructor(
    private readonly dir: string,
    readonly runId: string,
    readonly experimentId: string,
    private readonly meta: Record<string, unknown>,
  ) {}

  get location(): string {
    return this.dir;
  }

  async logParams(params: Readonly<Record<string, string>>): Promise<void> {
    for (const key of Object.keys(params)) checkMlflowKey('param', key);
    const fitted = fitValues('param', params);
    for (const { path, content } of fitted.overflow) await this.logArtifact(path, content);
    for (const [key, value] of Object.entries(fitted.values)) {
      const file = join(this.dir, 'params', key);
      if (await exists(file)) {
        const previous = await readFile(file, 'utf8');
        if (previous !== value) {
          throw new ThawError(
            `param ${key} of run ${this.runId} is already ${describeValue(previous)}; params cannot change (received ${describeValue(value)})`,
          );
        }
        continue;
      }
      await mkdir(dirname(file), { recursive: true });
      await withPath(file, () => writeFile(file, value));
    }
  }

  async logMetrics(points: readonly MetricPoint[]): Promise<void> {
    const lines = new Map<string, string[]>();
    for (const point of points) {
      checkMlflowKey('metric', point.key);
      const text = `${Math.round(point.timestamp)} ${formatMetricValue(point.value)} ${point.step}\n`;
      lines.set(point.key, [...(lines.get(point.key) ?? []), text]);
    }
    for (const [key, texts] of lines) {
      const file = join(this.dir, 'metrics', key);
      await mkdir(dirname(file), { recursive: true });
      await withPath(file, () => appendFile(file, texts.join('')));
    }
  }

  async setTags(tags: Readonly<Record<string, string>>): Promise<void> {
    for (const key of Object.keys(tags)) checkMlflowKey('tag', key);
    const fitted = fitValues('tag', tags);
    for (const { path, content } of fitted.overflow) await this.logArtifact(path, content);
    for (const [key, value] of Object.entries(fitted.values)) {
      const file = join(this.dir, 'tags', key);
      await mkdir(dirname(file), { recursive: true });
      await withPath(file, () => writeFile(file, value));
    }
  }

  async logArtifact(artifactPath: string, content: string | Uint8Array): Promise<void> {
    const file = join(this.dir, 'artifacts', artifactPath);
    await mkdir(dirname(file), { recursive: true });
    await withPath(file, () => writeFile(file, content));
  }

  async logArtifactDirectory(localDir: string, artifactPath: string): Promise<void> {
    const target = join(this.dir, 'artifacts', artifactPath);
    await withPath(target, () => cp(localDir, target, { recursive: true }));
  }

  get dirPath(): string {
    return this.dir;
  }

  async end(status: Exclude<RunStatus, 'RUNNING'>, endTime = Date.now()): Promise<void> {
    this.meta['status'] = STATUS_CODES[status];
    this.meta['end_time'] = endTime;
    const file = join(this.dir, 'meta.yaml');
    await withPath(file, () => writeFile(file, yaml(this.meta)));
  }

  /**
   * MLflow's own file store keeps datasets in a layout of its own; thaw keeps them beside the run,
   * in `thaw-inputs.json` (as `thaw-sync.json`), from which `thaw sync` sends them to a server.
   * A (name, digest) pair the run has already is kept as it was, as the server does.
   */
  async logInputs(datasets: readonly RunDataset[]): Promise<void> {
    const known = await readRunInputs(this.dir);
    const added = datasets.filter((dataset) => !known.some((k) => k.name === dataset.name && k.digest === dataset.digest));
    if (added.length === 0) return;
    const file = join(this.dir, INPUTS_FILE);
    await withPath(file, () => writeFile(file, `${JSON.stringify([...known, ...added], undefined, 2)}\n`));
  }

  /** A local file store has no logged models: the model stays among the run's artifacts. */
  logModel(): Promise<string | undefined> {
    return Promise.resolve(undefined);
  }

  async discard(): Promise<void> {
    this.meta['lifecycle_stage'] = 'deleted';
    this.meta['deleted_time'] = Date.now();
    await writeFile(join(this.dir, 'meta.yaml'), yaml(this.meta));
  }
}
