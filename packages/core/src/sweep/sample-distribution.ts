import type { SeededRandom, SweepSpec } from '@thaw/contracts';

/** A search space of random search and TPE: distributions by spec path. */
export type SearchSpace = NonNullable<SweepSpec['random']>['space'];
export type Distribution = SearchSpace[string];

/** One draw from a distribution of the search space, as random search makes it. */
export function sampleDistribution(distribution: Distribution, random: SeededRandom): unknown {
  if ('choice' in distribution) return distribution.choice[Math.floor(random.next() * distribution.choice.length)];
  if ('uniform' in distribution) return random.uniform(distribution.uniform[0], distribution.uniform[1]);
  if ('logUniform' in distribution) {
    const [low, high] = distribution.logUniform;
    return Math.exp(random.uniform(Math.log(low), Math.log(high)));
  }
  const [low, high] = distribution.int;
  return low + Math.floor(random.next() * (high - low + 1));
}
