import { inject, injectable } from 'inversify';
import { Logger, ThawError, type DatasetSplits, type LoadStage, type TrialPlan } from '@thaw/contracts';
import { disposeSplits } from '../model/dispose-splits.js';
import { datasetContext } from '../planning/trial-planner-impl.js';

@injectable()
export class LoadStageImpl implements LoadStage {
  constructor(@inject(Logger) private readonly log: Logger) {}

  async load(plan: TrialPlan): Promise<DatasetSplits> {
    const { plugin, options, where, facts } = plan.data;
    const data = await plugin.load(options, datasetContext(plan.loaded, this.log, where));
    // The plan was made from the plugin's check; a plugin whose load disagrees with it is at fault, not the spec.
    const shape = data.train.imageShape;
    if (shape.join() !== facts.inputShape.join() || data.classNames.join('\n') !== facts.classNames.join('\n')) {
      disposeSplits(data);
      throw new ThawError(
        `${where}: dataset plugin ${plugin.id} loaded images of shape [${shape.join(', ')}] in classes ${data.classNames.join(', ')}, ` +
          `but its check promised [${facts.inputShape.join(', ')}] in ${facts.classNames.join(', ')}`,
      );
    }
    return data;
  }
}
