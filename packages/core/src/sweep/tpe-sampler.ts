/**
 * Tree-structured Parzen Estimator (Bergstra et al. 2011), univariate, with the defaults of
 * Optuna's TPESampler: 10 random startup trials, 24 candidates, gamma(n) = min(ceil(n / 10), 25),
 * a prior kernel of weight 1 and "magic clip" bandwidths. Pure: the suggestion depends only on
 * its arguments, so a resumed sweep recomputes the same values.
 */
import { isDeepStrictEqual } from 'node:util';
import { SeededRandom } from '@thaw/contracts';
import { sampleDistribution, type Distribution, type SearchSpace } from './sample-distribution.js';

export type { SearchSpace } from './sample-distribution.js';

export interface TpeObservation {
  readonly values: Readonly<Record<string, unknown>>;
  readonly value: number;
}

export interface TpeOptions {
  readonly seed: number;
  readonly goal: 'max' | 'min';
  /** Random trials before the estimator takes over (default 10). */
  readonly startupTrials?: number;
  /** Draws from the good density, per parameter, among which the best ratio is picked (default 24). */
  readonly candidates?: number;
}

const PRIOR_WEIGHT = 1;
const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);

/** The values of trial `index` (0-based) given the finished trials so far. Deterministic in (space, observations, options, index). */
export function suggestTpe(
  space: SearchSpace,
  observations: readonly TpeObservation[],
  index: number,
  options: TpeOptions,
): Record<string, unknown> {
  const candidates = options.candidates ?? 24;
  if (!Number.isInteger(candidates) || candidates < 1) throw new RangeError(`candidates: received ${candidates}; expected an integer >= 1`);
  // Seeded by trial, not by a stream shared across trials, so trial i does not depend on how many
  // ran before it. Index 0 gets the sweep's seed itself: random search's first draw.
  const random = new SeededRandom(options.seed ^ Math.imul(index, 0x9e3779b1));
  // A NaN is a failed trial: it has no rank.
  const finished = observations.filter((observation) => !Number.isNaN(observation.value));
  if (finished.length < (options.startupTrials ?? 10)) {
    return Object.fromEntries(Object.entries(space).map(([path, distribution]) => [path, sampleDistribution(distribution, random)]));
  }
  const sign = options.goal === 'max' ? -1 : 1;
  // Stable sort: of equal values the earlier trial ranks first.
  const ranked = finished
    .map((observation, order) => ({ value: observation.value, order }))
    .sort((a, b) => (a.value === b.value ? 0 : sign * (a.value < b.value ? -1 : 1)));
  // gamma(n) = min(ceil(n / 10), 25): the good set grows with n but stays small enough to be selective.
  const good = new Set(ranked.slice(0, Math.min(Math.ceil(0.1 * finished.length), 25)).map((entry) => entry.order));
  // Both sets keep trial order, which the weights below rely on.
  const below = finished.filter((_, order) => good.has(order));
  const above = finished.filter((_, order) => !good.has(order));
  return Object.fromEntries(
    Object.entries(space).map(([path, distribution]) => {
      const scale = scaleOf(distribution);
      // An empty interval: draw what random search would.
      if (scale === undefined) return [path, sampleDistribution(distribution, random)];
      const l = fitParzen(scale, internalValues(below, path, distribution));
      const g = fitParzen(scale, internalValues(above, path, distribution));
      let best = 0;
      let bestScore = -Infinity;
      for (let i = 0; i < candidates; i++) {
        const x = l.draw(random);
        const score = l.logDensity(x) - g.logDensity(x);
        // Strictly greater: the first of equal candidates wins.
        if (i === 0 || score > bestScore) {
          best = x;
          bestScore = score;
        }
      }
      return [path, externalValue(distribution, best)];
    }),
  );
}

/**
 * Where the estimator works: a choice's member indices, or a numeric interval (in log space for
 * logUniform; an int's widened by half a step either side so its ends are as likely as its
 * middle). Undefined for an empty interval, which has nothing to model.
 */
type Scale = { readonly members: number } | { readonly low: number; readonly high: number; readonly integer: boolean };

