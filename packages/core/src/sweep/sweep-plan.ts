import { experimentNameOf } from '../tracking/create-tracker.js';
import { createHash } from 'node:crypto';
import {
  SeededRandom,
  SweepSchema,
  ThawError,
  describeValue,
  formatSchemaIssues,
  messageOf,
  type LoadedSpec,
  type SweepSpec,
  type TrialPlan,
} from '@thaw/contracts';
import { configHash } from '../spec/flatten-spec.js';
import { applySetOverride, parseSpecPath } from '../spec/set-override.js';
import { trialMetricNames } from '../planning/trial-metric-names.js';
import { resolveSpec, type RawSpec } from '../spec/spec-loader.js';
import { EPOCH_METRICS } from './trial-pruner.js';
import { sampleDistribution } from './sample-distribution.js';
import { suggestTpe, type TpeObservation } from './tpe-sampler.js';

/** One trial of a sweep as a spec: enough to find its run in a store. */
export interface SweepTrialSpec {
  readonly index: number;
  /** The swept values, by spec path. */
  readonly values: Readonly<Record<string, unknown>>;
  /** The swept values in short (`unfreeze=2 seed=1`). */
  readonly label: string;
  readonly runName: string;
  readonly loaded: LoadedSpec;
  readonly configHash: string;
  /** With an adaptive sampler (TPE): which sample of the search space the trial belongs to. */
  readonly sample?: number;
}

/** One trial of a sweep, planned. */
export interface SweepTrial extends SweepTrialSpec {
  readonly plan: TrialPlan;
}

/** A sweep's trials and what identifies it in a store. */
export interface SweepLayout<Trial extends SweepTrialSpec = SweepTrialSpec> {
  readonly name: string;
  readonly experimentName: string;
  readonly sweep: SweepSpec;
  readonly paths: readonly string[];
  readonly trials: readonly Trial[];
  /** Hash of the sweep's trials: the same sweep run again finds its parent run by it. */
  readonly sweepHash: string;
  /** With TPE: the trials above are the startup samples'; the others are chosen one sample at a time. */
  readonly adaptive?: AdaptiveSearch;
}

/**
 * A search whose samples depend on the results so far (TPE). Sample i's values depend only on
 * the results of samples 0…i-1, so a resumed sweep recomputes the same values and finds the same
 * trials finished; each sample is combined with every grid point, and its result is the mean of
 * their metric (seeds in the grid are replicates).
 */
export interface AdaptiveSearch {
  readonly samples: number;
  /** Trials in all: samples × grid points. */
  readonly total: number;
  /** The values of sample i, given the results of samples 0…i-1. */
  valuesOf(sample: number, observations: readonly TpeObservation[]): Record<string, unknown>;
  /** The trials of sample i with these values: one per grid point. */
  trialsOf(sample: number, values: Readonly<Record<string, unknown>>): SweepTrialSpec[];
}

/** A sweep whose every trial is planned: what `thaw sweep` runs. An adaptive one plans each later sample when it is due. */
export interface SweepPlan extends SweepLayout<SweepTrial> {
  readonly planSample?: (sample: number, observations: readonly TpeObservation[]) => Promise<SweepTrial[]>;
}

/** Every combination of the grid, each combined with every random sample (when there are any). */
export function expandSweep(sweep: SweepSpec): Record<string, unknown>[] {
  const points = gridPoints(sweep);
  if (!sweep.random) return points;
  const random = new SeededRandom(sweep.random.seed);
  const samples = Array.from({ length: sweep.random.trials }, () =>
    Object.fromEntries(Object.entries(sweep.random!.space).map(([path, distribution]) => [path, sampleDistribution(distribution, random)])),
  );
  return points.flatMap((point) => samples.map((drawn) => ({ ...point, ...drawn })));
}

