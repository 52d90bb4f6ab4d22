import { existsSync } from 'node:fs';
import type { CommandModule } from 'yargs';
import { SweepRunner, ThawError, consoleLogger, createTracker, displayPath, expandSweepSpecs, readRawSpec } from '@thaw/core';
import { createCliContainer } from '../create-cli-container.js';

interface ReportArgs {
  target: string;
  set: string[];
  trackingUri?: string;
  store: string;
}

const RUN_ID = /^[0-9a-f]{32}$/;

/** `thaw report <sweep run id | spec>`: a sweep's summary from the store (local or MLflow), for a terminal without a browser. */
export const reportCommand: CommandModule<object, ReportArgs> = {
  command: 'report <target>',
  describe: 'print the ranked summary of a sweep from the tracking store, without training: give its sweep run id or its spec',
  builder: (yargs) =>
    yargs
      .positional('target', {
        type: 'string',
        demandOption: true,
        describe: 'the sweep run id (MLflow or ./mlruns), or the experiment spec whose sweep ran',
      })
      .option('set', { type: 'string', array: true, default: [], describe: 'with a spec: the same --set values the sweep ran with' })
      .option('trackingUri', {
        type: 'string',
        describe: 'with a run id: the MLflow server (default: MLFLOW_TRACKING_URI, else the local store)',
      })
      .option('store', { type: 'string', default: 'mlruns', describe: 'with a run id: the local store' }),
  handler: async (args) => {
    if (RUN_ID.test(args.target) && !existsSync(args.target)) {
      const tracker = createTracker({ uri: args.trackingUri, store: args.store, logger: consoleLogger });
      const container = await createCliContainer({ logger: consoleLogger, tracker });
      const report = await container.get<SweepRunner>(SweepRunner).reportRun(args.target);
      if (!report)
        throw new ThawError(
          `run ${args.target}: no such run in ${tracker.location}; expected the id of a sweep run (thaw sweep prints it)`,
        );
      process.stdout.write(
        `${report.name}: ${report.rows.length} of ${report.trials} trials finished; sweep run ${report.parentRunId} in ${tracker.location}\n\n${report.markdown}`,
      );
      return;
    }
    const raw = await readRawSpec(args.target);
    const plan = expandSweepSpecs(raw, displayPath(raw.file), args.set);
    const container = await createCliContainer({ logger: consoleLogger, spec: plan.trials[0]!.loaded.spec });
    const report = await container.get<SweepRunner>(SweepRunner).report(plan);
    if (!report)
      throw new ThawError(
        `${displayPath(raw.file)}: its sweep has not run in this store (mlruns); expected \`thaw sweep ${displayPath(raw.file)}\` first`,
      );
    const missing = plan.trials.length - report.rows.length;
    process.stdout.write(
      `${plan.name}: ${report.rows.length} of ${plan.trials.length} trials finished${missing > 0 ? ` (${missing} still to run)` : ''}; sweep run ${report.parentRunId}\n\n${report.markdown}`,
    );
  },
};
