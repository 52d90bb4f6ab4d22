import { resolve } from 'node:path';
import type { Container } from 'inversify';
import {
  FileStoreTracker,
  PluginRegistry,
  TrialObserver,
  createThawContainer,
  importPluginModule,
  displayPath,
  type LoadedSpec,
  type Logger,
  type Tracker,
} from '@thaw/core';
import { pluginsModule } from '@thaw/plugins';
import { ConsoleProgress } from './console-progress.js';

export interface CliContainerOptions {
  readonly logger: Logger;
  readonly tracker?: Tracker;
  /** Print epoch progress to stderr. */
  readonly progress?: boolean;
}

/** The container the CLI works with: core services, the built-in plugins, console progress. */
export async function createCliContainer(options: CliContainerOptions): Promise<Container> {
  const container = await createThawContainer({
    tracker: options.tracker ?? new FileStoreTracker(resolve('mlruns')),
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
