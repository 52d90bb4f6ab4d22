import type { TrialInfo, TrialObserver, TrialResult } from './trial-observer.js';

/** One trial being recorded: it observes the trial's events, and the runner ends it. */
export interface TrialRecording extends TrialObserver {
  readonly runId: string;
  /** Where a person finds the run (a folder, or a UI address). */
  readonly location: string;
  /** Records the result and ends the run FINISHED. */
  finish(result: TrialResult): Promise<void>;
  /** Ends the run FAILED, or KILLED when it was interrupted, with the reason. */
  fail(error: unknown, interrupted: boolean): Promise<void>;
}

/** Starts the record of a trial (an MLflow run). The runner owns it, so the run id reaches the caller through the runner. */
export const TrialRecorder = Symbol('TrialRecorder');
export interface TrialRecorder {
  begin(trial: TrialInfo): Promise<TrialRecording>;
}
