import type { Container } from 'inversify';
import {
  PluginRegistry,
  createTracker,
  TrialObserver,
  createThawContainer,
  importPluginModule,
  displayPath,
  type LoadedSpec,
  type Logger,
  type ExperimentSpec,
  type Tracker,
} from '@thaw/core';
import { pluginsModule } from '@thaw/plugins';
import { ConsoleProgress } from './console-progress.js';

export interface CliContainerOptions {
  readonly logger: Logger;
  readonly tracker?: Tracker;
  /** The spec whose tracking section (with MLFLOW_* around it) chooses the tracker. */
  readonly spec?: Pick<ExperimentSpec, 'tracking'>;
  /** Print epoch progress to stderr. */
  readonly progress?: boolean;
}

/** The container the CLI works with: core services, the built-in plugins, console progress. */
export async function createCliContainer(options: CliContainerOptions): Promise<Container> {
  const container = await createThawContainer({
    tracker:
      options.tracker ??
      createTracker({ uri: options.spec?.tracking.uri, store: options.spec?.tracking.store ?? 'mlruns', logger: options.logger }),
    logger: options.logger,
    modules: [{ module: pluginsModule, source: { kind: 'built-in', name: '@thaw/plugins' } }],
  });
  if (options.progress) container.bind(TrialObserver).toConstantValue(new ConsoleProgress(options.logger));
  return container;
}

/** Loads the plugins a spec names (`plugins:`), each a package name or a path relative to the spec. */
export async function loadSpecPlugins(container: Container, loaded: LoadedSpec): Promise<void> {
  const registry = container.get<PluginRegistry>(PluginRegistry);
  for (const [index, name] of loaded.spec.plugins.entries()) {
    const { module, source } = await importPluginModule(name, loaded.dir, `${displayPath(loaded.file)}: plugins[${index}]`);
    await registry.load(module, source);
  }
}

/** yargs options that choose where runs go; they become --set values so that workers get them too. */
export const trackingOptions = {
  trackingUri: { type: 'string', describe: 'MLflow tracking server (http/https) or folder; default MLFLOW_TRACKING_URI, else ./mlruns' },
  experiment: { type: 'string', describe: 'MLflow experiment; default tracking.experiment, MLFLOW_EXPERIMENT_NAME, or the spec name' },
  systemMetrics: {
    type: 'boolean',
    describe: 'sample CPU, memory, disk and network into the runs (MLflow system/ metrics); --no-systemMetrics: off',
  },
} as const;

/** The --set values that the tracking flags stand for. */
export function trackingSets(args: {
  trackingUri?: string | undefined;
  experiment?: string | undefined;
  systemMetrics?: boolean | undefined;
}): string[] {
  return [
    ...(args.systemMetrics === undefined ? [] : [`tracking.systemMetrics=${args.systemMetrics}`]),
    ...(args.trackingUri === undefined ? [] : [`tracking.uri=${JSON.stringify(args.trackingUri)}`]),
    ...(args.experiment === undefined ? [] : [`tracking.experiment=${JSON.stringify(args.experiment)}`]),
  ];
}
