import { experimentNameOf } from '../mlflow/create-tracker.js';
import { createHash } from 'node:crypto';
import { ThawError, describeValue, messageOf } from '../errors/thaw-error.js';
import { configHash } from '../spec/flatten-spec.js';
import { SweepSchema, type SweepSpec } from '../spec/experiment-spec.js';
import { parseSpecPath } from '../spec/set-override.js';
import { resolveSpec, type LoadedSpec, type RawSpec } from '../spec/spec-loader.js';
import { formatSchemaIssues } from '../errors/format-schema-issues.js';
import { SeededRandom } from '../training/seeded-random.js';

export interface SweepTrial {
  readonly index: number;
  /** The swept values, by spec path. */
  readonly values: Readonly<Record<string, unknown>>;
  readonly runName: string;
  readonly loaded: LoadedSpec;
  readonly configHash: string;
}

export interface SweepPlan {
  readonly name: string;
  readonly experimentName: string;
  readonly sweep: SweepSpec;
  readonly paths: readonly string[];
  readonly trials: readonly SweepTrial[];
  /** Hash of the sweep's trials: the same sweep run again finds its parent run by it. */
  readonly sweepHash: string;
}

function sample(
  distribution: SweepSpec['random'] extends infer R ? (R extends { space: Record<string, infer D> } ? D : never) : never,
  random: SeededRandom,
): unknown {
  if ('choice' in distribution) return distribution.choice[Math.floor(random.next() * distribution.choice.length)];
  if ('uniform' in distribution) return random.uniform(distribution.uniform[0], distribution.uniform[1]);
  if ('logUniform' in distribution) {
    const [low, high] = distribution.logUniform;
    return Math.exp(random.uniform(Math.log(low), Math.log(high)));
  }
  const [low, high] = distribution.int;
  return low + Math.floor(random.next() * (high - low + 1));
}

/** Every combination of the grid, each combined with every random sample (when there are any). */
export function expandSweep(sweep: SweepSpec): Record<string, unknown>[] {
  let points: Record<string, unknown>[] = [{}];
  for (const [path, values] of Object.entries(sweep.grid)) {
    points = points.flatMap((point) => values.map((value) => ({ ...point, [path]: value })));
  }
  if (!sweep.random) return points;
  const random = new SeededRandom(sweep.random.seed);
  const samples = Array.from({ length: sweep.random.trials }, () =>
    Object.fromEntries(Object.entries(sweep.random!.space).map(([path, distribution]) => [path, sample(distribution, random)])),
  );
  return points.flatMap((point) => samples.map((drawn) => ({ ...point, ...drawn })));
}

function shortValue(value: unknown): string {
  if (typeof value === 'number' && !Number.isInteger(value)) return Number(value.toPrecision(3)).toString();
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/**
 * Expands a spec's `sweep:` into trials and validates every one of them (spec schema and, through
 * `check`, each plugin's options) before anything is trained.
 */
export function planSweep(raw: RawSpec, shownAs: string, overrides: readonly string[], check: (loaded: LoadedSpec) => void): SweepPlan {
  const parsed = SweepSchema.safeParse(raw.data['sweep']);
  if (raw.data['sweep'] === undefined)
    throw new ThawError(
      `${shownAs}: no sweep section; expected sweep: { grid: { strategy.unfreeze: [0, 1, 2, all] } } or thaw run for one trial`,
    );
  if (!parsed.success) {
    throw new ThawError(`${shownAs}: invalid sweep\n  ${formatSchemaIssues(parsed.error, raw.data['sweep'], 'sweep').join('\n  ')}`);
  }
  const sweep = parsed.data;
  const paths = [...new Set([...Object.keys(sweep.grid), ...Object.keys(sweep.random?.space ?? {})])];
  for (const path of paths) {
    if (path === 'sweep' || path.startsWith('sweep.'))
      throw new ThawError(`${shownAs}: sweep path ${describeValue(path)} cannot vary the sweep itself`);
    parseSpecPath(path);
  }
  const base = { file: raw.file, data: Object.fromEntries(Object.entries(raw.data).filter(([key]) => key !== 'sweep')) };
  const trials = expandSweep(sweep).map((values, index): SweepTrial => {
    const label = Object.entries(values)
      .map(([path, value]) => `${path.split('.').pop()}=${shortValue(value)}`)
      .join(' ');
    let loaded: LoadedSpec;
    try {
      loaded = resolveSpec(base, shownAs, overrides, values);
      check(loaded);
    } catch (error) {
      throw new ThawError(`sweep trial ${index + 1} (${label}): ${messageOf(error)}`);
    }
    return { index, values, runName: `${loaded.spec.name} ${label}`, loaded, configHash: configHash(loaded.spec) };
  });
  const spec = trials[0]!.loaded.spec;
  const sweepHash = createHash('sha256')
    .update(trials.map((trial) => trial.configHash).join(','))
    .digest('hex')
    .slice(0, 16);
  return { name: spec.name, experimentName: experimentNameOf(spec), sweep, paths, trials, sweepHash };
}
