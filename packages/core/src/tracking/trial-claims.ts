import type { RunRecord } from '@thaw/contracts';
import { OWNER_TAG, deadOwner } from './run-liveness.js';

/**
 * How long a new claim waits before it is checked again (THAW_CLAIM_SETTLE_MS, default 500 ms):
 * a competitor whose run started earlier but became visible later (its creation still under way at
 * the first check) is seen by then, so both sides agree on the holder.
 */
export function claimSettleMs(env: NodeJS.ProcessEnv = process.env): number {
  const value = Number(env['THAW_CLAIM_SETTLE_MS'] ?? 500);
  return Number.isFinite(value) && value >= 0 ? value : 500;
}

/** Exit code of a `thaw run` whose sweep trial another process holds (EX_TEMPFAIL). */
export const CLAIMED_EXIT_CODE = 75;

/** Thrown when a sweep trial is already trained, or being trained, by another process. */
export class TrialClaimed extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TrialClaimed';
  }

  static by(holder: RunRecord, trial: string): TrialClaimed {
    const owner = holder.tags[OWNER_TAG] === undefined ? '' : ` (${holder.tags[OWNER_TAG]})`;
    return new TrialClaimed(
      `${trial}: ${holder.status === 'FINISHED' ? 'already trained' : 'being trained'} by run ${holder.runId}${owner}`,
    );
  }
}

/**
 * Which run holds a sweep trial, given the runs of that trial (same sweep run, same config hash):
 * a FINISHED one; else, among RUNNING ones whose owner lives, the first started (ties by run id),
 * which every process that reads the same runs agrees on. Undefined when `mine` holds it, or
 * nobody does.
 */
export function claimHolder(runs: readonly RunRecord[], mine?: string, now = Date.now()): RunRecord | undefined {
  const finished = runs.find((run) => run.status === 'FINISHED' && run.runId !== mine);
  if (finished) return finished;
  const live = runs
    .filter((run) => run.status === 'RUNNING' && (run.runId === mine || deadOwner(run, now) === undefined))
    .sort((a, b) => a.startTime - b.startTime || (a.runId < b.runId ? -1 : a.runId > b.runId ? 1 : 0));
  const first = live[0];
  return first === undefined || first.runId === mine ? undefined : first;
}

/**
 * claimHolder over the runs `find` reads, read again after claimSettleMs when none but `mine`
 * holds the claim at first: a competitor created at the same moment is visible by then.
 */
export async function settledClaimHolder(find: () => Promise<readonly RunRecord[]>, mine: string): Promise<RunRecord | undefined> {
  const holder = claimHolder(await find(), mine);
  if (holder !== undefined) return holder;
  await new Promise((resolve) => setTimeout(resolve, claimSettleMs()));
  return claimHolder(await find(), mine);
}
