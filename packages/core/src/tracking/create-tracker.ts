import { resolve } from 'node:path';
import { ThawError, type ExperimentSpec, type Logger, type Tracker } from '@thaw/contracts';
import { FileStoreTracker } from './file-store-tracker.js';
import { MlflowClient, type MlflowClientOptions } from './mlflow-client.js';
import { RestTracker } from './rest-tracker.js';
import { resolveTrackingTarget } from './tracking-config.js';

/** The MLflow experiment of a spec: tracking.experiment, else MLFLOW_EXPERIMENT_NAME, else the spec's name. */
export function experimentNameOf(spec: Pick<ExperimentSpec, 'name' | 'tracking'>, env: NodeJS.ProcessEnv = process.env): string {
  return spec.tracking.experiment ?? (env['MLFLOW_EXPERIMENT_NAME'] || undefined) ?? spec.name;
}

export interface TrackerChoice {
  /** A server URL or folder; overrides MLFLOW_TRACKING_URI. */
  readonly uri?: string | undefined;
  /** The local store (a folder); with a server, where the local copy goes. */
  readonly store: string;
  readonly logger: Logger;
  readonly env?: NodeJS.ProcessEnv;
}

/** Client retries from THAW_MLFLOW_RETRIES and THAW_MLFLOW_BACKOFF_MS (first wait, doubling). */
export function clientOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): MlflowClientOptions {
  const number = (name: string): number | undefined => {
    const text = env[name];
    if (text === undefined || text === '') return undefined;
    const value = Number(text);
    if (!Number.isInteger(value) || value < 0)
      throw new ThawError(`${name}: received ${JSON.stringify(text)}; expected a whole number ≥ 0`);
    return value;
  };
  const retries = number('THAW_MLFLOW_RETRIES');
  const backoffMs = number('THAW_MLFLOW_BACKOFF_MS');
  return { ...(retries === undefined ? {} : { retries }), ...(backoffMs === undefined ? {} : { backoffMs }) };
}

/** MLflow's file store in a folder, or a tracking server with a local copy, the MLflow way (see resolveTrackingTarget). */
export function createTracker(choice: TrackerChoice): Tracker {
  const env = choice.env ?? process.env;
  const target = resolveTrackingTarget(
    choice.store,
    { uri: choice.uri },
    env,
    choice.uri === undefined ? 'MLFLOW_TRACKING_URI' : 'tracking.uri',
  );
  if (target.kind === 'local') return new FileStoreTracker(resolve(target.store));
  return new RestTracker(
    new MlflowClient(target.server, clientOptionsFromEnv(env)),
    new FileStoreTracker(resolve(choice.store)),
    choice.logger,
  );
}
