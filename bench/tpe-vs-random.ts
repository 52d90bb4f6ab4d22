/**
 * TPE against random search on a synthetic stand-in for thaw's question: validation accuracy as a
 * smooth function of unfreeze depth, learning rate, head dropout and optimizer, with seeded noise.
 * For each seed, both samplers run up to --trials trials; printed: how many trials each needed
 * until a configuration's noise-free accuracy came within 1% of the known optimum (median and
 * quartiles over the seeds, "never" counting as more than --trials), the seeds that never got
 * there, the median best accuracy after 10, 25, 50 and all trials, and the time per suggestion.
 *   node bench/dist/tpe-vs-random.js [--seeds 20] [--trials 100] [--noise 0.003]
 */
import { parseArgs } from 'node:util';
import { SeededRandom } from '@thaw/contracts';
import { expandSweep, suggestTpe, type SearchSpace, type TpeObservation } from '@thaw/core';

const { values: args } = parseArgs({
  options: {
    seeds: { type: 'string', default: '20' },
    trials: { type: 'string', default: '100' },
    noise: { type: 'string', default: '0.003' },
  },
});
const seeds = Number(args.seeds);
const trials = Number(args.trials);
const noise = Number(args.noise);

const space: SearchSpace = {
  'strategy.unfreeze': { int: [0, 10] },
  'train.learningRate': { logUniform: [1e-5, 1e-1] },
  'model.head.dropout': { uniform: [0, 0.5] },
  'train.optimizer': { choice: ['adam', 'sgd', 'rmsprop'] },
};

const BEST = 0.93;
const TARGET = 0.99 * BEST;
/** The best log10 learning rate per optimizer with the base frozen; each unfrozen block lowers it by 0.1 decade. */
const BEST_LOG_RATE: Record<string, number> = { adam: -3, rmsprop: -3.3, sgd: -1.7 };
const OPTIMIZER_PENALTY: Record<string, number> = { adam: 0, rmsprop: 0.004, sgd: 0.008 };

/**
 * Noise-free validation accuracy, at most BEST (unfreeze 6, adam at 10^-3.6, dropout 0.2):
 * unfreezing helps up to 6 blocks, then over-fits; the learning rate is the steepest axis, its
 * best depending on optimizer and depth (the interaction a univariate sampler cannot model);
 * dropout matters little; sgd and rmsprop cost a little at their best.
 */
function accuracy(values: Readonly<Record<string, unknown>>): number {
  const unfreeze = values['strategy.unfreeze'] as number;
  const optimizer = values['train.optimizer'] as string;
  const rateError = Math.log10(values['train.learningRate'] as number) - (BEST_LOG_RATE[optimizer]! - 0.1 * unfreeze);
  const dropout = values['model.head.dropout'] as number;
  return BEST - 0.004 * (unfreeze - 6) ** 2 - 0.04 * rateError ** 2 - 0.3 * (dropout - 0.2) ** 2 - OPTIMIZER_PENALTY[optimizer]!;
}

/** What a trial reports: the accuracy plus seeded Gaussian noise, as replicate seeds give. */
function observed(values: Readonly<Record<string, unknown>>, seed: number, index: number): number {
  const random = new SeededRandom(seed * 100_003 + index + 1);
  return accuracy(values) + noise * Math.sqrt(-2 * Math.log(1 - random.next())) * Math.cos(2 * Math.PI * random.next());
}

interface Run {
  /** 1-based trial count at which the target was first reached; Infinity if never. */
  readonly reachedAt: number;
  /** Best noise-free accuracy after each trial. */
  readonly bestSoFar: readonly number[];
}

function summarise(tried: readonly Readonly<Record<string, unknown>>[]): Run {
  let best = -Infinity;
  const bestSoFar = tried.map((values) => (best = Math.max(best, accuracy(values))));
  const first = bestSoFar.findIndex((value) => value >= TARGET);
  return { reachedAt: first < 0 ? Infinity : first + 1, bestSoFar };
}

function randomRun(seed: number): Run {
  return summarise(
    expandSweep({
      grid: {},
      random: { trials, seed, space, sampler: 'random', startupTrials: 10 },
      parallel: 1,
      metric: { name: 'val_accuracy', goal: 'max' },
    }),
  );
}

let tpeMilliseconds = 0;
function tpeRun(seed: number): Run {
  const observations: TpeObservation[] = [];
  for (let index = 0; index < trials; index++) {
    const started = performance.now();
    const values = suggestTpe(space, observations, index, { seed, goal: 'max' });
    tpeMilliseconds += performance.now() - started;
    observations.push({ values, value: observed(values, seed, index) });
  }
  return summarise(observations.map((observation) => observation.values));
}

/** Linear-interpolated quantile of sorted values (Infinity stays Infinity). */
function quantile(sorted: readonly number[], q: number): number {
  const position = (sorted.length - 1) * q;
  const below = sorted[Math.floor(position)]!;
  const above = sorted[Math.ceil(position)]!;
  return below === above ? below : below + (above - below) * (position - Math.floor(position));
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ')).join('\n');
}

const trialsShown = (n: number) => (n === Infinity ? `>${trials}` : Number.isInteger(n) ? String(n) : n.toFixed(1));
const checkpoints = [10, 25, 50, trials].filter((n, i, all) => n <= trials && all.indexOf(n) === i);
const rows = [['sampler', 'median trials to 99%', 'quartiles', 'never reached', ...checkpoints.map((n) => `best after ${n} (median)`)]];
for (const [name, run] of [
  ['random', randomRun],
  ['TPE', tpeRun],
] as const) {
  const runs = Array.from({ length: seeds }, (_, i) => run(i + 1));
  const reached = runs.map((r) => r.reachedAt).sort((a, b) => a - b);
  rows.push([
    name,
    trialsShown(quantile(reached, 0.5)),
    `${trialsShown(quantile(reached, 0.25))}–${trialsShown(quantile(reached, 0.75))}`,
    `${reached.filter((n) => n === Infinity).length} of ${seeds}`,
    ...checkpoints.map((n) =>
      quantile(
        runs.map((r) => r.bestSoFar[n - 1]!).sort((a, b) => a - b),
        0.5,
      ).toFixed(4),
    ),
  ]);
}
console.log(
  `synthetic accuracy over unfreeze, learning rate, dropout and optimizer: optimum ${BEST}, target ${TARGET.toFixed(4)} (within 1%), ` +
    `noise sd ${noise}; ${seeds} seeds, up to ${trials} trials each`,
);
console.log(table(rows));
console.log(`TPE: ${(tpeMilliseconds / (seeds * trials)).toFixed(2)} ms per suggestion on average (growing with the trials observed)`);
