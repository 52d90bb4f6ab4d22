import { z } from 'zod';

/** A plugin section: `plugin:` names the contribution; its other keys are that plugin's options. */
const pluginId = z
  .string({ error: 'expected a plugin id such as "small-convnet"' })
  .regex(/^[a-z0-9][a-z0-9-]*$/, { error: 'expected a kebab-case plugin id' });
const pluginSection = () => z.looseObject({ plugin: pluginId });

const fraction = (what: string) =>
  z
    .number({ error: `expected a number between 0 and 1 (${what})` })
    .gt(0, { error: `expected a number > 0 (${what})` })
    .lte(1, {
      error: `expected a number <= 1 (${what})`,
    });

const augmentOp = z.discriminatedUnion(
  'op',
  [
    z.strictObject({
      op: z.literal('flip'),
      mode: z.enum(['horizontal', 'vertical', 'horizontal-and-vertical']).default('horizontal'),
    }),
    z.strictObject({ op: z.literal('rotation'), factor: fraction('fraction of a full turn, as in Keras RandomRotation') }),
    z.strictObject({ op: z.literal('zoom'), factor: fraction('largest relative change of scale') }),
    z.strictObject({ op: z.literal('translation'), factor: fraction('largest shift as a fraction of height and width') }),
    z.strictObject({ op: z.literal('contrast'), factor: fraction('largest relative change of contrast') }),
  ],
  { error: 'expected an augmentation with op: flip, rotation, zoom, translation or contrast' },
);

export const optimizerName = z.enum(['adam', 'sgd', 'rmsprop'], { error: 'expected adam, sgd or rmsprop' });
export type OptimizerName = z.output<typeof optimizerName>;

const positiveInt = (what: string) =>
  z
    .number({ error: `expected a positive integer (${what})` })
    .int({ error: `expected an integer (${what})` })
    .min(1, {
      error: `expected an integer >= 1 (${what})`,
    });

const earlyStopping = z.strictObject({
  monitor: z.enum(['val_loss', 'val_accuracy']).default('val_loss'),
  patience: positiveInt('epochs without improvement before stopping'),
  minDelta: z.number().min(0).default(0),
  /** Keras' restore_best_weights: end with the best epoch's weights, so test metrics and the saved model are that epoch's. */
  restoreBestWeights: z.boolean().default(true),
});

const distribution = z.union(
  [
    z.strictObject({ choice: z.array(z.unknown()).min(1) }),
    z.strictObject({ uniform: z.tuple([z.number(), z.number()]) }),
    z.strictObject({ logUniform: z.tuple([z.number().positive(), z.number().positive()]) }),
    z.strictObject({ int: z.tuple([z.number().int(), z.number().int()]) }),
  ],
  { error: 'expected { choice: [...] }, { uniform: [low, high] }, { logUniform: [low, high] } or { int: [low, high] }' },
);

/** Early termination of trials that fall behind (Optuna's SuccessiveHalvingPruner and MedianPruner). */
const prune = z.discriminatedUnion(
  'method',
  [
    z.strictObject({
      /** Asynchronous successive halving: at epochs minEpochs × reductionFactor^k a trial goes on only in the top 1/reductionFactor of the trials that reached that epoch. */
      method: z.literal('asha'),
      minEpochs: positiveInt('epochs before the first rung').default(1),
      reductionFactor: z.number().int().min(2, { error: 'expected an integer >= 2' }).default(3),
    }),
    z.strictObject({
      /** Median stopping: after warmupEpochs, a trial whose best value so far is worse than the median of the other trials at the same epoch stops. */
      method: z.literal('median'),
      warmupEpochs: z.number().int().min(0, { error: 'expected an integer >= 0' }).default(1),
      minTrials: positiveInt('other trials that reached the epoch before any is stopped').default(3),
    }),
  ],
  { error: 'expected { method: asha, minEpochs, reductionFactor } or { method: median, warmupEpochs, minTrials }' },
);
export type PruneSpec = z.output<typeof prune>;

