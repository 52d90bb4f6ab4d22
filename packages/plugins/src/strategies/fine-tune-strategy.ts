import { injectable } from 'inversify';
import { z } from 'zod';
import { ThawError, optimizerName, type Phase, type StrategyContext, type StrategyPlugin } from '@thaw/core';

const batchNorm = z
  .enum(['inference', 'frozen', 'train'])
  .default('inference')
  .describe(
    'BatchNormalization inside unfrozen units: inference (moving statistics fixed, gamma and beta train: the Keras tutorial), frozen (nothing of BN trains) or train (batch statistics)',
  );

const optimizer = optimizerName.optional();

const headFirst = z
  .strictObject({
    epochs: z.number().int().min(1),
    learningRate: z.number().positive().optional(),
    optimizer: optimizer.describe('optimizer of the head phase (default train.optimizer)'),
  })
  .optional()
  .describe('train the head alone first (epochs, learningRate, optimizer), then unfreeze');

const fineTuneOptions = z.strictObject({
  unfreeze: z
    .union(
      [
        z.number().int().min(0),
        z.literal('all'),
        z.strictObject({ from: z.string().min(1) }),
        z.strictObject({ fineTuneAt: z.number().int().min(0) }),
      ],
      { error: 'expected a number of units ≥ 0, "all", { from: <unit name> } or { fineTuneAt: <layer index> }' },
    )
    .default(0)
    .describe(
      'what of the base trains: k top units (0 = feature extraction), all, { from: unit } (it and those above), or { fineTuneAt: i } (Keras: layers[i:])',
    ),
  batchNorm,
  headFirst,
  learningRate: z.number().positive().optional().describe('learning rate of the unfrozen phase (default train.learningRate)'),
  optimizer: optimizer.describe('optimizer of the unfrozen phase (default train.optimizer), e.g. rmsprop as the Keras tutorial'),
});
export type FineTuneOptions = z.output<typeof fineTuneOptions>;

/**
 * Fine-tuning over the base's units, fastai's `freeze_to` counted from the top: `unfreeze: k`
 * trains the top k units and the head, `all` trains everything, 0 is feature extraction.
 */
@injectable()
export class FineTuneStrategy implements StrategyPlugin<FineTuneOptions> {
  readonly id: string = 'fine-tune';
  readonly description: string =
    'train the top k units of the base and the head (unfreeze: k | all; 0 = feature extraction), optionally after a head-only phase';
  readonly optionsSchema: z.ZodType<FineTuneOptions> = fineTuneOptions;

  plan(options: FineTuneOptions, context: StrategyContext): Phase[] {
    const total = context.units.length;
    const { unfreeze } = options;
    let depth: number;
    let frozenLayers: string[] = [];
    let label: string | undefined;
    if (typeof unfreeze === 'object' && 'fineTuneAt' in unfreeze) {
      // Keras: for layer in base.layers[:fine_tune_at]: layer.trainable = False
      const at = unfreeze.fineTuneAt;
      if (at > context.layers.length) {
        throw new ThawError(
          `${context.where}.unfreeze.fineTuneAt: received ${at}; the base has ${context.layers.length} layers (expected 0 … ${context.layers.length})`,
        );
      }
      const frozen = new Set(context.layers.slice(0, at));
      const lowest = context.units.findIndex((unit) => unit.layers.some((layer) => !frozen.has(layer)));
      depth = lowest === -1 ? 0 : total - lowest;
      frozenLayers = context.units.slice(total - depth).flatMap((unit) => unit.layers.filter((layer) => frozen.has(layer)));
      label = `fine-tune-at-${at}`;
    } else if (typeof unfreeze === 'object') {
      const index = context.units.findIndex((unit) => unit.name === unfreeze.from);
      if (index === -1) {
        const names = context.units.map((unit) => unit.name);
        throw new ThawError(
          `${context.where}.unfreeze.from: received ${JSON.stringify(unfreeze.from)}; expected a unit of the base: ${names.join(', ')}`,
        );
      }
      depth = total - index;
      label = `fine-tune-from-${unfreeze.from}`;
    } else {
      depth = unfreeze === 'all' ? total : unfreeze;
    }
    if (depth > total) {
      context.log.warn(`${context.where}.unfreeze: received ${depth} but the base has ${total} units; unfreezing all ${total}`);
      depth = total;
    }
    const phases: Phase[] = [];
    if (options.headFirst && depth > 0) {
      phases.push({
        name: 'head',
        trainableUnits: [],
        batchNorm: 'frozen',
        epochs: options.headFirst.epochs,
        learningRate: options.headFirst.learningRate ?? context.train.learningRate,
        ...(options.headFirst.optimizer === undefined ? {} : { optimizer: options.headFirst.optimizer }),
      });
    }
    phases.push({
      name: depth === 0 ? 'feature-extraction' : (label ?? `fine-tune-${depth === total ? 'all' : depth}`),
      trainableUnits: context.units.slice(total - depth).map((unit) => unit.name),
      ...(frozenLayers.length > 0 ? { frozenLayers } : {}),
      batchNorm: options.batchNorm,
      epochs: context.train.epochs,
      learningRate: depth > 0 && options.learningRate !== undefined ? options.learningRate : context.train.learningRate,
      ...(depth > 0 && options.optimizer !== undefined ? { optimizer: options.optimizer } : {}),
    });
    return phases;
  }
}

const featureExtractionOptions = z.strictObject({ batchNorm });

/** Feature extraction: the same strategy with zero unfrozen units — only the head trains. */
@injectable()
export class FeatureExtractionStrategy extends FineTuneStrategy {
  override readonly id = 'feature-extraction';
  override readonly description = 'train only the head on a frozen base (fine-tune with unfreeze: 0)';
  override readonly optionsSchema = featureExtractionOptions.transform((options): FineTuneOptions => ({ ...options, unfreeze: 0 }));
}
