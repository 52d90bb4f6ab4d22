import { ThawError, messageOf } from '@thaw/contracts';
import { readRunDetails, type FileStoreTracker } from './file-store-tracker.js';
import { MlflowUnreachableError, type MlflowClient } from './mlflow-client.js';
import { syncRun, type RunSyncReport } from './sync-run.js';
import { readSyncState, type SyncState } from './sync-state.js';
import { deadOwner } from './run-liveness.js';

/**
 * Sends what an MLflow server lacks of the runs mirrored locally for it: every pending run
 * (`thaw sync`), or one run whose server came back before it ended.
 */
export class RunSync {
  constructor(
    private readonly client: MlflowClient,
    private readonly local: FileStoreTracker,
    /** The server's id of an experiment, created when missing. */
    private readonly experimentId: (name: string) => Promise<string>,
  ) {}

  /** Sends every pending local run of this server to it (parents first); a dry run only counts. */
  async syncPending(dryRun: boolean, onRun: (report: RunSyncReport) => void = () => undefined): Promise<RunSyncReport[]> {
    const pending: { dir: string; state: SyncState; parent: boolean }[] = [];
    for (const dir of await this.local.allRunDirs()) {
      const state = await readSyncState(dir);
      if (state?.pending !== true || state.server !== this.client.url) continue;
      let details = await readRunDetails(dir);
      // A run whose process died is ended KILLED here first, so the server does not keep it RUNNING either.
      const reason = details.lifecycleStage === 'deleted' ? undefined : deadOwner({ ...details, metrics: {} });
      if (reason !== undefined && !dryRun) {
        const run = await this.local.resumeRun(state.experimentName, details.runId);
        await run.setTags({ 'thaw.error': `ended by thaw sync: ${reason} while the run was RUNNING` });
        await run.end('KILLED');
        details = await readRunDetails(dir);
      }
      pending.push({ dir, state, parent: details.tags['mlflow.parentRunId'] === undefined });
    }
    pending.sort((a, b) => Number(b.parent) - Number(a.parent));
    const reports: RunSyncReport[] = [];
    const failures: string[] = [];
    for (const { dir } of pending) {
      try {
        const report = await this.syncDir(dir, dryRun);
        reports.push(report);
        onRun(report);
      } catch (error) {
        // The server gone: nothing else can be sent either. Anything else concerns this run only.
        if (error instanceof MlflowUnreachableError) throw error;
        failures.push(`${dir}: ${messageOf(error)}`);
      }
    }
    if (failures.length > 0) {
      throw new ThawError(`${failures.length} run(s) could not be sent (the others were):\n  ${failures.join('\n  ')}`);
    }
    return reports;
  }

  /** Sends what one local run holds and the server lacks. */
  async syncDir(dir: string, dryRun = false): Promise<RunSyncReport> {
    const state = await readSyncState(dir);
    if (state === undefined) throw new ThawError(`${dir} is not a run recorded for an MLflow server (no ${'thaw-sync.json'})`);
    return syncRun(this.client, await readRunDetails(dir), state, {
      dryRun,
      experimentId: this.experimentId,
      remoteIdOf: async (localRunId) => {
        const other = await this.local.findRunDir(localRunId);
        return other === undefined ? undefined : (await readSyncState(other))?.remoteRunId;
      },
    });
  }
}
