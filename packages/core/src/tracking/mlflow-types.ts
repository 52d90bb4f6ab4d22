/** MLflow REST entities as the server sends them (`/api/2.0/mlflow/`). */

export interface MlflowKeyValue {
  readonly key: string;
  readonly value: string;
}

export interface MlflowMetric {
  readonly key: string;
  /** The server answers NaN as the string "NaN"; the client decodes it (see decodeMetricValue). */
  readonly value: number;
  readonly timestamp: number;
  readonly step: number;
}

export interface MlflowExperiment {
  readonly experiment_id: string;
  readonly name: string;
  readonly artifact_location?: string;
  readonly lifecycle_stage: string;
  readonly creation_time?: number;
  readonly last_update_time?: number;
  readonly tags?: readonly MlflowKeyValue[];
}

export type MlflowRunStatus = 'RUNNING' | 'SCHEDULED' | 'FINISHED' | 'FAILED' | 'KILLED';

export interface MlflowRunInfo {
  readonly run_id: string;
  readonly run_uuid: string;
  readonly experiment_id: string;
  readonly run_name: string;
  readonly user_id: string;
  readonly status: MlflowRunStatus;
  readonly start_time: number;
  readonly end_time?: number;
  readonly artifact_uri: string;
  readonly lifecycle_stage: string;
}

export interface MlflowRun {
  readonly info: MlflowRunInfo;
  readonly data: {
    readonly metrics?: readonly MlflowMetric[];
    readonly params?: readonly MlflowKeyValue[];
    readonly tags?: readonly MlflowKeyValue[];
  };
}

export interface MlflowFileInfo {
  readonly path: string;
  readonly is_dir: boolean;
  readonly file_size?: number;
}

/** What one `runs/log-batch` call (or several, when split) records. */
export interface MlflowBatch {
  readonly metrics?: readonly MlflowMetric[];
  readonly params?: readonly MlflowKeyValue[];
  readonly tags?: readonly MlflowKeyValue[];
}
