import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ThawError } from '@thaw/contracts';
import { readRunInputs, type LocalRunDetails } from './file-store-tracker.js';
import { mlflowDatasetInput } from './run-datasets.js';
import type { MlflowClient } from './mlflow-client.js';
import type { MlflowMetric } from './mlflow-types.js';
import { writeSyncState, type SyncState } from './sync-state.js';

/** What syncing one run sent (or, in a dry run, would send). */
export interface RunSyncReport {
  readonly localRunId: string;
  readonly runName: string;
  readonly remoteRunId: string | undefined;
  readonly createdRun: boolean;
  readonly params: number;
  readonly tags: number;
  readonly metricPoints: number;
  readonly artifacts: number;
  readonly status: string | undefined;
}

export interface SyncRunOptions {
  readonly dryRun: boolean;
  /** The server's id of the experiment, created when missing. */
  readonly experimentId: (name: string) => Promise<string>;
  /** The server's id of a local run (a parent), when it has one. */
  readonly remoteIdOf: (localRunId: string) => Promise<string | undefined>;
  /** Where the run's state for this server is kept (default: its `thaw-sync.json`). */
  readonly saveState?: (state: SyncState) => Promise<void>;
}

function pointKey(point: Pick<MlflowMetric, 'step' | 'timestamp' | 'value'>): string {
  return `${point.step}|${point.timestamp}|${Number.isNaN(point.value) ? 'NaN' : String(point.value)}`;
}

/**
 * Makes the server hold everything a local run holds, sending only what it lacks: a run replayed
 * twice, or after a live session that got halfway, gains no second metric point and no second
 * param. Params that differ on the server are an error (MLflow params never change).
 */
export async function syncRun(
  client: MlflowClient,
  local: LocalRunDetails,
  state: SyncState,
  options: SyncRunOptions,
): Promise<RunSyncReport> {
  const save = options.saveState ?? ((next: SyncState) => writeSyncState(local.dir, next));
  let remoteRunId = state.remoteRunId;
  let artifactUri = state.artifactUri;
  let createdRun = false;
  const tags: Record<string, string> = { ...local.tags };
  const parent = tags['mlflow.parentRunId'];
  if (parent !== undefined) tags['mlflow.parentRunId'] = (await options.remoteIdOf(parent)) ?? parent;

  let remote = remoteRunId === undefined ? undefined : await client.getRun(remoteRunId);
  if (remote === undefined && !options.dryRun) {
    const experimentId = await options.experimentId(state.experimentName);
    remote = await client.createRun({ experimentId, runName: local.runName, startTime: local.startTime, tags: {}, userId: local.userId });
    remoteRunId = remote.info.run_id;
    artifactUri = remote.info.artifact_uri;
    createdRun = true;
    // Recorded at once: a sync that stops here must not create a second run next time.
    state = { ...state, remoteRunId, remoteExperimentId: experimentId, artifactUri, pending: true };
    await save(state);
  }
  artifactUri ??= remote?.info.artifact_uri;

  const remoteParams = new Map((remote?.data.params ?? []).map(({ key, value }) => [key, value]));
  const remoteTags = new Map((remote?.data.tags ?? []).map(({ key, value }) => [key, value]));
  const params = Object.entries(local.params).filter(([key]) => !remoteParams.has(key));
  for (const [key, value] of Object.entries(local.params)) {
    const there = remoteParams.get(key);
    if (there !== undefined && there !== value) {
      throw new ThawError(
        `run ${local.runName} (${local.dir}): param ${key} is ${JSON.stringify(value)} here but ${JSON.stringify(there)} on ${client.url}; MLflow params cannot change`,
      );
    }
  }
  const newTags = Object.entries(tags).filter(([key, value]) => remoteTags.get(key) !== value);

  const metrics: MlflowMetric[] = [];
  const byKey = new Map<string, typeof local.points>();
  for (const point of local.points) byKey.set(point.key, [...(byKey.get(point.key) ?? []), point]);
  for (const [key, points] of byKey) {
    const there = new Map<string, number>();
    if (remote !== undefined) {
      for (const point of await client.getMetricHistory(remote.info.run_id, key))
        there.set(pointKey(point), (there.get(pointKey(point)) ?? 0) + 1);
    }
    for (const point of points) {
      const count = there.get(pointKey(point)) ?? 0;
      if (count > 0) there.set(pointKey(point), count - 1);
      else metrics.push(point);
    }
  }

  const remoteFiles = new Map<string, number | undefined>();
  if (remote !== undefined)
    for (const file of await client.listArtifactFiles(remote.info.run_id)) remoteFiles.set(file.path, file.file_size);
  const artifacts: string[] = [];
  for (const path of local.artifacts) {
    const size = (await readFile(join(local.dir, 'artifacts', path))).length;
    if (remoteFiles.get(path) !== size) artifacts.push(path);
  }

  const ended = local.status !== 'RUNNING';
  const statusChange = ended && (remote?.info.status !== local.status || remote.info.end_time !== local.endTime) ? local.status : undefined;

  if (!options.dryRun && remoteRunId !== undefined) {
    await client.logBatch(remoteRunId, {
      params: params.map(([key, value]) => ({ key, value })),
      tags: newTags.map(([key, value]) => ({ key, value })),
      metrics,
    });
    for (const path of artifacts) await client.uploadArtifact(artifactUri!, path, await readFile(join(local.dir, 'artifacts', path)));
    // The server keeps a (name, digest) pair a run has as it was: sending them all again adds nothing.
    const inputs = await readRunInputs(local.dir);
    if (inputs.length > 0) await client.logInputs(remoteRunId, inputs.map(mlflowDatasetInput));
    if (statusChange !== undefined) await client.updateRun(remoteRunId, statusChange, local.endTime);
    await save({ ...state, remoteRunId, ...(artifactUri ? { artifactUri } : {}), pending: !ended });
  }
  return {
    localRunId: local.runId,
    runName: local.runName,
    remoteRunId,
    createdRun: createdRun || remote === undefined,
    params: params.length,
    tags: newTags.length,
    metricPoints: metrics.length,
    artifacts: artifacts.length,
    status: statusChange,
  };
}
