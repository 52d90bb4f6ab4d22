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
  /** A metric of a logged model (MLflow 3), measured on a dataset the run logged as an input. */
  readonly model_id?: string;
  readonly dataset_name?: string;
  readonly dataset_digest?: string;
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

/** A dataset as `runs/log-inputs` takes it: `source`, `schema` and `profile` are JSON documents as strings. */
export interface MlflowDataset {
  readonly name: string;
  readonly digest: string;
  readonly source_type: string;
  readonly source: string;
  readonly schema: string;
  readonly profile: string;
}

export interface MlflowDatasetInput {
  readonly tags: readonly MlflowKeyValue[];
  readonly dataset: MlflowDataset;
}

export type MlflowLoggedModelStatus = 'LOGGED_MODEL_PENDING' | 'LOGGED_MODEL_READY' | 'LOGGED_MODEL_UPLOAD_FAILED';

/** An MLflow 3 logged model. */
export interface MlflowLoggedModel {
  readonly info: {
    readonly model_id: string;
    readonly experiment_id: string;
    readonly name: string;
    readonly artifact_uri: string;
    readonly status: string;
    readonly source_run_id?: string;
    readonly tags?: readonly MlflowKeyValue[];
  };
  readonly data?: { readonly params?: readonly MlflowKeyValue[]; readonly metrics?: readonly MlflowMetric[] };
}

/** A version of a registered model. */
export interface MlflowModelVersion {
  readonly name: string;
  readonly version: string;
  readonly source: string;
  readonly run_id?: string;
  readonly status: string;
}
