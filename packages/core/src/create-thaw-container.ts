import { Container } from 'inversify';
import { Logger, ThawError, Tracker, silentLogger } from '@thaw/contracts';
import { coreModule } from './core-module.js';
import { PluginRegistry, ThawContainer, type PluginSource } from './plugins/plugin-registry.js';
import type { ContainerModule } from 'inversify';
import { join } from 'node:path';
import { FrozenFeatureCache, FrozenFeatureCacheImpl, type FeatureCacheOptions } from './training/frozen-feature-cache.js';
import { thawCacheDir } from './util/thaw-cache-dir.js';

export interface ThawContainerOptions {
  readonly tracker: Tracker;
  readonly logger?: Logger;
  /** Budgets and folder of the frozen-feature cache (default: from the environment, see featureCacheOptionsFromEnv). */
  readonly featureCache?: FeatureCacheOptions;
  /** Built-in and other plugin modules, loaded in order. */
  readonly modules?: readonly { module: ContainerModule; source: PluginSource }[];
}

/** THAW_FEATURE_CACHE_MB (memory, default 1024) and THAW_FEATURE_CACHE_DISK_MB (default 2048, 0 = off) under thaw's cache folder. */
export function featureCacheOptionsFromEnv(): FeatureCacheOptions {
  const megabytes = (name: string, fallback: number) => {
    const value = Number(process.env[name] ?? fallback);
    if (!Number.isFinite(value) || value < 0)
      throw new ThawError(`${name}: received ${JSON.stringify(process.env[name])}; expected a number of megabytes ≥ 0`);
    return value * 2 ** 20;
  };
  return {
    memoryBytes: megabytes('THAW_FEATURE_CACHE_MB', 1024),
    diskBytes: megabytes('THAW_FEATURE_CACHE_DISK_MB', 2048),
    dir: join(thawCacheDir(), 'features'),
  };
}

/** A container with the core services, a tracker, a logger and the given plugin modules. */
export async function createThawContainer(options: ThawContainerOptions): Promise<Container> {
  const container = new Container();
  container.bind(ThawContainer).toConstantValue(container);
  container.bind(Tracker).toConstantValue(options.tracker);
  container.bind(Logger).toConstantValue(options.logger ?? silentLogger);
  const logger = options.logger ?? silentLogger;
  const cacheOptions = options.featureCache ?? featureCacheOptionsFromEnv();
  container
    .bind(FrozenFeatureCache)
    .toConstantValue(new FrozenFeatureCacheImpl({ warn: (message) => logger.warn(message), ...cacheOptions }));
  await container.loadAsync(coreModule);
  const registry = container.get<PluginRegistry>(PluginRegistry);
  for (const { module, source } of options.modules ?? []) await registry.load(module, source);
  return container;
}
