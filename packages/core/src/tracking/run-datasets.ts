import type { RunDataset, SplitRecord, TrialResult } from '@thaw/contracts';
import type { MlflowDatasetInput } from './mlflow-types.js';

/** MLflow's dataset contexts, by split. */
const CONTEXTS = { train: 'training', validation: 'validation', test: 'testing' } as const;

/** A tensor spec list as MLflow writes one into a schema or a signature (a JSON string). */
export function tensorSpec(dtype: string, shape: readonly number[]): string {
  return JSON.stringify([{ type: 'tensor', 'tensor-spec': { dtype, shape } }]);
}

/** The dataset name of a split: the data plugin and the split (`fashion-mnist-train`). */
export function datasetName(plugin: string, split: SplitRecord['split']): string {
  return `${plugin}-${split}`;
}

/**
 * The trial's splits as MLflow datasets, in the form MLflow's own numpy datasets take: a tensor
 * schema (images float32 NHWC, labels int32) and a profile of shapes and sizes; the source is the
 * data as recorded (dataset name and relative path, never a machine path).
 */
export function runDatasets(result: TrialResult): RunDataset[] {
  const plugin = result.trial.loaded.spec.data.plugin;
  return result.splits.map((split) => {
    const features = [split.count, ...split.imageShape];
    const size = features.reduce((a, b) => a * b, 1);
    return {
      name: datasetName(plugin, split.split),
      digest: split.digest,
      sourceType: 'local',
      source: JSON.stringify({ uri: result.dataSource }),
      schema: JSON.stringify({
        mlflow_tensorspec: { features: tensorSpec('float32', [-1, ...split.imageShape]), targets: tensorSpec('int32', [-1]) },
      }),
      profile: JSON.stringify({
        features_shape: features,
        features_size: size,
        features_nbytes: size * 4,
        targets_shape: [split.count],
        targets_size: split.count,
        targets_nbytes: split.count * 4,
      }),
      context: CONTEXTS[split.split],
    };
  });
}

/** A dataset as `runs/log-inputs` sends it. */
export function mlflowDatasetInput(dataset: RunDataset): MlflowDatasetInput {
  const { context, sourceType, ...rest } = dataset;
  return {
    tags: [{ key: 'mlflow.data.context', value: context }],
    dataset: {
      name: rest.name,
      digest: rest.digest,
      source_type: sourceType,
      source: rest.source,
      schema: rest.schema,
      profile: rest.profile,
    },
  };
}
