import { inject, injectable, type Container, type ContainerModule } from 'inversify';
import { BaseModelPlugin, DatasetPlugin, StrategyPlugin, ThawError, type PluginContribution } from '@thaw/contracts';

/** The container that holds thaw's services; bound to itself so the registry can load modules into it. */
export const ThawContainer = Symbol('ThawContainer');

export type PluginKind = 'base model' | 'strategy' | 'dataset';

/** Where a contribution came from. */
export interface PluginSource {
  readonly kind: 'built-in' | 'package' | 'file';
  /** Package name or file path. */
  readonly name: string;
}

export interface RegisteredPlugin {
  readonly kind: PluginKind;
  readonly contribution: PluginContribution;
  readonly source: PluginSource;
}

const symbols: Record<PluginKind, symbol> = {
  'base model': BaseModelPlugin,
  strategy: StrategyPlugin,
  dataset: DatasetPlugin,
};

/** All base models, strategies and datasets, looked up by id (a contribution provider per kind). */
export const PluginRegistry = Symbol('PluginRegistry');
export interface PluginRegistry {
  /** Loads a plugin module into the container and remembers where its contributions came from. */
  load(module: ContainerModule, source: PluginSource): Promise<void>;
  list(): RegisteredPlugin[];
  baseModel(id: string, where: string): BaseModelPlugin;
  strategy(id: string, where: string): StrategyPlugin;
  dataset(id: string, where: string): DatasetPlugin;
}

@injectable()
export class PluginRegistryImpl implements PluginRegistry {
  private readonly sources = new Map<PluginContribution, PluginSource>();
  private readonly loaded = new Set<ContainerModule>();

  constructor(@inject(ThawContainer) private readonly container: Container) {}

  async load(module: ContainerModule, source: PluginSource): Promise<void> {
    if (this.loaded.has(module)) return;
    this.loaded.add(module);
    await this.container.loadAsync(module);
    for (const kind of Object.keys(symbols) as PluginKind[]) {
      const seen = new Map<string, PluginContribution>();
      for (const contribution of this.all(kind)) {
        const previous = seen.get(contribution.id);
        if (previous && previous !== contribution) {
          const first = this.sources.get(previous) ?? source;
          throw new ThawError(
            `${source.name}: ${kind} plugin id "${contribution.id}" is already registered by ${first.name}; expected a unique id`,
          );
        }
        seen.set(contribution.id, contribution);
        if (!this.sources.has(contribution)) this.sources.set(contribution, source);
      }
    }
  }

  list(): RegisteredPlugin[] {
    return (Object.keys(symbols) as PluginKind[]).flatMap((kind) =>
      this.all(kind).map((contribution) => ({
        kind,
        contribution,
        source: this.sources.get(contribution) ?? { kind: 'built-in', name: 'thaw' },
      })),
    );
  }

  baseModel(id: string, where: string): BaseModelPlugin {
    return this.find('base model', id, where) as BaseModelPlugin;
  }

  strategy(id: string, where: string): StrategyPlugin {
    return this.find('strategy', id, where) as StrategyPlugin;
  }

  dataset(id: string, where: string): DatasetPlugin {
    return this.find('dataset', id, where) as DatasetPlugin;
  }

  private all(kind: PluginKind): PluginContribution[] {
    return this.container.getAll<PluginContribution>(symbols[kind], { optional: true });
  }

  private find(kind: PluginKind, id: string, where: string): PluginContribution {
    const candidates = this.all(kind);
    const found = candidates.find((contribution) => contribution.id === id);
    if (found) return found;
    const known = candidates.map((contribution) => contribution.id).sort();
    throw new ThawError(
      `${where}: unknown ${kind} plugin "${id}"; expected one of: ${known.join(', ') || '(none registered)'}` +
        ` (plugins named in the spec's plugins: list add more)`,
    );
  }
}
