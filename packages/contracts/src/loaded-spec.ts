import type { ExperimentSpec } from './experiment-spec.js';

/** A validated spec and where it came from; relative paths inside it resolve against `dir`. */
export interface LoadedSpec {
  readonly file: string;
  readonly dir: string;
  readonly spec: ExperimentSpec;
}
