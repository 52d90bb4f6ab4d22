import { injectable } from 'inversify';
import { z } from 'zod';
import { ThawError, optimizerName, type Phase, type StrategyContext, type StrategyPlugin } from '@thaw/core';

const optionsSchema = z.strictObject({
  n: z
    .union([z.number().int().min(0), z.literal('all')], { error: 'expected a number of units ≥ 0 or "all"' })
    .describe('units copied from the base, from the input up; the units above them are re-initialised'),
  fineTune: z.boolean().default(false).describe('false: the copied units stay frozen (AnB); true: they train too (AnB+)'),
  batchNorm: z
    .enum(['train', 'inference', 'frozen'])
    .default('train')
    .describe('BatchNormalization in trained units; re-initialised ones need train (their statistics start empty)'),
  learningRate: z.number().positive().optional().describe('learning rate (default train.learningRate)'),
  optimizer: optimizerName.optional().describe('optimizer (default train.optimizer)'),
});
type Options = z.output<typeof optionsSchema>;

/**
 * Yosinski et al. 2014, "How transferable are features in deep neural networks?": the first n
 * units keep the base's weights, the units above them are drawn afresh and trained; the copied
 * units stay frozen (AnB) or are fine-tuned with the rest (AnB+). With a base trained on the
 * target task itself, the same runs are the selffer controls (BnB, BnB+). One phase, train.epochs.
 */
@injectable()
export class TransferNStrategy implements StrategyPlugin<Options> {
  readonly id = 'transfer-n';
  readonly description = 'Yosinski et al. 2014: the first n units copied (frozen, or fine-tuned with fineTune), the rest re-initialised';
  readonly optionsSchema = optionsSchema;

  plan(options: Options, context: StrategyContext): Phase[] {
    const total = context.units.length;
    const n = options.n === 'all' ? total : options.n;
    if (n > total) throw new ThawError(`${context.where}.n: received ${n}; the base has ${total} units (expected 0 … ${total} or all)`);
    const fresh = context.units.slice(n).map((unit) => unit.name);
    return [
      {
        name: `transfer-${n}${options.fineTune ? '+' : ''}`,
        trainableUnits: options.fineTune ? context.units.map((unit) => unit.name) : fresh,
        reinitializeUnits: fresh,
        batchNorm: options.batchNorm,
        epochs: context.train.epochs,
        learningRate: options.learningRate ?? context.train.learningRate,
        ...(options.optimizer === undefined ? {} : { optimizer: options.optimizer }),
      },
    ];
  }
}
