import type { BuiltModel, FrozenModel } from './built-model.js';
import type { Phase } from './strategy-plugin.js';

/** Stage 4: the network prepared for one phase of the plan. */
export const FreezeStage = Symbol('FreezeStage');
export interface FreezeStage {
  /** Sets trainability for a phase (a new phase means a new optimizer: the equivalent of recompiling). */
  apply(built: BuiltModel, phase: Phase): FrozenModel;
}
