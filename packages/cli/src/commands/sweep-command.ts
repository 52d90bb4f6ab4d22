import { spawn } from 'node:child_process';
import { relative } from 'node:path';
import type { CommandModule } from 'yargs';
import {
  BACKEND_NAMES,
  CLAIMED_EXIT_CODE,
  PRUNED_EXIT_CODE,
  TrialPruned,
  SweepRunner,
  TrialClaimed,
  ThawError,
  TrialInterrupted,
  type TrialExecutor,
  type SweepTrial,
  TrialPlanner,
  planningMemo,
  expandSweepSpecs,
  consoleLogger,
  displayPath,
  planSweep,
  readRawSpec,
  selectBackend,
  textTable,
  type BackendName,
  type Logger,
  TrialQueue,
  Tracker,
  registerRunModel,
  checkRegistry,
  type SweepOutcome,
  type SweepPlan,
  connectRedis,
  displayRedisUrl,
} from '@thaw/core';
import { createCliContainer, loadSpecPlugins, trackingOptions, trackingSets } from '../create-cli-container.js';
import { interruptible } from '../interruptible.js';

interface SweepArgs {
  spec: string;
  set: string[];
  backend: BackendName | 'auto';
  dryRun: boolean;
  parallel?: number;
  queue?: string;
  register?: string;
  alias?: string;
  trackingUri?: string;
  experiment?: string;
}

/** The --set values that make a trial from its spec: the sweep's own, then the trial's values (JSON is YAML). */
function trialSets(overrides: readonly string[], trial: SweepTrial): string[] {
  return [...overrides, ...Object.entries(trial.values).map(([path, value]) => `${path}=${JSON.stringify(value)}`)];
}

/** What a `thaw` process said was wrong (its `thaw: …` lines), without the prefix. */
function thawLines(stderr: string): string {
  return stderr
    .split('\n')
    .filter((line) => line.startsWith('thaw: '))
    .map((line) => line.slice('thaw: '.length))
    .join(' ');
}

/**
 * Runs a trial in a new `thaw run` process (its own TF.js), as a child of the sweep run. The
 * trial's values travel as --set (JSON is YAML), so the worker resolves the same spec. An IPC
 * channel ties the worker to the sweep: when the sweep stops, or dies even by SIGKILL, the channel
 * closes and the worker stops its trial after the current batch, recording it KILLED.
 */
function workerProcess(
  specFile: string,
  overrides: readonly string[],
  backend: string,
  signal: AbortSignal,
  prune: string | undefined,
): TrialExecutor {
  return (trial, parentRunId) =>
    new Promise((resolvePromise, reject) => {
      const sets = trialSets(overrides, trial);
      const child = spawn(
        process.execPath,
        [
          process.argv[1]!,
          'run',
          specFile,
          ...sets.flatMap((set) => ['--set', set]),
          '--backend',
          backend,
          '--quiet',
          '--parentRun',
          parentRunId,
          '--runName',
          trial.runName,
          ...(prune === undefined ? [] : ['--prune', prune]),
        ],
        { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] },
      );
      const letGo = () => {
        if (child.connected) child.disconnect();
      };
      if (signal.aborted) letGo();
      else signal.addEventListener('abort', letGo, { once: true });
      let stderr = '';
      child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('error', reject);
      child.on('exit', (code, killedBy) => {
        signal.removeEventListener('abort', letGo);
        if (code === 0) resolvePromise();
        else if (code === 130 || killedBy === 'SIGINT') reject(new TrialInterrupted());
        else if (code === PRUNED_EXIT_CODE) reject(new TrialPruned(thawLines(stderr) || `${trial.runName}: pruned`));
        else if (code === CLAIMED_EXIT_CODE) reject(new TrialClaimed(thawLines(stderr) || `${trial.runName}: held by another process`));
        else reject(new Error(thawLines(stderr) || `worker exited with ${code ?? killedBy}`));
      });
    });
}

/** The trial queue on Redis, and how to let go of it. */
async function openQueue(url: string, logger: Logger): Promise<{ trials: TrialQueue; close: () => Promise<void> }> {
  const connection = await connectRedis(url);
  const trials = await TrialQueue.open(connection, logger);
  logger.info(`trials go on the queue at ${displayRedisUrl(url)}; start \`thaw worker --queue …\` on each machine`);
  return {
    trials,
    close: async () => {
      await trials.close();
      connection.disconnect();
    },
  };
}

/** `--register`: the best trial's model as a new registry version, tagged with what made it best. */
async function registerBest(
  tracker: Tracker,
  plan: SweepPlan,
  outcome: SweepOutcome,
  name: string,
  alias: string | undefined,
): Promise<void> {
  const best = outcome.rows.find((row) => row.pruned === undefined);
  if (!best) throw new ThawError(`--register ${name}: no trial of ${plan.name} finished, so there is no best model to register`);
  const trial = plan.trials.find((t) => t.runName === best.runName);
  const registered = await registerRunModel(tracker, best.runId, name, {
    ...(alias === undefined ? {} : { alias }),
    tags: {
      'thaw.metric': plan.sweep.metric.name,
      'thaw.metricValue': String(best.metric),
      ...(trial
        ? { 'thaw.unfreeze': JSON.stringify(trial.loaded.spec.strategy['unfreeze'] ?? null), 'thaw.configHash': trial.configHash }
        : {}),
      'thaw.sweepRunId': outcome.parentRunId,
    },
  });
  process.stdout.write(
    `registered ${best.runName} (${plan.sweep.metric.name} ${best.metric.toFixed(4)}) as ${registered.name} version ${registered.version}${alias === undefined ? '' : ` (@${alias})`}\n${registered.url}\n`,
  );
}

