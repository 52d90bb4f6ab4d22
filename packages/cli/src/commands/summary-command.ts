import type { CommandModule } from 'yargs';
import { BACKEND_NAMES, ModelInspection, TrialPlanner, consoleLogger, loadSpec, selectBackend, type BackendName } from '@thaw/core';
import { createCliContainer, loadSpecPlugins } from '../create-cli-container.js';

interface SummaryArgs {
  spec: string;
  set: string[];
  backend: BackendName | 'auto';
}

/** `thaw summary <spec>`: what an unfreeze depth means, before paying for it. */
export const summaryCommand: CommandModule<object, SummaryArgs> = {
  command: 'summary <spec>',
  describe: "build a spec's model without training and show its layers, units and what the strategy trains",
  builder: (yargs) =>
    yargs
      .positional('spec', { type: 'string', demandOption: true, describe: 'experiment spec (YAML)' })
      .option('set', { type: 'string', array: true, default: [], describe: 'override a value: --set strategy.unfreeze=2' })
      .option('backend', { choices: ['auto', ...BACKEND_NAMES] as const, default: 'auto' as const, describe: 'TF.js backend' }),
  handler: async (args) => {
    const loaded = await loadSpec(args.spec, args.set);
    const container = await createCliContainer({ logger: consoleLogger, spec: loaded.spec });
    await loadSpecPlugins(container, loaded);
    await selectBackend(args.backend);
    const plan = await container.get<TrialPlanner>(TrialPlanner).plan(loaded);
    process.stdout.write(await container.get<ModelInspection>(ModelInspection).describe(plan));
  },
};
