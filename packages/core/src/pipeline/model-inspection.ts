import { inject, injectable } from 'inversify';
import { BuildStage, FreezeStage, withSeededMathRandom, type TrialPlan } from '@thaw/contracts';
import { disposeModel } from '../model/dispose-model.js';
import { modelSummary } from '../model/model-summary.js';
import { unitReport } from '../results/model-report.js';

/** Builds the model of a planned trial without loading data or training, and describes what its strategy would train. */
export const ModelInspection = Symbol('ModelInspection');
export interface ModelInspection {
  /** Keras' model.summary() of the whole network, then thaw's units and the trainable totals. */
  describe(plan: TrialPlan): Promise<string>;
}

@injectable()
export class ModelInspectionImpl implements ModelInspection {
  constructor(
    @inject(BuildStage) private readonly buildStage: BuildStage,
    @inject(FreezeStage) private readonly freezeStage: FreezeStage,
  ) {}

  describe(plan: TrialPlan): Promise<string> {
    return withSeededMathRandom(plan.loaded.spec.seed, async () => {
      const built = await this.buildStage.build(plan);
      try {
        // Summarised before freezing: the cut re-applies layers, which model.summary() would list twice.
        const summary = modelSummary(built.model, []);
        const frozen = this.freezeStage.apply(built, plan.phases[plan.phases.length - 1]!);
        frozen.release();
        return `${summary}\n${unitReport(built, plan.phases, frozen.facts)}`;
      } finally {
        disposeModel(built.model);
      }
    });
  }
}
