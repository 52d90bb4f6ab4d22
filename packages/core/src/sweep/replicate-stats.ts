import { compareValues } from './sweep-plot.js';

/** Student's t distribution: P(T ≤ t) for `df` degrees of freedom, through the regularised incomplete beta function. */
export function studentTCdf(t: number, df: number): number {
  if (!Number.isFinite(t)) return t > 0 ? 1 : 0;
  const tail = 0.5 * incompleteBeta(df / (df + t * t), df / 2, 0.5);
  return t > 0 ? 1 - tail : tail;
}

/** The t value below which a share `p` of Student's t distribution lies (bisection on the CDF). */
export function studentTQuantile(p: number, df: number): number {
  let [low, high] = [-1e3, 1e3];
  for (let i = 0; i < 200; i++) {
    const mid = (low + high) / 2;
    if (studentTCdf(mid, df) < p) low = mid;
    else high = mid;
  }
  return (low + high) / 2;
}

/** I_x(a, b), by the continued fraction of Numerical Recipes (Lentz's method). */
function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  if (x > (a + 1) / (a + b + 2)) return 1 - incompleteBeta(1 - x, b, a);
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  d = 1 / (Math.abs(d) < tiny ? tiny : d);
  let f = d;
  for (let m = 1; m <= 300; m++) {
    for (const numerator of [
      (m * (b - m) * x) / ((a + 2 * m - 1) * (a + 2 * m)),
      -((a + m) * (a + b + m) * x) / ((a + 2 * m) * (a + 2 * m + 1)),
    ]) {
      d = 1 + numerator * d;
      d = 1 / (Math.abs(d) < tiny ? tiny : d);
      c = 1 + numerator / c;
      if (Math.abs(c) < tiny) c = tiny;
      f *= c * d;
    }
    if (Math.abs(c * d - 1) < 1e-15) break;
  }
  return (front * f) / a;
}

function logGamma(x: number): number {
  // Lanczos approximation (g = 7), accurate to ~1e-15 for x > 0.
  const g = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905,
    -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const y = x - 1;
  let sum = g[0]!;
  for (let i = 1; i < 9; i++) sum += g[i]! / (y + i);
  const t = y + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (y + 0.5) * Math.log(t) - t + Math.log(sum);
}

/** One configuration's replicates (trials that differ only in their seed). */
export interface ReplicateGroup {
  /** The swept values but the seed. */
  readonly values: Readonly<Record<string, unknown>>;
  readonly label: string;
  readonly n: number;
  readonly mean: number;
  /** Sample standard deviation (n − 1); NaN with one replicate. */
  readonly std: number;
  /** 95% confidence interval of the mean (Student's t); NaN with one replicate. */
  readonly ci95: readonly [number, number];
}

export interface ReplicateSummary {
  readonly groups: readonly ReplicateGroup[];
  /** The group with the best mean. */
  readonly best: ReplicateGroup;
  /** The first group, in the order of the swept values (shallowest first), whose metric is not significantly worse than the best. */
  readonly recommended: ReplicateGroup;
  /** One-sided p-value of Welch's t-test "worse than the best", by group label. */
  readonly pWorse: Readonly<Record<string, number>>;
}

const ALPHA = 0.05;

/**
 * Seeds as replicates: trials that differ only in their seed are one configuration measured n
 * times. Each configuration gets its mean, standard deviation and 95% interval; the recommended
 * one is the first in the order of the swept values (for unfreeze depth: the shallowest) whose
 * metric is not significantly worse than the best mean's, by Welch's one-sided t-test at 5% —
 * Welch because depths differ in their spread across seeds, so equal variances cannot be assumed.
 * Undefined without at least two seeds per configuration.
 */
export function replicateSummary(
  rows: readonly { readonly values: Readonly<Record<string, unknown>>; readonly metric: number }[],
  paths: readonly string[],
  goal: 'max' | 'min',
  seedPath = 'seed',
): ReplicateSummary | undefined {
  if (!paths.includes(seedPath)) return undefined;
  const keyPaths = paths.filter((path) => path !== seedPath);
  const byKey = new Map<string, { values: Record<string, unknown>; metrics: number[] }>();
  for (const row of rows) {
    if (!Number.isFinite(row.metric)) continue;
    const values = Object.fromEntries(keyPaths.map((path) => [path, row.values[path]]));
    const key = JSON.stringify(keyPaths.map((path) => row.values[path]));
    const group = byKey.get(key) ?? { values, metrics: [] };
    group.metrics.push(row.metric);
    byKey.set(key, group);
  }
  const groups: ReplicateGroup[] = [...byKey.values()]
    .sort((a, b) => {
      for (const path of keyPaths) {
        const order = compareValues(a.values[path], b.values[path]);
        if (order !== 0) return order;
      }
      return 0;
    })
    .map(({ values, metrics }) => {
      const n = metrics.length;
      const mean = metrics.reduce((sum, value) => sum + value, 0) / n;
      const std = n > 1 ? Math.sqrt(metrics.reduce((sum, value) => sum + (value - mean) ** 2, 0) / (n - 1)) : NaN;
      const half = n > 1 ? studentTQuantile(0.975, n - 1) * (std / Math.sqrt(n)) : NaN;
      const label = keyPaths
        .map((path) => `${path.split('.').pop()}=${typeof values[path] === 'string' ? values[path] : JSON.stringify(values[path])}`)
        .join(' ');
      return { values, label: label || 'all', n, mean, std, ci95: [mean - half, mean + half] as const };
    });
  if (groups.length === 0 || groups.some((group) => group.n < 2)) return undefined;
  const sign = goal === 'max' ? 1 : -1;
  const best = groups.reduce((a, b) => (sign * b.mean > sign * a.mean ? b : a));
  const pWorse: Record<string, number> = {};
  for (const group of groups) pWorse[group.label] = group === best ? 1 : welchWorse(group, best, sign);
  const recommended = groups.find((group) => pWorse[group.label]! >= ALPHA) ?? best;
  return { groups, best, recommended, pWorse };
}

/** One-sided p-value that `group` is worse than `best` (Welch's t-test; Welch–Satterthwaite degrees of freedom). */
function welchWorse(group: ReplicateGroup, best: ReplicateGroup, sign: number): number {
  const [va, vb] = [group.std ** 2 / group.n, best.std ** 2 / best.n];
  const se = Math.sqrt(va + vb);
  const difference = sign * (best.mean - group.mean);
  if (se === 0) return difference > 0 ? 0 : 1;
  const df = (va + vb) ** 2 / (va ** 2 / (group.n - 1) + vb ** 2 / (best.n - 1));
  return 1 - studentTCdf(difference / se, df);
}
