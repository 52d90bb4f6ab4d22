import { ThawError, describeValue, type Tracker } from '@thaw/contracts';
import { RestTracker } from './rest-tracker.js';
import { LOGGED_MODEL_TAG } from './tracking-recorder.js';

export interface RegisteredVersion {
  readonly name: string;
  readonly version: string;
  readonly modelId: string;
  /** The version's page in the MLflow UI. */
  readonly url: string;
}

export interface RegisterOptions {
  /** An alias to point at the new version (e.g. champion). */
  readonly alias?: string;
  /** Tags of the new version. */
  readonly tags?: Readonly<Record<string, string>>;
}

/** MLflow reserves `latest` (any case) and `v<digits>` as alias names. */
function checkAlias(alias: string): void {
  if (/^latest$/i.test(alias) || /^v\d+$/.test(alias))
    throw new ThawError(
      `--alias: received ${describeValue(alias)}; MLflow reserves "latest" and v<number>: expected another name, e.g. champion`,
    );
  if (!/^[A-Za-z0-9_-]+$/.test(alias))
    throw new ThawError(`--alias: received ${describeValue(alias)}; expected letters, digits, "_" or "-"`);
}

/** Refuses, before anything runs, a registration that cannot happen: no server, no name, a reserved alias. */
export function checkRegistry(tracker: Tracker, name: string, alias: string | undefined): void {
  if (!(tracker instanceof RestTracker)) {
    throw new ThawError(
      `the model registry is on an MLflow server, and runs go to ${tracker.location}: set MLFLOW_TRACKING_URI or --trackingUri (a local store's runs get there with thaw sync)`,
    );
  }
  if (name.trim() === '') throw new ThawError('registered model name: received ""; expected a name, e.g. fashion-transfer');
  if (alias !== undefined) checkAlias(alias);
}

/**
 * Registers a run's logged model as a new version of a registered model (created when missing),
 * with tags and an alias. The registry lives on an MLflow server; each step that can go wrong is
 * checked first with a clear message (an unknown logged model otherwise answers a 500 that the
 * server's own client retries for minutes).
 */
export async function registerRunModel(
  tracker: Tracker,
  runId: string,
  name: string,
  options: RegisterOptions = {},
): Promise<RegisteredVersion> {
  checkRegistry(tracker, name, options.alias);
  if (!(tracker instanceof RestTracker)) throw new Error('unreachable: checked above');
  const run = await tracker.getRun(runId);
  if (run === undefined)
    throw new ThawError(
      `run ${runId}: not found on ${tracker.location}; expected the id of a trial run (thaw run and thaw sweep print it)`,
    );
  const modelId = run.tags[LOGGED_MODEL_TAG];
  if (modelId === undefined) {
    throw new ThawError(
      `run ${runId} (${run.runName}) has no logged model (tag ${LOGGED_MODEL_TAG}): it is not a trial run, or it was recorded while ${tracker.location} was away or before thaw logged models; run the trial again to register it`,
    );
  }
  const client = tracker.client;
  if ((await client.getLoggedModel(modelId)) === undefined)
    throw new ThawError(`run ${runId}: its logged model ${modelId} is not on ${tracker.location} (deleted?)`);
  await client.createRegisteredModel(name);
  const version = await client.createModelVersion(name, modelId);
  for (const [key, value] of Object.entries(options.tags ?? {})) await client.setModelVersionTag(name, version.version, key, value);
  if (options.alias !== undefined) await client.setRegisteredModelAlias(name, options.alias, version.version);
  return { name, version: version.version, modelId, url: client.modelVersionPageUrl(name, version.version) };
}
