import type { LoadedSpec } from '../spec/spec-loader.js';
import type { BuiltModel, FrozenModel } from './built-model.js';
import type { Phase } from './strategy-plugin.js';
import type { ModelUnit } from './base-model-plugin.js';

/** Stage 4: the strategy's phases, and the network prepared for each of them. */
export const FreezeStage = Symbol('FreezeStage');
export interface FreezeStage {
  /** Asks the spec's strategy for its phases; fails before training on bad options. */
  plan(loaded: LoadedSpec, units: readonly ModelUnit[], layers?: readonly string[]): Phase[];
  /** Sets trainability for a phase (a new phase means a new optimizer: the equivalent of recompiling). */
  apply(built: BuiltModel, phase: Phase): FrozenModel;
}
