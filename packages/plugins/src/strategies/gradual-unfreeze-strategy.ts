import { injectable } from 'inversify';
import { z } from 'zod';
import { ThawError, optimizerName, type Phase, type StrategyContext, type StrategyPlugin } from '@thaw/core';

const optionsSchema = z.strictObject({
  every: z.number().int().min(1).default(1).describe('epochs at each depth before the next unit is unfrozen'),
  to: z
    .union([z.number().int().min(1), z.literal('all')], { error: 'expected a number of units ≥ 1 or "all"' })
    .default('all')
    .describe('the deepest the unfreezing goes: a number of top units, or all'),
  finalEpochs: z
    .number()
    .int()
    .min(1)
    .optional()
    .describe('epochs at the final depth (default: train.epochs less the epochs of the stages before it, at least every)'),
  batchNorm: z
    .enum(['inference', 'frozen', 'train'])
    .default('inference')
    .describe('BatchNormalization inside unfrozen units: inference (statistics fixed, gamma and beta train), frozen or train'),
  learningRate: z.number().positive().optional().describe('learning rate of every stage (default train.learningRate)'),
  optimizer: optimizerName.optional().describe('optimizer of every stage (default train.optimizer)'),
});
type Options = z.output<typeof optionsSchema>;

/**
 * Gradual unfreezing (Howard & Ruder 2018, ULMFiT): the head alone first, then one more unit from
 * the top every `every` epochs, down to `to` units or all. Each stage is a phase, so each starts
 * with a fresh optimizer, as a Keras recompile would.
 */
@injectable()
export class GradualUnfreezeStrategy implements StrategyPlugin<Options> {
  readonly id = 'gradual-unfreeze';
  readonly description = 'ULMFiT gradual unfreezing: head first, then one more unit from the top every n epochs, down to a depth or all';
  readonly optionsSchema = optionsSchema;

  plan(options: Options, context: StrategyContext): Phase[] {
    const total = context.units.length;
    const depth = options.to === 'all' ? total : options.to;
    if (depth > total) {
      throw new ThawError(`${context.where}.to: received ${depth}; the base has ${total} units (expected 1 … ${total} or all)`);
    }
    const stages = depth; // head alone, then depths 1 … depth-1 before the final one
    const final = options.finalEpochs ?? Math.max(options.every, context.train.epochs - stages * options.every);
    const learningRate = options.learningRate ?? context.train.learningRate;
    const common = { learningRate, ...(options.optimizer === undefined ? {} : { optimizer: options.optimizer }) };
    const phases: Phase[] = [{ name: 'head', trainableUnits: [], batchNorm: 'frozen', epochs: options.every, ...common }];
    for (let k = 1; k <= depth; k++) {
      phases.push({
        name: `unfreeze-${k === total ? 'all' : k}`,
        trainableUnits: context.units.slice(total - k).map((unit) => unit.name),
        batchNorm: options.batchNorm,
        epochs: k === depth ? final : options.every,
        ...common,
      });
    }
    return phases;
  }
}