export const SweepSchema = z
  .strictObject({
    /** Every combination of these values, by spec path (e.g. strategy.unfreeze: [0, 1, 2, all]). */
    grid: z.record(z.string(), z.array(z.unknown(), { error: 'expected a list of values' }).min(1)).default({}),
    /** Random samples, each combined with every grid point. */
    random: z
      .strictObject({
        trials: positiveInt('random samples'),
        seed: z.number().int().min(0).default(0),
        space: z.record(z.string(), distribution),
        /** random: independent draws; tpe: Optuna's TPE, each sample chosen from the results of those before it. */
        sampler: z.enum(['random', 'tpe']).default('random'),
        /** With tpe: random samples before the estimator takes over (Optuna's n_startup_trials). */
        startupTrials: positiveInt('random samples before TPE models the results').default(10),
      })
      .optional(),
    /** Stop trials that fall behind on the sweep metric (an epoch metric): ASHA or median stopping. */
    prune: prune.optional(),
    /** Trials at once, each in its own worker process (--parallel overrides). */
    parallel: positiveInt('worker processes').default(1),
    metric: z
      .strictObject({
        name: z.string().min(1).default('val_accuracy'),
        goal: z.enum(['max', 'min']).default('max'),
      })
      .prefault({}),
  })
  .refine((sweep) => Object.keys(sweep.grid).length > 0 || sweep.random !== undefined, { error: 'expected a grid or random section' });
export type SweepSpec = z.output<typeof SweepSchema>;

export const ExperimentSpecSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, { error: 'expected a name of letters, digits, ".", "_" or "-"' }),
  description: z.string().optional(),
  seed: z.number().int({ error: 'expected an integer seed' }).min(0, { error: 'expected a seed >= 0' }).default(1),
  plugins: z.array(z.string().min(1), { error: 'expected a list of package names or file paths' }).default([]),
  data: pluginSection(),
  augment: z.array(augmentOp, { error: 'expected a list of augmentations' }).default([]),
  model: z.strictObject({
    base: pluginSection(),
    head: z
      .strictObject({
        pooling: z.enum(['average', 'max', 'flatten']).default('average'),
        hidden: z.array(positiveInt('units of a hidden dense layer')).default([]),
        dropout: z.number().min(0, { error: 'expected a rate >= 0' }).lt(1, { error: 'expected a rate < 1' }).default(0.2),
        /** Outputs: one per class (softmax), or 1 for two classes: one logit with binary cross-entropy, as Keras' Dense(1). */
        units: positiveInt('outputs of the last dense layer: the number of classes, or 1 for two classes').optional(),
      })
      .prefault({}),
  }),
  strategy: z.looseObject({ plugin: pluginId.default('fine-tune') }).prefault({ plugin: 'fine-tune' }),
  train: z
    .strictObject({
      epochs: positiveInt('epochs').default(10),
      batchSize: positiveInt('images per batch').default(32),
      optimizer: optimizerName.default('adam'),
      learningRate: z.number().positive({ error: 'expected a learning rate > 0' }).default(1e-3),
      momentum: z.number().min(0).lt(1).default(0),
      /**
       * Discriminative learning rates (timm's layer_decay, fastai's slice): the head trains at the
       * phase's rate, the base's top unit at that × layerDecay, the next at × layerDecay², and so on down.
       */
      layerDecay: z
        .number()
        .gt(0, { error: 'expected a factor > 0' })
        .lte(1, { error: 'expected a factor <= 1 (1: one rate for all)' })
        .optional(),
      earlyStopping: earlyStopping.optional(),
      /** Compute the frozen part once per phase (when no augmentation precedes it) instead of every epoch; results are identical. */
      cacheFrozen: z.boolean().default(true),
    })
    .prefault({}),
  evaluate: z.strictObject({ split: z.enum(['test', 'validation']).default('test') }).prefault({}),
  tracking: z
    .strictObject({
      /** MLflow experiment (default: MLFLOW_EXPERIMENT_NAME, else the spec's name). */
      experiment: z.string().min(1).optional(),
      /** MLflow tracking server (http/https) or local folder (default: MLFLOW_TRACKING_URI, else `store`). */
      uri: z.string().min(1).optional(),
      /** The local MLflow file store; with a server, the local copy that nothing is lost from. */
      store: z.string().min(1).default('mlruns'),
      /** CPU, memory, disk and network sampled during the trial under MLflow's `system/` keys (the System metrics tab). */
      systemMetrics: z.boolean().default(true),
    })
    .prefault({}),
  sweep: SweepSchema.optional(),
  output: z
    .strictObject({
      /** Where to save the trained base (TF.js layers format), relative to the spec's folder. */
      base: z.string().min(1).optional(),
    })
    .prefault({}),
});

/** A spec with every default filled in: what is trained and what is recorded. */
export type ExperimentSpec = z.output<typeof ExperimentSpecSchema>;
export type AugmentOp = ExperimentSpec['augment'][number];
export type TrainConfig = ExperimentSpec['train'];
export type HeadConfig = ExperimentSpec['model']['head'];
export interface PluginSection {
  plugin: string;
  [option: string]: unknown;
}

/** Splits a plugin section into its id and its options. */
export function pluginOptions(section: PluginSection): { id: string; options: Record<string, unknown> } {
  const { plugin, ...options } = section;
  return { id: plugin, options };
}
