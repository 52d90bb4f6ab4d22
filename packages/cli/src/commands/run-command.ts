import type { CommandModule } from 'yargs';
import {
  BACKEND_NAMES,
  TrialPipeline,
  TrialPlanner,
  consoleLogger,
  ThawError,
  experimentNameOf,
  loadSpec,
  resultTable,
  selectBackend,
  trialPruner,
  Tracker,
  type BackendName,
  type PruneContext,
} from '@thaw/core';
import { createCliContainer, loadSpecPlugins, trackingOptions, trackingSets } from '../create-cli-container.js';
import { interruptible } from '../interruptible.js';

interface RunArgs {
  spec: string;
  set: string[];
  backend: BackendName | 'auto';
  quiet: boolean;
  parentRun?: string;
  runName?: string;
  prune?: string;
  trackingUri?: string;
  experiment?: string;
}

/** The pruner of a sweep's worker trial, from the JSON `thaw sweep` passes. */
function pruneObserver(json: string, parentRunId: string | undefined, spec: Parameters<typeof experimentNameOf>[0], tracker: Tracker) {
  if (parentRunId === undefined) throw new ThawError('--prune: needs --parentRun (the sweep run whose trials are compared)');
  let context: Pick<PruneContext, 'prune' | 'metric'>;
  try {
    context = JSON.parse(json) as Pick<PruneContext, 'prune' | 'metric'>;
  } catch {
    throw new ThawError(`--prune: received ${JSON.stringify(json)}; expected JSON { prune, metric }`);
  }
  return trialPruner({ ...context, experimentName: experimentNameOf(spec), parentRunId }, tracker, consoleLogger);
}

/** `thaw run <spec>`: one trial, printed as a result table and recorded as a run. */
export const runCommand: CommandModule<object, RunArgs> = {
  command: 'run <spec>',
  describe: 'train and evaluate one configuration of an experiment spec',
  builder: (yargs) =>
    yargs
      .positional('spec', { type: 'string', demandOption: true, describe: 'experiment spec (YAML)' })
      .option('set', { type: 'string', array: true, default: [], describe: 'override a value: --set strategy.unfreeze=2' })
      .option('backend', { choices: ['auto', ...BACKEND_NAMES] as const, default: 'auto' as const, describe: 'TF.js backend' })
      .option('quiet', { type: 'boolean', default: false, describe: 'no progress lines' })
      .option('parentRun', { type: 'string', describe: 'record the trial as a child of this run (a sweep)' })
      .option('runName', { type: 'string', describe: 'name of the run (default: the spec name)' })
      .option('prune', {
        type: 'string',
        hidden: true,
        describe: "with --parentRun: the sweep's pruning, as JSON { prune, metric } (set by thaw sweep for its workers)",
      })
      .options(trackingOptions),
  handler: async (args) => {
    const loaded = await loadSpec(args.spec, [...trackingSets(args), ...args.set]);
    const logger = consoleLogger;
    const container = await createCliContainer({ logger, progress: !args.quiet, spec: loaded.spec });
    await loadSpecPlugins(container, loaded);
    const backend = await selectBackend(args.backend);
    // Every mistake the spec can hold is refused here, before a run exists.
    const plan = await container.get<TrialPlanner>(TrialPlanner).plan(loaded);
    const pipeline = container.get<TrialPipeline>(TrialPipeline);
    const pruner = args.prune === undefined ? undefined : pruneObserver(args.prune, args.parentRun, loaded.spec, container.get(Tracker));
    await interruptible(logger, 'the run is recorded as KILLED', async (signal) => {
      const result = await pipeline.run(plan, {
        backend: backend.name,
        signal,
        ...(pruner ? { observers: [pruner] } : {}),
        ...(args.parentRun === undefined ? {} : { parentRunId: args.parentRun }),
        ...(args.runName === undefined ? {} : { runName: args.runName }),
      });
      process.stdout.write(`\n${resultTable(result)}`);
      if (result.savedBase) process.stdout.write(`\nbase saved to ${result.savedBase}\n`);
      process.stdout.write(`run recorded in ${result.runLocation}\n`);
    });
  },
};
