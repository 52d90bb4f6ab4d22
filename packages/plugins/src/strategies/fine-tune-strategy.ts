import { injectable } from 'inversify';
import { z } from 'zod';
import type { Phase, StrategyContext, StrategyPlugin } from '@thaw/core';

const batchNorm = z
  .enum(['frozen', 'train'])
  .default('frozen')
  .describe('BatchNormalization inside unfrozen units: frozen (inference mode, Keras advice) or train');

const headFirst = z
  .strictObject({
    epochs: z.number().int().min(1),
    learningRate: z.number().positive().optional(),
  })
  .optional()
  .describe('train the head alone first (epochs, learningRate), then unfreeze');

const fineTuneOptions = z.strictObject({
  unfreeze: z
    .union([z.number().int().min(0), z.literal('all')], { error: 'expected a number of units ≥ 0 or "all"' })
    .default(0)
    .describe('units of the base to train, counted from the top; 0 is feature extraction'),
  batchNorm,
  headFirst,
  learningRate: z.number().positive().optional().describe('learning rate of the unfrozen phase (default train.learningRate)'),
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
    let depth = options.unfreeze === 'all' ? total : options.unfreeze;
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
      });
    }
    phases.push({
      name: depth === 0 ? 'feature-extraction' : `fine-tune-${depth === total ? 'all' : depth}`,
      trainableUnits: context.units.slice(total - depth).map((unit) => unit.name),
      batchNorm: options.batchNorm,
      epochs: context.train.epochs,
      learningRate: depth > 0 && options.learningRate !== undefined ? options.learningRate : context.train.learningRate,
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