function scaleOf(distribution: Distribution): Scale | undefined {
  if ('choice' in distribution) return { members: distribution.choice.length };
  const [low, high, integer] =
    'uniform' in distribution
      ? [...distribution.uniform, false]
      : 'logUniform' in distribution
        ? [Math.log(distribution.logUniform[0]), Math.log(distribution.logUniform[1]), false]
        : [distribution.int[0] - 0.5, distribution.int[1] + 0.5, true];
  return high > low ? { low, high, integer } : undefined;
}

/** Each observation's value of `path` on the estimator's scale, in trial order; missing or out-of-space values are left out. */
function internalValues(observations: readonly TpeObservation[], path: string, distribution: Distribution): number[] {
  const internal: number[] = [];
  for (const observation of observations) {
    const value = observation.values[path];
    if ('choice' in distribution) {
      const member = distribution.choice.findIndex((choice) => isDeepStrictEqual(choice, value));
      if (member >= 0) internal.push(member);
      continue;
    }
    if (typeof value !== 'number') continue;
    const [low, high] =
      'uniform' in distribution ? distribution.uniform : 'logUniform' in distribution ? distribution.logUniform : distribution.int;
    if (!(value >= low && value <= high)) continue;
    if ('int' in distribution && !Number.isInteger(value)) continue;
    internal.push('logUniform' in distribution ? Math.log(value) : value);
  }
  return internal;
}

function externalValue(distribution: Distribution, x: number): unknown {
  if ('choice' in distribution) return distribution.choice[x];
  if ('logUniform' in distribution) {
    // exp(log(high)) can round past high.
    const [low, high] = distribution.logUniform;
    return Math.min(Math.max(Math.exp(x), low), high);
  }
  return x;
}

interface Parzen {
  draw(random: SeededRandom): number;
  logDensity(x: number): number;
}

function fitParzen(scale: Scale, points: readonly number[]): Parzen {
  const weights = [...observationWeights(points.length), PRIOR_WEIGHT];
  const total = weights.reduce((sum, weight) => sum + weight, 0);
  const normalised = weights.map((weight) => weight / total);
  return 'members' in scale ? choiceParzen(scale.members, points, normalised) : numericParzen(scale, points, normalised);
}

/**
 * Optuna's default weights: equal up to 25 observations; beyond, the older ones ramp down
 * linearly from 1/n so that the estimator follows the later, better-informed trials.
 */
function observationWeights(n: number): number[] {
  const ramp = n - 25;
  if (ramp <= 0) return Array<number>(n).fill(1);
  const start = 1 / n;
  return Array.from({ length: n }, (_, i) => (i >= ramp ? 1 : ramp === 1 ? start : start + ((1 - start) * i) / (ramp - 1)));
}

/**
 * A choice as one categorical: each observation's kernel puts prior/k extra mass on every member
 * (k kernels, the prior's included) and 1 on its own; the prior kernel is uniform. Mixing them is
 * summing their rows.
 */
function choiceParzen(members: number, points: readonly number[], weights: readonly number[]): Parzen {
  const smoothing = PRIOR_WEIGHT / weights.length;
  const probabilities = Array.from({ length: members }, () => weights[points.length]! / members);
  points.forEach((member, j) => {
    for (let m = 0; m < members; m++) probabilities[m]! += (weights[j]! * (smoothing + (m === member ? 1 : 0))) / (members * smoothing + 1);
  });
  return {
    draw(random) {
      return pickIndex(probabilities, random.next());
    },
    logDensity(x) {
      return Math.log(probabilities[x]!);
    },
  };
}

/**
 * A mixture of Gaussians truncated to the interval: one per observation and a prior one at the
 * middle as wide as the interval, so every value keeps some density. An int is drawn continuously
 * and rounded, and scored by the mass its rounding interval gets.
 */