function shortValue(value: unknown): string {
  if (typeof value === 'number' && !Number.isInteger(value)) return Number(value.toPrecision(3)).toString();
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/**
 * Expands a spec's `sweep:` (after `--set`, which may change it) into one validated spec per
 * trial. A `--set` of a value the sweep varies is refused: every trial would overwrite it.
 */
export function expandSweepSpecs(raw: RawSpec, shownAs: string, overrides: readonly string[]): SweepLayout {
  const data = structuredClone(raw.data) as Record<string, unknown>;
  for (const assignment of overrides) applySetOverride(data, assignment);
  if (data['sweep'] === undefined)
    throw new ThawError(
      `${shownAs}: no sweep section; expected sweep: { grid: { strategy.unfreeze: [0, 1, 2, all] } } or thaw run for one trial`,
    );
  const parsed = SweepSchema.safeParse(data['sweep']);
  if (!parsed.success) {
    throw new ThawError(`${shownAs}: invalid sweep\n  ${formatSchemaIssues(parsed.error, data['sweep'], 'sweep').join('\n  ')}`);
  }
  const sweep = parsed.data;
  if (sweep.prune && !(EPOCH_METRICS as readonly string[]).includes(sweep.metric.name)) {
    throw new ThawError(
      `${shownAs}: sweep.prune: the sweep metric ${describeValue(sweep.metric.name)} is logged once per trial, so nothing can be compared during training; expected an epoch metric: ${EPOCH_METRICS.join(', ')}`,
    );
  }
  const paths = [...new Set([...Object.keys(sweep.grid), ...Object.keys(sweep.random?.space ?? {})])];
  for (const path of paths) {
    if (path === 'sweep' || path.startsWith('sweep.'))
      throw new ThawError(`${shownAs}: sweep path ${describeValue(path)} cannot vary the sweep itself`);
    parseSpecPath(path);
  }
  // A --set of a swept value would be overwritten by every trial without a word.
  for (const assignment of overrides) {
    const path = assignment.slice(0, assignment.indexOf('=')).trim();
    const clash = paths.find((swept) => swept === path || swept.startsWith(`${path}.`) || path.startsWith(`${swept}.`));
    if (clash !== undefined) {
      throw new ThawError(
        `--set ${assignment}: ${clash} is varied by the sweep of ${shownAs}; expected --set sweep.grid.${clash}=[…] to change its values, or a path the sweep does not vary`,
      );
    }
  }
  const base = { file: raw.file, data: Object.fromEntries(Object.entries(data).filter(([key]) => key !== 'sweep')) };
  const makeTrial = (values: Readonly<Record<string, unknown>>, index: number, sample?: number): SweepTrialSpec => {
    const label = Object.entries(values)
      .map(([path, value]) => `${path.split('.').pop()}=${shortValue(value)}`)
      .join(' ');
    try {
      const loaded = resolveSpec(base, shownAs, [], values);
      // Named by what differs: the spec's name is a tag (thaw.specName), and the UI cuts long names.
      return {
        index,
        values,
        label,
        runName: label,
        loaded,
        configHash: configHash(loaded.spec),
        ...(sample === undefined ? {} : { sample }),
      };
    } catch (error) {
      if (!(error instanceof ThawError)) throw error;
      throw new ThawError(`sweep trial ${index + 1} (${label}): ${messageOf(error)}`);
    }
  };
  const adaptive = sweep.random?.sampler === 'tpe' ? tpeSearch(sweep, makeTrial) : undefined;
  const trials = adaptive
    ? Array.from({ length: Math.min(sweep.random!.startupTrials, adaptive.samples) }, (_, sample) =>
        adaptive.trialsOf(sample, adaptive.valuesOf(sample, [])),
      ).flat()
    : expandSweep(sweep).map((values, index) => makeTrial(values, index));
  for (const trial of trials) {
    const metrics = trialMetricNames(trial.loaded.spec);
    if (!metrics.includes(sweep.metric.name)) {
      throw new ThawError(
        `${shownAs}: sweep.metric.name: received ${describeValue(sweep.metric.name)}; expected a metric every trial logs: ${metrics.join(', ')}`,
      );
    }
  }
  const spec = trials[0]!.loaded.spec;
  const sweepHash = createHash('sha256')
    .update(trials.map((trial) => trial.configHash).join(','))
    .digest('hex')
    .slice(0, 16);
  return { name: spec.name, experimentName: experimentNameOf(spec), sweep, paths, trials, sweepHash, ...(adaptive ? { adaptive } : {}) };
}

/** The grid's points: every combination of its values. */
function gridPoints(sweep: SweepSpec): Record<string, unknown>[] {
  let points: Record<string, unknown>[] = [{}];
  for (const [path, values] of Object.entries(sweep.grid)) {
    points = points.flatMap((point) => values.map((value) => ({ ...point, [path]: value })));
  }
  return points;
}

/** TPE over `random.space`: each sample × every grid point, sample-major. */
function tpeSearch(
  sweep: SweepSpec,
  makeTrial: (values: Readonly<Record<string, unknown>>, index: number, sample: number) => SweepTrialSpec,
): AdaptiveSearch {
  const random = sweep.random!;
  const points = gridPoints(sweep);
  const options = { seed: random.seed, goal: sweep.metric.goal, startupTrials: random.startupTrials };
  return {
    samples: random.trials,
    total: random.trials * points.length,
    valuesOf: (sample, observations) => suggestTpe(random.space, observations.slice(0, sample), sample, options),
    trialsOf: (sample, values) => points.map((point, g) => makeTrial({ ...point, ...values }, sample * points.length + g, sample)),
  };
}

/** Plans every trial of a sweep — spec schema, plugin options and each plugin's checks — before anything is trained. */
export async function planSweep(
  raw: RawSpec,
  shownAs: string,
  overrides: readonly string[],
  plan: (loaded: LoadedSpec) => Promise<TrialPlan>,
): Promise<SweepPlan> {
  const layout = expandSweepSpecs(raw, shownAs, overrides);
  const planAll = async (specs: readonly SweepTrialSpec[]): Promise<SweepTrial[]> => {
    const trials: SweepTrial[] = [];
    for (const trial of specs) {
      try {
        trials.push({ ...trial, plan: await plan(trial.loaded) });
      } catch (error) {
        if (!(error instanceof ThawError)) throw error;
        throw new ThawError(`sweep trial ${trial.index + 1} (${trial.label}): ${messageOf(error)}`);
      }
    }
    return trials;
  };
  const { adaptive } = layout;
  return {
    ...layout,
    trials: await planAll(layout.trials),
    ...(adaptive
      ? {
          planSample: (sample: number, observations: readonly TpeObservation[]) =>
            planAll(adaptive.trialsOf(sample, adaptive.valuesOf(sample, observations))),
        }
      : {}),
  };
}
