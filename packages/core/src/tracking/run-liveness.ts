import { hostname } from 'node:os';
import { messageOf, type Logger, type RunRecord, type TrackedRun, type Tracker } from '@thaw/contracts';
import { openRuns } from './open-runs.js';

export const OWNER_TAG = 'thaw.owner';
export const HEARTBEAT_TAG = 'thaw.heartbeat';

/** How often a running trial or sweep proves it is alive (THAW_HEARTBEAT_MS, default 30 s). */
export function heartbeatMs(env: NodeJS.ProcessEnv = process.env): number {
  const value = Number(env['THAW_HEARTBEAT_MS'] ?? 30_000);
  return Number.isFinite(value) && value >= 100 ? value : 30_000;
}

/** The process that owns a run, as recorded: `host:pid`. */
export function ownerTags(now = Date.now()): Record<string, string> {
  return { [OWNER_TAG]: `${hostname()}:${process.pid}`, [HEARTBEAT_TAG]: String(now) };
}

/**
 * Refreshes a run's heartbeat tag until stopped, so that whoever finds the run RUNNING later can
 * tell a live owner from a dead one; meanwhile the run is among the process's open runs (ended
 * KILLED by a second Ctrl-C). The timer never keeps the process alive; a failed beat is told once
 * and retried at the next.
 */
export function keepAlive(run: TrackedRun, log: Logger, every = heartbeatMs()): () => void {
  openRuns.add(run);
  let told = false;
  let beating: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    beating = run.setTags({ [HEARTBEAT_TAG]: String(Date.now()) }).catch((error: unknown) => {
      if (!told) log.warn(`heartbeat of run ${run.runId}: ${messageOf(error)}`);
      told = true;
    });
  }, every);
  timer.unref();
  return () => {
    clearInterval(timer);
    openRuns.delete(run);
    void beating;
  };
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Why a RUNNING run's owner is dead, or undefined while it lives: on this host, its process is
 * gone (or its pid was reused: no beat for three periods); elsewhere, no beat for three periods.
 * A run without an owner tag (recorded before owners were) is judged by its beat alone, if any.
 */
export function deadOwner(run: RunRecord, now = Date.now(), every = heartbeatMs()): string | undefined {
  if (run.status !== 'RUNNING') return undefined;
  const owner = run.tags[OWNER_TAG];
  const beat = Number(run.tags[HEARTBEAT_TAG]);
  const stale = Number.isFinite(beat) && now - beat > 3 * every;
  const silence = Number.isFinite(beat) ? `${Math.round((now - beat) / 1000)} s without a heartbeat` : 'no heartbeat';
  if (owner === undefined) return stale ? `its owner gave ${silence}` : undefined;
  const [host, pidText] = [owner.slice(0, owner.lastIndexOf(':')), owner.slice(owner.lastIndexOf(':') + 1)];
  const pid = Number(pidText);
  if (host === hostname() && Number.isInteger(pid)) {
    if (!processAlive(pid)) return `its process ${owner} is gone`;
    return stale ? `its process ${owner} gave ${silence} (the pid now belongs to another process)` : undefined;
  }
  return stale ? `its process ${owner} gave ${silence}` : undefined;
}

/**
 * Ends KILLED, with the reason as `thaw.error`, every RUNNING run among `runs` whose owner is dead;
 * returns the runs as they stand afterwards. `finder` says who found them (for the record).
 */
export async function endDeadRuns(
  tracker: Tracker,
  experimentName: string,
  runs: readonly RunRecord[],
  finder: string,
  log: Logger,
): Promise<RunRecord[]> {
  const out: RunRecord[] = [];
  for (const run of runs) {
    const reason = deadOwner(run);
    if (reason === undefined) {
      out.push(run);
      continue;
    }
    const reopened = await tracker.resumeRun(experimentName, run.runId);
    await reopened.setTags({ 'thaw.error': `ended by ${finder}: ${reason} while the run was RUNNING` });
    await reopened.end('KILLED');
    log.warn(`run ${run.runId} (${run.runName}) was left RUNNING: ${reason}; recorded as KILLED`);
    out.push({ ...run, status: 'KILLED' });
  }
  return out;
}
