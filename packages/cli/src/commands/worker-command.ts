import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { CommandModule } from 'yargs';
import {
  BACKEND_NAMES,
  TrialObserver,
  TrialPipeline,
  TrialPlanner,
  TrialWorker,
  connectRedis,
  consoleLogger,
  createTracker,
  displayRedisUrl,
  experimentNameOf,
  loadSpec,
  selectBackend,
  type BackendName,
  type EpochLogs,
  type TrialJob,
  type TrialJobContext,
  TrialClaimed,
  TrialPruned,
  Tracker,
  trialPruner,
} from '@thaw/core';
import { createCliContainer, loadSpecPlugins } from '../create-cli-container.js';
import { interruptible } from '../interruptible.js';

interface WorkerArgs {
  queue: string;
  backend: BackendName | 'auto';
}

/** Runs one queued trial in this process, as `thaw run` would, reporting each epoch to the submitter. */
async function runJob(job: TrialJob, context: TrialJobContext, backend: string, signal: AbortSignal): Promise<void> {
  const logger = consoleLogger;
  // Workers run in a checkout of the same project: the spec's absolute path, else the same relative path.
  const specFile = existsSync(job.specAbsolute) ? job.specAbsolute : resolve(job.spec);
  const loaded = await loadSpec(specFile, job.sets);
  if (context.attempt > 1) {
    // A worker died in the middle of this trial: its run can only be ended from here.
    const tracker = createTracker({ uri: loaded.spec.tracking.uri, store: loaded.spec.tracking.store, logger });
    const experiment = experimentNameOf(loaded.spec);
    const earlier = await tracker.findRuns(
      experiment,
      { 'mlflow.parentRunId': job.parentRunId, 'thaw.configHash': job.configHash },
      { histories: false },
    );
    // The worker may have died after recording the trial but before the queue heard of it: never train it twice.
    const finished = earlier.find((r) => r.status === 'FINISHED');
    if (finished) {
      logger.info(`${job.runName}: run ${finished.runId} of an earlier attempt finished; not run again`);
      return;
    }
    for (const record of earlier.filter((r) => r.status === 'RUNNING')) {
      const run = await tracker.resumeRun(experiment, record.runId);
      await run.setTags({
        'thaw.error': `the worker running this trial stopped answering; ${context.worker} ran it again (attempt ${context.attempt})`,
      });
      await run.end('KILLED');
      logger.warn(`${job.runName}: run ${record.runId} of the dead attempt recorded as KILLED`);
    }
  }
  const container = await createCliContainer({ logger, progress: false, spec: loaded.spec });
  await loadSpecPlugins(container, loaded);
  container.bind(TrialObserver).toConstantValue({
    order: 20,
    onEpochEnd: (logs: EpochLogs) => {
      logger.info(`${context.worker}: ${job.runName} epoch ${logs.epoch + 1}, val_accuracy ${logs.valAccuracy.toFixed(3)}`);
      return context.progress({ epoch: logs.epoch, valAccuracy: logs.valAccuracy });
    },
  } satisfies TrialObserver);
  const plan = await container.get<TrialPlanner>(TrialPlanner).plan(loaded);
  try {
    const pruner =
      job.prune &&
      trialPruner({ ...job.prune, experimentName: job.experimentName, parentRunId: job.parentRunId }, container.get(Tracker), logger);
    await container
      .get<TrialPipeline>(TrialPipeline)
      .run(plan, { backend, signal, runName: job.runName, parentRunId: job.parentRunId, ...(pruner ? { observers: [pruner] } : {}) });
  } catch (error) {
    // Pruned: the run is recorded KILLED with why; the job itself is done.
    if (error instanceof TrialPruned) {
      logger.info(`${job.runName}: ${error.message}`);
      return;
    }
    // A concurrent sweep of the same spec holds this trial: it records it.
    if (!(error instanceof TrialClaimed)) throw error;
    logger.info(`${error.message}; not run here`);
  }
}

/** `thaw worker --queue redis://…`: runs the trials that `thaw sweep --queue` puts on the queue, until Ctrl-C. */
export const workerCommand: CommandModule<object, WorkerArgs> = {
  command: 'worker',
  describe: 'run trials from a sweep queue on Redis (thaw sweep --queue), one at a time, until Ctrl-C',
  builder: (yargs) =>
    yargs
      .option('queue', { type: 'string', demandOption: true, describe: 'Redis URL: redis://[:password@]host:6379/0, rediss:// for TLS' })
      .option('backend', { choices: ['auto', ...BACKEND_NAMES] as const, default: 'auto' as const, describe: 'TF.js backend' }),
  handler: async (args) => {
    const logger = consoleLogger;
    const connection = await connectRedis(args.queue);
    const backend = await selectBackend(args.backend);
    await interruptible(logger, 'the current trial is recorded as KILLED and the worker stops', async (signal) => {
      const worker = TrialWorker.start(connection, (job, context) => runJob(job, context, backend.name, signal), logger);
      await worker.waitUntilReady();
      logger.info(`worker ready on ${displayRedisUrl(args.queue)} (backend ${backend.name}); Ctrl-C stops it`);
      await new Promise<void>((resolveStop) => signal.addEventListener('abort', () => resolveStop(), { once: true }));
      await worker.close();
    });
    connection.disconnect();
  },
};
