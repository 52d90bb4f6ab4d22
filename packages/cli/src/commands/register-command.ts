import type { CommandModule } from 'yargs';
import { ThawError, consoleLogger, createTracker, registerRunModel } from '@thaw/core';

interface RegisterArgs {
  runId: string;
  name: string;
  alias?: string;
  trackingUri?: string;
}

/** `thaw register <run id> <name>`: a trial's logged model as a new version in the MLflow model registry. */
export const registerCommand: CommandModule<object, RegisterArgs> = {
  command: 'register <runId> <name>',
  describe: "register a trial's model as a new version of a model in the MLflow model registry",
  builder: (yargs) =>
    yargs
      .positional('runId', { type: 'string', demandOption: true, describe: 'the trial run whose model to register' })
      .positional('name', { type: 'string', demandOption: true, describe: 'the registered model (created when missing)' })
      .option('alias', { type: 'string', describe: 'point this alias at the new version (e.g. champion)' })
      .option('trackingUri', { type: 'string', describe: 'the MLflow server (default: MLFLOW_TRACKING_URI)' }),
  handler: async (args) => {
    if (!/^[0-9a-f]{32}$/.test(args.runId)) throw new ThawError(`run id: received ${JSON.stringify(args.runId)}; expected 32 hex digits`);
    const tracker = createTracker({ uri: args.trackingUri, store: 'mlruns', logger: consoleLogger });
    const registered = await registerRunModel(tracker, args.runId, args.name, args.alias === undefined ? {} : { alias: args.alias });
    process.stdout.write(
      `${registered.name} version ${registered.version}${args.alias === undefined ? '' : ` (@${args.alias})`}: logged model ${registered.modelId} of run ${args.runId}\n${registered.url}\n`,
    );
  },
};
