import { stringify } from 'yaml';
import { tensorSpec } from './run-datasets.js';

export interface MlmodelFields {
  /** Where the model's files are (its logged model's artifact location, or the run's `model` folder). */
  readonly artifactPath: string;
  readonly runId: string;
  /** The logged model, when there is one. */
  readonly modelId?: string;
  /** One input image: [height, width, channels]. */
  readonly inputShape: readonly number[];
  /** Outputs per image: one per class, or 1 (a logit). */
  readonly outputs: number;
  readonly classNames: readonly string[];
  readonly backend: string;
  readonly created: Date;
}

/**
 * The MLmodel file of a thaw model, in the layout MLflow writes (see the contract's step 2a): a
 * `tfjs` flavor (a TF.js layers model: `model.json`, whose metadata holds thaw's units and classes,
 * and `weights.bin`), and a tensor signature, which the UI shows as the model's schema.
 */
export function mlmodelYaml(fields: MlmodelFields): string {
  const created = fields.created.toISOString().replace('T', ' ').replace('Z', '000');
  return stringify(
    {
      artifact_path: fields.artifactPath,
      flavors: {
        tfjs: {
          format: 'layers-model',
          model_file: 'model.json',
          weights_file: 'weights.bin',
          backend: fields.backend,
          class_names: [...fields.classNames],
        },
      },
      ...(fields.modelId === undefined ? {} : { model_id: fields.modelId, model_uuid: fields.modelId }),
      run_id: fields.runId,
      signature: {
        inputs: tensorSpec('float32', [-1, ...fields.inputShape]),
        outputs: tensorSpec('float32', [-1, fields.outputs]),
        params: null,
      },
      utc_time_created: created,
    },
    { lineWidth: 0 },
  );
}
