import type { LoadedSpec } from '../spec/spec-loader.js';
import type { DatasetSplits } from './dataset-plugin.js';

/** Stage 1: the spec's dataset as train/validation/test splits. */
export const LoadStage = Symbol('LoadStage');
export interface LoadStage {
  load(loaded: LoadedSpec): Promise<DatasetSplits>;
}
