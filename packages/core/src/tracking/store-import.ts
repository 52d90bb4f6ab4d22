import { readFile, writeFile } from 'node:fs/promises';
import { readRunDetails, type FileStoreTracker } from './file-store-tracker.js';
import type { MlflowClient } from './mlflow-client.js';
import { syncRun, type RunSyncReport } from './sync-run.js';
import type { SyncState } from './sync-state.js';

/**
 * Copies every run of a local store into a server that only mirrors it (`thaw ui`'s own MLflow),
 * parents first, with the same sync as `thaw sync`: only what the server lacks is sent, so doing
 * it again sends nothing. The mirror's run ids are kept in `statePath`, not beside the runs, so the
 * runs' own record for a real server (`thaw-sync.json`) is left alone.
 */
export async function importStore(client: MlflowClient, local: FileStoreTracker, statePath: string): Promise<RunSyncReport[]> {
  const states: Record<string, SyncState> = await readFile(statePath, 'utf8')
    .then((text) => JSON.parse(text) as Record<string, SyncState>)
    .catch(() => ({}));
  const saveStates = () => writeFile(statePath, `${JSON.stringify(states, undefined, 2)}\n`);
  const runs = [];
  for (const dir of await local.allRunDirs()) {
    const details = await readRunDetails(dir);
    if (details.lifecycleStage === 'deleted') continue;
    const record = await local.getRun(details.runId);
    runs.push({ details, experimentName: record?.experimentName ?? 'Default' });
  }
  runs.sort(
    (a, b) => Number(a.details.tags['mlflow.parentRunId'] !== undefined) - Number(b.details.tags['mlflow.parentRunId'] !== undefined),
  );
  const experimentIds = new Map<string, string>();
  const experimentId = async (name: string) => {
    let id = experimentIds.get(name) ?? (await client.getExperimentByName(name))?.experiment_id;
    id ??= await client.createExperiment(name);
    experimentIds.set(name, id);
    return id;
  };
  const reports: RunSyncReport[] = [];
  for (const { details, experimentName } of runs) {
    const state = states[details.runId] ?? { server: client.url, experimentName, pending: true };
    if (!state.pending && details.status !== 'RUNNING') continue;
    reports.push(
      await syncRun(client, details, state, {
        dryRun: false,
        experimentId,
        remoteIdOf: (localRunId) => Promise.resolve(states[localRunId]?.remoteRunId),
        saveState: async (next) => {
          states[details.runId] = next;
          await saveStates();
        },
      }),
    );
  }
  return reports;
}
