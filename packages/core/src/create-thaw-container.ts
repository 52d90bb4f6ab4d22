import { Container } from 'inversify';
import { Logger, silentLogger } from './contracts/logger.js';
import { Tracker } from './contracts/tracker.js';
import { coreModule } from './core-module.js';
import { PluginRegistry, ThawContainer, type PluginSource } from './plugins/plugin-registry.js';
import type { ContainerModule } from 'inversify';

export interface ThawContainerOptions {
  readonly tracker: Tracker;
  readonly logger?: Logger;
  /** Built-in and other plugin modules, loaded in order. */
  readonly modules?: readonly { module: ContainerModule; source: PluginSource }[];
}

/** A container with the core services, a tracker, a logger and the given plugin modules. */
export async function createThawContainer(options: ThawContainerOptions): Promise<Container> {
  const container = new Container();
  container.bind(ThawContainer).toConstantValue(container);
  container.bind(Tracker).toConstantValue(options.tracker);
  container.bind(Logger).toConstantValue(options.logger ?? silentLogger);
  await container.loadAsync(coreModule);
  const registry = container.get<PluginRegistry>(PluginRegistry);
  for (const { module, source } of options.modules ?? []) await registry.load(module, source);
  return container;
}