function numericParzen(
  scale: { readonly low: number; readonly high: number; readonly integer: boolean },
  points: readonly number[],
  weights: readonly number[],
): Parzen {
  const { low, high, integer } = scale;
  const mus = [...points, (low + high) / 2];
  const sigmas = [...bandwidths(points, low, high), high - low];
  const logWeights = weights.map(Math.log);
  const logTruncation = mus.map((mu, j) => logGaussMass((low - mu) / sigmas[j]!, (high - mu) / sigmas[j]!));
  return {
    draw(random) {
      const j = pickIndex(weights, random.next());
      let x: number;
      // Rejection is exact and cheap here: each centre lies inside the interval and no kernel is
      // wider than it, so at least a third of a kernel's mass falls inside.
      do x = mus[j]! + sigmas[j]! * gaussian(random);
      while (x < low || x > high);
      return integer ? Math.min(Math.max(Math.round(x), low + 0.5), high - 0.5) : x;
    },
    logDensity(x) {
      const terms = mus.map((mu, j) => {
        const sigma = sigmas[j]!;
        const logKernel = integer
          ? logGaussMass((x - 0.5 - mu) / sigma, (x + 0.5 - mu) / sigma)
          : -0.5 * ((x - mu) / sigma) ** 2 - Math.log(sigma) - LOG_SQRT_2PI;
        return logWeights[j]! + logKernel - logTruncation[j]!;
      });
      const max = Math.max(...terms);
      return max === -Infinity ? max : max + Math.log(terms.reduce((sum, term) => sum + Math.exp(term - max), 0));
    },
  };
}

/**
 * Each kernel as wide as the larger gap to its neighbours (the interval's ends count as
 * neighbours, except for the outermost kernels once there are two: Optuna's consider_endpoints
 * off), then clipped to [range / min(100, kernels + 1), range]: the magic clip, which keeps
 * clustered observations from collapsing the density to spikes.
 */
function bandwidths(points: readonly number[], low: number, high: number): number[] {
  const order = points.map((_, i) => i).sort((a, b) => points[a]! - points[b]!);
  const sorted = [low, ...order.map((i) => points[i]!), high];
  const range = high - low;
  const minSigma = range / Math.min(100, points.length + 2);
  const sigmas = Array<number>(points.length);
  order.forEach((i, rank) => {
    const left = sorted[rank + 1]! - sorted[rank]!;
    const right = sorted[rank + 2]! - sorted[rank + 1]!;
    const sigma =
      points.length < 2 ? Math.max(left, right) : rank === 0 ? right : rank === points.length - 1 ? left : Math.max(left, right);
    sigmas[i] = Math.min(Math.max(sigma, minSigma), range);
  });
  return sigmas;
}

/** The index whose cumulative weight first exceeds u·total. */
function pickIndex(weights: readonly number[], u: number): number {
  let remaining = u * weights.reduce((sum, weight) => sum + weight, 0);
  for (let i = 0; i < weights.length - 1; i++) {
    remaining -= weights[i]!;
    if (remaining < 0) return i;
  }
  return weights.length - 1;
}

/** A standard normal draw (Box–Muller; 1 − u keeps the logarithm finite). */
function gaussian(random: SeededRandom): number {
  return Math.sqrt(-2 * Math.log(1 - random.next())) * Math.cos(2 * Math.PI * random.next());
}

/**
 * log P(a < Z < b) for a standard normal Z, a < b. Computed from the upper tails so that a mass
 * far out in a tail (a narrow kernel scored far from its centre) stays finite instead of 0.
 */
function logGaussMass(a: number, b: number): number {
  if (a >= 0) return logUpperTail(a) + log1mExp(logUpperTail(b) - logUpperTail(a));
  if (b <= 0) return logGaussMass(-b, -a);
  return Math.log1p(-Math.exp(logUpperTail(-a)) - Math.exp(logUpperTail(b)));
}

/** log(1 − e^d) for d ≤ 0, accurate at both ends. */
function log1mExp(d: number): number {
  return d > -Math.LN2 ? Math.log(-Math.expm1(d)) : Math.log1p(-Math.exp(d));
}

/**
 * log P(Z > z) for z ≥ 0, from the Chebyshev fit of erfc (relative error under 1.2e-7), taken
 * in log form so that it never underflows.
 */
function logUpperTail(z: number): number {
  const x = z / Math.SQRT2;
  const t = 1 / (1 + 0.5 * x);
  const poly =
    -1.26551223 +
    t *
      (1.00002368 +
        t *
          (0.37409196 +
            t *
              (0.09678418 +
                t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  return Math.log(0.5 * t) - x * x + poly;
}
