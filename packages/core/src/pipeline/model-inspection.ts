import { kerasLayerNames } from '../contracts/base-model-plugin.js';
import { inject, injectable } from 'inversify';
import { BuildStage } from '../contracts/build-stage.js';
import { FreezeStage } from '../contracts/freeze-stage.js';
import { LoadStage } from '../contracts/load-stage.js';
import { disposeModel } from '../model/dispose-model.js';
import { modelSummary } from '../model/model-summary.js';
import { unitReport } from '../results/model-report.js';
import type { LoadedSpec } from '../spec/spec-loader.js';
import { withSeededMathRandom } from '../training/seeded-random.js';
import { disposeSplits } from './trial-pipeline.js';

/** Builds the model of a spec without training it and describes what its strategy would train. */
export const ModelInspection = Symbol('ModelInspection');
export interface ModelInspection {
  /** Keras' model.summary() of the whole network, then thaw's units and the trainable totals. */
  describe(loaded: LoadedSpec): Promise<string>;
}

@injectable()
export class ModelInspectionImpl implements ModelInspection {
  constructor(
    @inject(LoadStage) private readonly loadStage: LoadStage,
    @inject(BuildStage) private readonly buildStage: BuildStage,
    @inject(FreezeStage) private readonly freezeStage: FreezeStage,
  ) {}

  describe(loaded: LoadedSpec): Promise<string> {
    return withSeededMathRandom(loaded.spec.seed, async () => {
      const data = await this.loadStage.load(loaded);
      const built = await this.buildStage.build(loaded, data).finally(() => disposeSplits(data));
      try {
        // Summarised before freezing: the cut re-applies layers, which model.summary() would list twice.
        const summary = modelSummary(built.model, []);
        const phases = this.freezeStage.plan(loaded, built.units, kerasLayerNames(built.base));
        const frozen = this.freezeStage.apply(built, phases[phases.length - 1]!);
        frozen.release();
        return `${summary}\n${unitReport(built, phases, frozen.facts)}`;
      } finally {
        disposeModel(built.model);
      }
    });
  }
}
