import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Beside each local run that mirrors (or waits for) a server's run: which server, which run
 * there, and whether everything is known to be there. MLflow ignores the file.
 */
export interface SyncState {
  /** The server's URL, without credentials. */
  readonly server: string;
  readonly experimentName: string;
  /** The run on the server; absent while the server has not seen it. */
  readonly remoteRunId?: string;
  readonly remoteExperimentId?: string;
  readonly artifactUri?: string;
  /** True until the server is known to hold everything the local run holds. */
  readonly pending: boolean;
}

export const SYNC_STATE_FILE = 'thaw-sync.json';

export async function readSyncState(runDir: string): Promise<SyncState | undefined> {
  try {
    return JSON.parse(await readFile(join(runDir, SYNC_STATE_FILE), 'utf8')) as SyncState;
  } catch {
    return undefined;
  }
}

export async function writeSyncState(runDir: string, state: SyncState): Promise<void> {
  const file = join(runDir, SYNC_STATE_FILE);
  await writeFile(`${file}.tmp`, JSON.stringify(state, undefined, 2));
  await rename(`${file}.tmp`, file);
}
