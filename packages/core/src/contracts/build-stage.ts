import type { LoadedSpec } from '../spec/spec-loader.js';
import type { BuiltModel } from './built-model.js';
import type { DatasetSplits } from './dataset-plugin.js';

/** Stage 3: the base from its plugin, plus the head the spec describes. */
export const BuildStage = Symbol('BuildStage');
export interface BuildStage {
  build(loaded: LoadedSpec, data: DatasetSplits): Promise<BuiltModel>;
}
