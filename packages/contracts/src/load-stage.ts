import type { DatasetSplits } from './dataset-plugin.js';
import type { TrialPlan } from './trial-plan.js';

/** Stage 1: the planned dataset as train/validation/test splits. */
export const LoadStage = Symbol('LoadStage');
export interface LoadStage {
  load(plan: TrialPlan): Promise<DatasetSplits>;
}
