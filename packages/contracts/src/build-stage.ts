import type { BuiltModel } from './built-model.js';
import type { TrialPlan } from './trial-plan.js';

/** Stage 3: the base from its plugin, plus the head the spec describes, for the planned input shape and classes. */
export const BuildStage = Symbol('BuildStage');
export interface BuildStage {
  build(plan: TrialPlan): Promise<BuiltModel>;
}
