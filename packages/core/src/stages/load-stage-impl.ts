import { inject, injectable } from 'inversify';
import type { DatasetSplits } from '../contracts/dataset-plugin.js';
import type { LoadStage } from '../contracts/load-stage.js';
import { Logger } from '../contracts/logger.js';
import { validatePluginOptions } from '../contracts/plugin-contribution.js';
import { PluginRegistry } from '../plugins/plugin-registry.js';
import { pluginOptions } from '../spec/experiment-spec.js';
import type { LoadedSpec } from '../spec/spec-loader.js';
import { displayPath } from '../util/display-path.js';

@injectable()
export class LoadStageImpl implements LoadStage {
  constructor(
    @inject(PluginRegistry) private readonly registry: PluginRegistry,
    @inject(Logger) private readonly log: Logger,
  ) {}

  async load(loaded: LoadedSpec): Promise<DatasetSplits> {
    const where = `${displayPath(loaded.file)}: data`;
    const { id, options } = pluginOptions(loaded.spec.data);
    const plugin = this.registry.dataset(id, `${where}.plugin`);
    const valid = validatePluginOptions(plugin, options, where);
    return plugin.load(valid, { specDir: loaded.dir, seed: loaded.spec.seed, log: this.log, where });
  }
}
