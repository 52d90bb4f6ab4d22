import type { CommandModule } from 'yargs';
import { SweepRunner, ThawError, consoleLogger, displayPath, planSweep, readRawSpec } from '@thaw/core';
import { createCliContainer } from '../create-cli-container.js';

interface ReportArgs {
  spec: string;
  set: string[];
}

/** `thaw report <spec>`: a sweep's summary from the store, for a terminal without a browser. */
export const reportCommand: CommandModule<object, ReportArgs> = {
  command: 'report <spec>',
  describe: "print the ranked summary of a spec's sweep from the tracking store, without training",
  builder: (yargs) =>
    yargs
      .positional('spec', { type: 'string', demandOption: true, describe: 'the experiment spec whose sweep ran' })
      .option('set', { type: 'string', array: true, default: [], describe: 'the same --set values the sweep ran with' }),
  handler: async (args) => {
    const raw = await readRawSpec(args.spec);
    const plan = planSweep(raw, displayPath(raw.file), args.set, () => undefined);
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
