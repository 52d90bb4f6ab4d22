import type { ModelUnit } from './base-model-plugin.js';

/**
 * What thaw stores in a saved model's `model.json` (userDefinedMetadata.thaw), so that a later
 * trial can build on it: a base saved through `output.base`, or a whole trained network (a run's
 * `model` artifact), whose base ends at `baseOutputLayer`.
 */
export interface SavedThawModel {
  /** The base's units, ordered input → output. */
  readonly units: readonly ModelUnit[];
  /** The base's last layer; set when the folder holds the whole network, head included. */
  readonly baseOutputLayer?: string;
  /** Layers the build stage added on top of the base (empty for a saved base). */
  readonly headLayers: readonly string[];
  /** Weightless layers that fit data to the base (resize, grey → RGB). */
  readonly adapterLayers: readonly string[];
  /** The value range the base expects its input in. */
  readonly inputRange: readonly [number, number];
  readonly classNames: readonly string[];
  /** The base plugin that made the base, and the spec that trained it. */
  readonly basePlugin: string;
  readonly spec: string;
  readonly savedAt: string;
}
