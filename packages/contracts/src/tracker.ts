/** MLflow run statuses, as MLflow names them. */
export type RunStatus = 'RUNNING' | 'FINISHED' | 'FAILED' | 'KILLED';

export interface MetricPoint {
  readonly key: string;
  readonly value: number;
  readonly step: number;
  /** Integer milliseconds since the epoch. */
  readonly timestamp: number;
  /** A metric of a logged model (MLflow 3), on a dataset the run logged as an input. */
  readonly model?: { readonly modelId: string; readonly dataset?: { readonly name: string; readonly digest: string } };
}

/** A dataset a run used, as MLflow records one (`source`, `schema`, `profile` are JSON documents). */
export interface RunDataset {
  readonly name: string;
  /** Identifies the data (at most 36 characters): the same name and digest are the same dataset. */
  readonly digest: string;
  readonly sourceType: string;
  readonly source: string;
  readonly schema: string;
  readonly profile: string;
  /** What the run used it for: training, validation, testing. */
  readonly context: string;
}

/** A trained model to record as an MLflow 3 logged model of the run. */
export interface LoggedModelRequest {
  readonly name: string;
  readonly modelType: string;
  /** A local folder holding the model's files (MLmodel among them, written with `mlmodel`). */
  readonly dir: string;
  readonly params: Readonly<Record<string, string>>;
  readonly tags: Readonly<Record<string, string>>;
  /** The run's step the model belongs to (its last epoch). */
  readonly step: number;
  /** The MLmodel file's text, given the model's id, run id and artifact location. */
  mlmodel(ids: { readonly modelId: string; readonly runId: string; readonly artifactUri: string }): string;
}

/** One run being recorded. */
export interface TrackedRun {
  readonly runId: string;
  readonly experimentId: string;
  /** Where a person finds the run (a folder, or a UI address). */
  readonly location: string;
  logParams(params: Readonly<Record<string, string>>): Promise<void>;
  logMetrics(points: readonly MetricPoint[]): Promise<void>;
  setTags(tags: Readonly<Record<string, string>>): Promise<void>;
  /** Writes one artifact at a path relative to the run's artifact root. */
  logArtifact(artifactPath: string, content: string | Uint8Array): Promise<void>;
  /** Copies a local folder (e.g. a saved model) under an artifact path. */
  logArtifactDirectory(localDir: string, artifactPath: string): Promise<void>;
  end(status: Exclude<RunStatus, 'RUNNING'>): Promise<void>;
  /** Deletes the run as MLflow does (hidden, restorable): a trial that lost its claim to another process. */
  discard(): Promise<void>;
  /** Records the datasets the run used (a server shows them on the run; `thaw sync` sends them later when it was away). */
  logInputs(datasets: readonly RunDataset[]): Promise<void>;
  /** Records a logged model of the run and returns its id; undefined where the store has none (a local file store, a server away). */
  logModel(request: LoggedModelRequest): Promise<string | undefined>;
}

export interface StartRunRequest {
  readonly experimentName: string;
  readonly runName: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly parentRunId?: string;
}

/** A recorded run as read back: what a sweep needs to resume and to summarise. */
export interface RunRecord {
  readonly runId: string;
  readonly runName: string;
  readonly status: RunStatus;
  readonly startTime: number;
  readonly tags: Readonly<Record<string, string>>;
  readonly params: Readonly<Record<string, string>>;
  /** Each metric's values in step order (only the latest when read without histories). */
  readonly metrics: Readonly<Record<string, readonly number[]>>;
}

export interface FindRunsOptions {
  /** Read every metric's whole history (default true). */
  readonly histories?: boolean;
}

/** Records experiments and runs: MLflow's local file store, or an MLflow tracking server. */
export const Tracker = Symbol('Tracker');
export interface Tracker {
  /** Where runs go, for people (a folder or a URL). */
  readonly location: string;
  startRun(request: StartRunRequest): Promise<TrackedRun>;
  /**
   * Runs of an experiment whose tags include all of `tags` (none when the experiment does not
   * exist). With `histories: false` each metric holds only its latest value, which spares a server
   * one request per metric and run (enough to find finished trials).
   */
  findRuns(experimentName: string, tags: Readonly<Record<string, string>>, options?: FindRunsOptions): Promise<RunRecord[]>;
  /** Reopens a run (a sweep's parent, resumed) to log more to it. */
  resumeRun(experimentName: string, runId: string): Promise<TrackedRun>;
  /** A local folder holding a run's artifact folder (downloaded from a server when needed); undefined when the run has no such artifact. */
  artifactFolder(runId: string, artifactPath: string): Promise<string | undefined>;
  /** Refuses, with a ThawError naming `where` and the path, a store this process cannot write: checked before any run exists. */
  checkWritable?(where: string): void;
  /** A run by its id, whatever its experiment; undefined when there is none. */
  getRun(runId: string): Promise<(RunRecord & { readonly experimentName: string }) | undefined>;
}