/** `thaw sweep <spec>`: every configuration of the spec's sweep, each an MLflow child run of one sweep run. */
export const sweepCommand: CommandModule<object, SweepArgs> = {
  command: 'sweep <spec>',
  describe: "train every configuration of a spec's sweep (e.g. unfreeze depth × seed) and summarise them",
  builder: (yargs) =>
    yargs
      .positional('spec', { type: 'string', demandOption: true, describe: 'experiment spec (YAML) with a sweep section' })
      .option('set', { type: 'string', array: true, default: [], describe: 'override a value in every trial: --set train.epochs=5' })
      .option('backend', { choices: ['auto', ...BACKEND_NAMES] as const, default: 'auto' as const, describe: 'TF.js backend' })
      .option('dryRun', { type: 'boolean', default: false, describe: 'print the trials and exit' })
      .option('parallel', { type: 'number', describe: 'trials at once, each in a worker process (default: sweep.parallel, else 1)' })
      .option('queue', { type: 'string', describe: 'put the trials on a BullMQ queue on Redis for `thaw worker`s: redis://host:6379/0' })
      .option('register', { type: 'string', describe: "register the best trial's model as a new version of this MLflow registered model" })
      .option('alias', { type: 'string', describe: 'with --register: point this alias at the new version (e.g. champion)' })
      .options(trackingOptions),
  handler: async (args) => {
    const raw = await readRawSpec(args.spec);
    const logger = consoleLogger;
    const sets = [...trackingSets(args), ...args.set];
    // The spec as its first trial sees it: where runs go and which plugins to load (the same for every trial).
    const first = expandSweepSpecs(raw, displayPath(raw.file), sets).trials[0]!.loaded;
    const container = await createCliContainer({ logger, progress: true, spec: first.spec });
    await loadSpecPlugins(container, first);
    if (args.register !== undefined) checkRegistry(container.get(Tracker), args.register, args.alias);
    else if (args.alias !== undefined) throw new ThawError('--alias: needs --register NAME (the registered model the alias belongs to)');
    // Planning builds each base once to check it, so the backend is chosen first.
    const local = await selectBackend(args.backend);
    const queue = args.queue === undefined ? undefined : await openQueue(args.queue, logger);
    const backend = queue ? { name: 'queue workers' } : local;
    const planner = container.get<TrialPlanner>(TrialPlanner);
    const memo = planningMemo();
    let plan;
    try {
      plan = await planSweep(raw, displayPath(raw.file), sets, (loaded) => planner.plan(loaded, memo));
    } catch (error) {
      await queue?.close();
      throw error;
    }
    if (args.dryRun) {
      await queue?.close();
      const rows = [
        ['#', ...plan.paths, 'config hash'],
        ...plan.trials.map((t) => [String(t.index + 1), ...plan.paths.map((p) => JSON.stringify(t.values[p])), t.configHash]),
      ];
      process.stdout.write(
        (plan.adaptive
          ? `${plan.adaptive.total} trials of ${plan.name}: the ${plan.trials.length} of the random startup samples below, the others chosen by TPE from the results (metric: ${plan.sweep.metric.name}, ${plan.sweep.metric.goal})`
          : `${plan.trials.length} trials of ${plan.name} (metric: ${plan.sweep.metric.name}, ${plan.sweep.metric.goal})`) +
          `\n${textTable(rows)}\n`,
      );
      return;
    }
    await interruptible(
      logger,
      queue ? 'the sweep stops waiting; queued trials stay queued' : 'the current trial is recorded as KILLED',
      async (signal) => {
        const started = performance.now();
        const parallel = queue ? plan.trials.length : (args.parallel ?? plan.sweep.parallel);
        if (!Number.isInteger(parallel) || parallel < 1)
          throw new ThawError(`--parallel: received ${parallel}; expected a whole number ≥ 1`);
        const execute = queue
          ? queue.trials.executor(
              (trial, parentRunId) => ({
                spec: relative(process.cwd(), raw.file),
                specAbsolute: raw.file,
                sets: trialSets(sets, trial),
                runName: trial.runName,
                parentRunId,
                experimentName: plan.experimentName,
                configHash: trial.configHash,
                ...(plan.sweep.prune ? { prune: { prune: plan.sweep.prune, metric: plan.sweep.metric } } : {}),
              }),
              signal,
            )
          : parallel > 1
            ? workerProcess(
                raw.file,
                sets,
                backend.name,
                signal,
                plan.sweep.prune ? JSON.stringify({ prune: plan.sweep.prune, metric: plan.sweep.metric }) : undefined,
              )
            : undefined;
        let outcome;
        try {
          outcome = await container
            .get<SweepRunner>(SweepRunner)
            .run(plan, { backend: backend.name, signal, parallel, prerequisitesHere: !queue, ...(execute ? { execute } : {}) });
        } finally {
          await queue?.close();
        }
        const minutes = ((performance.now() - started) / 60000).toFixed(1);
        process.stdout.write(
          `\n${plan.name}: ${outcome.ran} trials run, ${outcome.skipped} finished earlier, ` +
            `${outcome.elsewhere > 0 ? `${outcome.elsewhere} trained by another process, ` : ''}` +
            `${outcome.pruned > 0 ? `${outcome.pruned} pruned, ` : ''}${outcome.failed} failed; ` +
            `frozen features computed ${outcome.featureSets} time${outcome.featureSets === 1 ? '' : 's'} (${minutes} min on ${backend.name})\n\n${outcome.markdown}` +
            `\nsweep run ${outcome.parentRunId}; summary.csv and summary.md are its artifacts\n`,
        );
        if (args.register !== undefined) await registerBest(container.get(Tracker), plan, outcome, args.register, args.alias);
        if (outcome.failed > 0) process.exitCode = 1;
      },
    );
  },
};
