import type { TrialPlan } from './trial-plan.js';
import type { BuiltModel, ModelFacts } from './built-model.js';
import type { Evaluation } from './evaluate-stage.js';
import type { Phase } from './strategy-plugin.js';
import type { EpochLogs, TrainResult } from './train-stage.js';

/** What identifies one trial. */
export interface TrialInfo {
  readonly plan: TrialPlan;
  readonly loaded: TrialPlan['loaded'];
  readonly runName: string;
  /** Hash of the resolved spec: equal configurations have equal hashes. */
  readonly configHash: string;
  readonly backend: string;
  /** A parent run (a sweep) to record this trial under. */
  readonly parentRunId?: string;
}

/** How much an epoch holds, told as it begins (for progress and time left). */
export interface EpochSize {
  readonly batches: number;
  readonly images: number;
}

export interface BatchLogs {
  readonly epoch: number;
  readonly batch: number;
  readonly size: number;
  readonly loss: number;
}

/** One split of the data as a trial used it. */
export interface SplitRecord {
  readonly split: 'train' | 'validation' | 'test';
  readonly count: number;
  /** One image: [height, width, channels]. */
  readonly imageShape: readonly [number, number, number];
  /** 8 hex characters identifying the split's images (as its content key says) and labels. */
  readonly digest: string;
}

export interface TrialResult {
  readonly trial: TrialInfo;
  readonly built: BuiltModel;
  readonly facts: ModelFacts;
  readonly phases: readonly Phase[];
  readonly train: TrainResult;
  readonly evaluation: Evaluation;
  readonly dataSource: string;
  /** The three splits as the trial used them: what a tracker records as the run's datasets. */
  readonly splits: readonly SplitRecord[];
  /** What the dataset counted (images skipped, files ignored …), recorded as params `data.<name>`. */
  readonly dataNotes: Readonly<Record<string, number>>;
  /** Keras-style model.summary() and the units, taken right after the build. */
  readonly modelSummary: string;
  readonly seconds: number;
  /** Where the trained base was saved, when the spec asks for it. */
  readonly savedBase?: string;
}

/** A trial's result as the runner returns it: with the run that recorded it. */
export interface TrialOutcome extends TrialResult {
  readonly runId: string;
  readonly runLocation: string;
}

/**
 * Hooks for everything that watches a trial: trackers, progress, logs. All are optional; they run
 * in ascending `order` and are awaited, so a tracker can finish writing before the next step.
 */
export const TrialObserver = Symbol('TrialObserver');
export interface TrialObserver {
  readonly order?: number;
  onTrialBegin?(trial: TrialInfo): void | Promise<void>;
  onPhaseBegin?(phase: Phase, facts: ModelFacts): void | Promise<void>;
  onEpochBegin?(epoch: number, phase: Phase, size?: EpochSize): void | Promise<void>;
  onBatchBegin?(epoch: number, batch: number): void | Promise<void>;
  onBatchEnd?(logs: BatchLogs): void | Promise<void>;
  onEpochEnd?(logs: EpochLogs): void | Promise<void>;
  onPhaseEnd?(phase: Phase): void | Promise<void>;
  onTrialEnd?(result: TrialResult): void | Promise<void>;
  /** The trial failed or was interrupted; `interrupted` is true for Ctrl-C. */
  onTrialError?(trial: TrialInfo, error: unknown, interrupted: boolean): void | Promise<void>;
}

type Hook = Exclude<keyof TrialObserver, 'order'>;

/** Dispatches one event to every observer, in order. */
export class TrialEvents {
  private readonly observers: readonly TrialObserver[];

  constructor(observers: readonly TrialObserver[]) {
    this.observers = [...observers].sort((a, b) => (a.order ?? 0) - (b.order ?? 0));
  }

  /** Whether any observer implements a hook (so that work needed only for it can be skipped). */
  listens(hook: Hook): boolean {
    return this.observers.some((observer) => typeof observer[hook] === 'function');
  }

  async emit<K extends Hook>(hook: K, ...args: Parameters<NonNullable<TrialObserver[K]>>): Promise<void> {
    for (const observer of this.observers) {
      const handler = observer[hook] as ((...a: typeof args) => void | Promise<void>) | undefined;
      if (handler) await handler.apply(observer, args);
    }
  }
}
