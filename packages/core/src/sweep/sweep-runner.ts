import { inject, injectable } from 'inversify';
import { Logger, ThawError, Tracker, messageOf, type RunRecord, type TrackedRun } from '@thaw/contracts';
import { TrialInterrupted, TrialPipeline } from '../pipeline/trial-pipeline.js';
import type { SweepLayout, SweepPlan, SweepTrial } from './sweep-plan.js';
import { compareValues, sweepPlotSvg, type SweepShape } from './sweep-plot.js';
import { replicateSummary } from './replicate-stats.js';
import { svgToPng } from '../results/charts.js';
import { sourceTags } from '../tracking/source-tags.js';
import { OWNER_TAG, deadOwner, endDeadRuns, keepAlive, ownerTags } from '../tracking/run-liveness.js';
import { TrialClaimed, claimHolder, settledClaimHolder } from '../tracking/trial-claims.js';
import { PRUNED_TAG, TrialPruned, trialPruner } from './trial-pruner.js';
import type { TpeObservation } from './tpe-sampler.js';

export interface SweepRow {
  readonly runName: string;
  readonly runId: string;
  readonly values: Readonly<Record<string, unknown>>;
  /** The sweep metric of the weights the trial kept (`kept_*`; runs recorded before it: the best epoch's value). */
  readonly metric: number;
  readonly testAccuracy: number;
  readonly testLoss: number;
  readonly epochs: number;
  /** Why the sweep stopped the trial early (then it has no test metrics). */
  readonly pruned?: string;
}

export interface SweepOutcome {
  readonly parentRunId: string;
  readonly ran: number;
  readonly skipped: number;
  /** Trials another process (a concurrent sweep of the same spec) trained while this one ran. */
  readonly elsewhere: number;
  /** Trials stopped early by the sweep's pruner. */
  readonly pruned: number;
  /** Frozen-feature sets the sweep's trials computed (trials of the same cut share one through the cache). */
  readonly featureSets: number;
  readonly failed: number;
  readonly rows: readonly SweepRow[];
  readonly markdown: string;
}

const SWEEP_TAG = 'thaw.sweepHash';

/** How often a sweep looks at trials that other processes are training (THAW_CLAIM_POLL_MS, default 2 s). */
function claimPollMs(): number {
  const value = Number(process.env['THAW_CLAIM_POLL_MS'] ?? 2000);
  return Number.isFinite(value) && value >= 10 ? value : 2000;
}

/** Runs one trial somewhere else (a worker process): resolves when it finished, rejects when it failed. */
export type TrialExecutor = (trial: SweepTrial, parentRunId: string) => Promise<void>;

export interface SweepOptions {
  readonly backend: string;
  readonly signal?: AbortSignal;
  /** Trials at once; above 1 an executor is needed (one TF.js engine per process). */
  readonly parallel?: number;
  readonly execute?: TrialExecutor;
  /** Run the trials that make the trials' bases here first (default true); queue workers make their own. */
  readonly prerequisitesHere?: boolean;
}

/**
 * Runs a sweep's trials as children of one parent run, resuming what is already finished: in this
 * process one after another, or through an executor (worker processes) several at a time.
 */
export const SweepRunner = Symbol('SweepRunner');
export interface SweepRunner {
  run(plan: SweepPlan, options: SweepOptions): Promise<SweepOutcome>;
  /** The summary of the sweep's finished trials as recorded, without running anything; undefined when it never ran. */
  report(plan: SweepLayout): Promise<{ parentRunId: string; rows: SweepRow[]; markdown: string } | undefined>;
  /** The summary of a sweep run given by its id (local store or MLflow), from what the runs recorded; undefined when there is no such run. */
  reportRun(runId: string): Promise<SweepReport | undefined>;
}

export interface SweepReport {
  readonly parentRunId: string;
  readonly name: string;
  readonly trials: number;
  readonly rows: SweepRow[];
  readonly markdown: string;
}

/** A finished trial's line in the summary: the metric's best epoch value, the final evaluation. */
function sweepRow(run: RunRecord, runName: string, values: Readonly<Record<string, unknown>>, metric: SweepShape['metric']): SweepRow {
  const split = run.params['evaluate.split'] ?? 'test';
  return {
    runName,
    runId: run.runId,
    values,
    metric: rankingValue(run, metric),
    testAccuracy: last(run.metrics[`${split}_accuracy`]),
    testLoss: last(run.metrics[`${split}_loss`]),
    epochs: run.metrics['val_loss']?.length ?? 0,
    ...(isPruned(run) ? { pruned: run.tags[PRUNED_TAG]! } : {}),
  };
}

/** A trial run the sweep's pruner stopped: KILLED on purpose, and as done as a finished one. */
function isPruned(run: RunRecord): boolean {
  return run.status === 'KILLED' && run.tags[PRUNED_TAG] !== undefined;
}

/** A trial the sweep need not run again: finished, or pruned. */
function isDone(run: RunRecord): boolean {
  return run.status === 'FINISHED' || isPruned(run);
}

/** Best first by the metric, pruned trials last; ties in the order of the swept values, so that every report of a sweep agrees. */
function rankRows(rows: SweepRow[], paths: readonly string[], goal: 'max' | 'min'): SweepRow[] {
  const key = (row: SweepRow) => (Number.isNaN(row.metric) ? -Infinity : goal === 'max' ? row.metric : -row.metric);
  return rows.sort((a, b) => {
    if ((a.pruned === undefined) !== (b.pruned === undefined)) return a.pruned === undefined ? -1 : 1;
    const byMetric = key(b) - key(a);
    if (byMetric !== 0) return byMetric;
    for (const path of paths) {
      const byValue = compareValues(a.values[path], b.values[path]);
      if (byValue !== 0) return byValue;
    }
    return 0;
  });
}

/** A param value as the spec held it (numbers and lists were logged as JSON). */
function paramValue(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/**
 * Trials that freeze the same part of the same base on the same data share their frozen features
 * (the cache): run them one after another, so each cut's features are computed once while the
 * cache holds them. Groups keep the order of their first trial, trials within a group theirs.
 */
export function groupByCut<T extends SweepTrial>(trials: readonly T[]): T[] {
  const groups = new Map<string, T[]>();
  for (const trial of trials) {
    const { spec } = trial.loaded;
    const key = JSON.stringify([spec.model.base, spec.data, spec.augment, trial.plan.phases.map((phase) => phase.trainableUnits)]);
    groups.set(key, [...(groups.get(key) ?? []), trial]);
  }
  return [...groups.values()].flat();
}

/** Metrics logged per epoch: a trial's value of one is that of the epoch whose weights it kept. */
const EPOCH_METRICS = new Set(['loss', 'accuracy', 'val_loss', 'val_accuracy']);

/**
 * The one value a trial is ranked by: for an epoch metric, its `kept_` value (the epoch early
 * stopping restored, else the last), the same number the test metrics and saved model come from.
 */
function rankingValue(run: RunRecord, metric: SweepShape['metric']): number {
  const kept = run.metrics[`kept_${metric.name}`];
  if (EPOCH_METRICS.has(metric.name) && kept !== undefined) return last(kept);
  return bestOf(run.metrics[metric.name], metric.goal);
}

function bestOf(values: readonly number[] | undefined, goal: 'max' | 'min'): number {
  const finite = (values ?? []).filter(Number.isFinite);
  if (finite.length === 0) return NaN;
  return goal === 'max' ? Math.max(...finite) : Math.min(...finite);
}

function last(values: readonly number[] | undefined): number {
  return values && values.length > 0 ? values[values.length - 1]! : NaN;
}

@injectable()
export class SweepRunnerImpl implements SweepRunner {
  constructor(
    @inject(TrialPipeline) private readonly pipeline: TrialPipeline,
    @inject(Tracker) private readonly tracker: Tracker,
    @inject(Logger) private readonly log: Logger,
  ) {}

  async run(plan: SweepPlan, options: SweepOptions): Promise<SweepOutcome> {
    const parallel = options.parallel ?? 1;
    if (parallel > 1 && !options.execute) throw new Error('a parallel sweep needs a trial executor (one TF.js engine per process)');
    if (options.prerequisitesHere ?? true) {
      // Before the sweep run exists: a base that cannot be made leaves no sweep run behind.
      const trialOptions = { backend: options.backend, ...(options.signal ? { signal: options.signal } : {}) };
      for (const trial of plan.trials) await this.pipeline.runPrerequisites(trial.plan, trialOptions);
    }
    const { run: parent, complete, joined } = await this.parentRun(plan);
    // A sweep run another live process owns is its to keep alive.
    const stopBeating = joined ? () => undefined : keepAlive(parent, this.log);
    try {
      return await this.runTrials(plan, options, parent, complete);
    } finally {
      stopBeating();
    }
  }

  private async runTrials(plan: SweepPlan, options: SweepOptions, parent: TrackedRun, complete: boolean): Promise<SweepOutcome> {
    const parallel = options.parallel ?? 1;
    const total = plan.adaptive?.total ?? plan.trials.length;
    const notDone = async (trials: readonly SweepTrial[]) => {
      const done = await this.finishedTrials(plan, parent.runId, false);
      for (const trial of trials.filter((t) => done.has(t.configHash))) {
        this.log.info(`[${trial.index + 1}/${total}] ${trial.runName}: finished earlier, skipped`);
      }
      return trials.filter((trial) => !done.has(trial.configHash));
    };
    let current: SweepPlan = plan;
    let pending = groupByCut(await notDone(plan.trials));
    const execute: TrialExecutor =
      options.execute ??
      (async (trial, parentRunId) => {
        const prune = plan.sweep.prune;
        await this.pipeline.run(trial.plan, {
          backend: options.backend,
          runName: trial.runName,
          parentRunId,
          ...(options.signal ? { signal: options.signal } : {}),
          ...(prune
            ? {
                observers: [
                  trialPruner(
                    { prune, metric: plan.sweep.metric, experimentName: plan.experimentName, parentRunId },
                    this.tracker,
                    this.log,
                  ),
                ],
              }
            : {}),
        });
      });
    let ran = 0;
    let failed = 0;
    let elsewhere = 0;
    let pruned = 0;
    const started = performance.now();
    let queue = pending;
    try {
      for (;;) {
        // Trials that another process holds are left to it and waited for at the end; one it gave up comes back here.
        while (queue.length > 0) {
          const claimed: SweepTrial[] = [];
          let next = 0;
          const worker = async () => {
            while (next < queue.length && !options.signal?.aborted) {
              const trial = queue[next++]!;
              const position = `[${trial.index + 1}/${total}]`;
              const holder = claimHolder(await this.trialRuns(plan, parent.runId, trial.configHash));
              if (holder !== undefined) {
                claimed.push(trial);
                this.log.info(`${position} ${TrialClaimed.by(holder, trial.runName).message}: left to it`);
                continue;
              }
              const left = pending.length - ran - failed - elsewhere - pruned;
              const eta =
                ran > 0 ? ` (about ${Math.round((((performance.now() - started) / 1000 / ran) * (left / parallel)) / 60)} min left)` : '';
              this.log.info(`${position} ${trial.runName}${eta}`);
              try {
                await execute(trial, parent.runId);
                ran++;
              } catch (error) {
                if (error instanceof TrialInterrupted || options.signal?.aborted) throw error;
                if (error instanceof TrialPruned) {
                  pruned++;
                  this.log.info(`${position} ${trial.runName}: ${error.message}`);
                  continue;
                }
                if (error instanceof TrialClaimed) {
                  claimed.push(trial);
                  this.log.info(`${position} ${error.message}: left to it`);
                  continue;
                }
                failed++;
                this.log.warn(`${position} ${trial.runName} failed: ${messageOf(error)} (a later run of the sweep retries it)`);
              }
            }
          };
          await Promise.all(Array.from({ length: Math.max(1, Math.min(parallel, queue.length)) }, worker));
          if (options.signal?.aborted) throw new TrialInterrupted();
          queue = await this.awaitClaimed(plan, parent.runId, claimed, options.signal);
          elsewhere += claimed.length - queue.length;
        }
        // An adaptive search chooses its next sample from the results so far.
        const sampled = Math.max(...current.trials.map((trial) => trial.sample ?? 0)) + 1;
        if (!plan.adaptive || !plan.planSample || sampled >= plan.adaptive.samples) break;
        const observations = await this.observations(current, parent.runId, sampled);
        const next = await plan.planSample(sampled, observations);
        current = { ...current, trials: [...current.trials, ...next] };
        queue = await notDone(next);
        pending = [...pending, ...queue];
      }
    } catch (error) {
      await parent.setTags({ 'thaw.sweepState': 'interrupted' });
      await parent.end('KILLED');
      throw error;
    }
    const finished = await this.finishedTrials(current, parent.runId);
    const rows = this.rows(current, finished);
    const markdown = summaryMarkdown(current, rows);
    const featureSets = [...finished.values()].reduce((sum, run) => sum + last(run.metrics['feature_sets_computed'] ?? [0]), 0);
    // A resumed sweep that had nothing left to do already holds this summary.
    if (!(complete && ran === 0 && failed === 0)) await this.logSummary(current, parent, rows, markdown);
    await parent.end(failed > 0 ? 'FAILED' : 'FINISHED');
    return {
      parentRunId: parent.runId,
      ran,
      skipped: current.trials.length - ran - failed - elsewhere - pruned,
      elsewhere,
      pruned,
      featureSets,
      failed,
      rows,
      markdown,
    };
  }

  /**
   * What an adaptive sampler learns from the first `samples` samples: each one's values and the
   * mean of its trials' ranking values (over the grid's points; NaN when none is done).
   */
  private async observations(plan: SweepPlan, parentRunId: string, samples: number): Promise<TpeObservation[]> {
    const finished = await this.finishedTrials(plan, parentRunId);
    return Array.from({ length: samples }, (_, sample) => {
      const trials = plan.trials.filter((trial) => trial.sample === sample);
      const values = trials
        .flatMap((trial) => {
          const run = finished.get(trial.configHash);
          return run ? [rankingValue(run, plan.sweep.metric)] : [];
        })
        .filter(Number.isFinite);
      return {
        values: trials[0]?.values ?? {},
        value: values.length === 0 ? NaN : values.reduce((a, b) => a + b, 0) / values.length,
      };
    });
  }

  /** The runs of one trial of a sweep run (any status), with a dead owner's ended KILLED. */
  private async trialRuns(plan: SweepLayout, parentRunId: string, configHash: string): Promise<RunRecord[]> {
    const found = await this.tracker.findRuns(
      plan.experimentName,
      { 'mlflow.parentRunId': parentRunId, 'thaw.configHash': configHash },
      { histories: false },
    );
    return endDeadRuns(this.tracker, plan.experimentName, found, 'thaw sweep', this.log);
  }

  /**
   * Waits until every trial held by another process is FINISHED there, or its holder let go (it
   * failed, was stopped or died): those come back to be trained here.
   */
  private async awaitClaimed(
    plan: SweepLayout,
    parentRunId: string,
    claimed: readonly SweepTrial[],
    signal: AbortSignal | undefined,
  ): Promise<SweepTrial[]> {
    const waiting = new Set(claimed);
    const back: SweepTrial[] = [];
    if (waiting.size > 0) this.log.info(`waiting for ${waiting.size} trial${waiting.size === 1 ? '' : 's'} trained by other processes`);
    while (waiting.size > 0) {
      for (const trial of [...waiting]) {
        const runs = await this.trialRuns(plan, parentRunId, trial.configHash);
        if (runs.some(isDone)) waiting.delete(trial);
        else if (claimHolder(runs) === undefined) {
          waiting.delete(trial);
          back.push(trial);
          this.log.info(`[${trial.index + 1}/${plan.trials.length}] ${trial.runName}: its other process let go of it; training it here`);
        }
      }
      if (waiting.size === 0) break;
      if (signal?.aborted) throw new TrialInterrupted();
      await new Promise((resolve) => setTimeout(resolve, claimPollMs()));
    }
    return back;
  }

  async report(plan: SweepLayout): Promise<{ parentRunId: string; rows: SweepRow[]; markdown: string } | undefined> {
    const parent = await this.earlierParent(plan);
    if (!parent) return undefined;
    if (plan.adaptive) {
      // Its later samples are known only from the runs: read them all back.
      const report = await this.reportRun(parent.runId);
      return report && { parentRunId: parent.runId, rows: report.rows, markdown: report.markdown };
    }
    const rows = this.rows(plan, await this.finishedTrials(plan, parent.runId));
    return { parentRunId: parent.runId, rows, markdown: summaryMarkdown(plan, rows) };
  }

  async reportRun(runId: string): Promise<SweepReport | undefined> {
    const parent = await this.tracker.getRun(runId);
    if (!parent) return undefined;
    const paths = (parent.params['sweep.paths'] ?? '').split(', ').filter((path) => path !== '');
    const metric = /^(.+) \((max|min)\)$/.exec(parent.params['sweep.metric'] ?? '');
    if (paths.length === 0 || !metric) {
      throw new ThawError(
        `run ${runId} (${parent.runName}) is not a sweep run: expected the params sweep.paths and sweep.metric that thaw sweep logs`,
      );
    }
    const shape: SweepShape = { paths, metric: { name: metric[1]!, goal: metric[2] as 'max' | 'min' } };
    const children = await endDeadRuns(
      this.tracker,
      parent.experimentName,
      await this.tracker.findRuns(parent.experimentName, { 'mlflow.parentRunId': runId }),
      'thaw report',
      this.log,
    );
    const rows = children
      .filter(isDone)
      .map((run) =>
        sweepRow(run, run.runName, Object.fromEntries(paths.map((path) => [path, paramValue(run.params[path])])), shape.metric),
      );
    rankRows(rows, paths, shape.metric.goal);
    return {
      parentRunId: runId,
      name: parent.runName,
      trials: Number(parent.params['sweep.trials'] ?? rows.length),
      rows,
      markdown: summaryMarkdown(shape, rows),
    };
  }

  /** The latest parent run of this sweep in the store, if it ran before. */
  private async earlierParent(plan: SweepLayout): Promise<RunRecord | undefined> {
    const found = await this.tracker.findRuns(plan.experimentName, { [SWEEP_TAG]: plan.sweepHash }, { histories: false });
    const runs = await endDeadRuns(this.tracker, plan.experimentName, found, 'thaw sweep', this.log);
    return runs.filter((run) => run.tags['mlflow.parentRunId'] === undefined).pop();
  }

  /** Done child runs of a sweep run (finished or pruned), by config hash; `histories` only when their metrics are summarised. */
  private async finishedTrials(plan: SweepLayout, parentRunId: string, histories = true): Promise<Map<string | undefined, RunRecord>> {
    const found = await this.tracker.findRuns(plan.experimentName, { 'mlflow.parentRunId': parentRunId }, { histories });
    // A trial left RUNNING by a process that died is ended KILLED here, so a resumed sweep retries it.
    const children = await endDeadRuns(this.tracker, plan.experimentName, found, 'thaw sweep', this.log);
    return new Map(children.filter(isDone).map((run) => [run.tags['thaw.configHash'], run]));
  }

  /**
   * The parent run of an earlier run of the same sweep, reopened, or a new one. A sweep run that
   * another live process is running is joined: its trials are shared out by their claims.
   */
  private async parentRun(plan: SweepPlan): Promise<{ run: TrackedRun; complete: boolean; joined: boolean }> {
    const previous = await this.earlierParent(plan);
    if (previous) {
      const run = await this.tracker.resumeRun(plan.experimentName, previous.runId);
      const complete = previous.tags['thaw.sweepState'] === 'complete';
      if (previous.status === 'RUNNING' && deadOwner(previous) === undefined) {
        this.log.info(`joining sweep run ${previous.runId}, which ${previous.tags[OWNER_TAG] ?? 'another process'} is running`);
        return { run, complete, joined: true };
      }
      this.log.info(`resuming sweep run ${previous.runId}`);
      await run.setTags(ownerTags());
      return { run, complete, joined: false };
    }
    const run = await this.tracker.startRun({
      experimentName: plan.experimentName,
      runName: `${plan.name} sweep`,
      // The same source tags as its trials: the UI shows the spec and the commit on the sweep run too.
      tags: { ...sourceTags(plan.trials[0]!.loaded.file), 'thaw.specName': plan.name, [SWEEP_TAG]: plan.sweepHash, ...ownerTags() },
    });
    // Two sweeps of the same spec started at once both create a sweep run: they agree on one and share it.
    const holder = await settledClaimHolder(
      async () =>
        (await this.tracker.findRuns(plan.experimentName, { [SWEEP_TAG]: plan.sweepHash }, { histories: false })).filter(
          (other) => other.tags['mlflow.parentRunId'] === undefined,
        ),
      run.runId,
    );
    if (holder !== undefined) {
      await run.discard();
      this.log.info(`joining sweep run ${holder.runId}, which ${holder.tags[OWNER_TAG] ?? 'another process'} started at the same time`);
      return { run: await this.tracker.resumeRun(plan.experimentName, holder.runId), complete: false, joined: true };
    }
    await run.logParams({
      'sweep.trials': String(plan.adaptive?.total ?? plan.trials.length),
      'sweep.paths': plan.paths.join(', '),
      'sweep.metric': `${plan.sweep.metric.name} (${plan.sweep.metric.goal})`,
    });
    return { run, complete: false, joined: false };
  }

  private rows(plan: SweepLayout, finished: Map<string | undefined, RunRecord>): SweepRow[] {
    const rows = plan.trials.flatMap((trial) => {
      const run = finished.get(trial.configHash);
      return run ? [sweepRow(run, trial.runName, trial.values, plan.sweep.metric)] : [];
    });
    return rankRows(rows, plan.paths, plan.sweep.metric.goal);
  }

  private async logSummary(plan: SweepPlan, parent: TrackedRun, rows: readonly SweepRow[], markdown: string): Promise<void> {
    const header = ['rank', 'trial', ...plan.paths, plan.sweep.metric.name, 'test_accuracy', 'test_loss', 'epochs', 'run_id', 'pruned'];
    const csv = [
      header.join(','),
      ...rows.map((row, i) =>
        [
          i + 1,
          JSON.stringify(row.runName),
          ...plan.paths.map((p) => JSON.stringify(row.values[p])),
          row.metric,
          row.testAccuracy,
          row.testLoss,
          row.epochs,
          row.runId,
          JSON.stringify(row.pruned ?? ''),
        ].join(','),
      ),
    ].join('\n');
    await parent.logArtifact('summary.csv', `${csv}\n`);
    await parent.logArtifact('summary.md', markdown);
    const plot = sweepPlotSvg(
      plan.name,
      { paths: plan.paths, metric: plan.sweep.metric },
      rows.filter((row) => row.pruned === undefined),
    );
    if (plot !== undefined) {
      await parent.logArtifact('metric-by-depth.svg', plot);
      await parent.logArtifact('metric-by-depth.png', svgToPng(plot));
    }
    await parent.setTags({ 'mlflow.note.content': markdown, 'thaw.sweepState': 'complete' });
    const best = rows.find((row) => row.pruned === undefined);
    if (!best) return;
    const timestamp = Date.now();
    await parent.logMetrics([
      { key: `best_${plan.sweep.metric.name}`, value: best.metric, step: 0, timestamp },
      { key: 'best_test_accuracy', value: best.testAccuracy, step: 0, timestamp },
    ]);
    await parent.setTags({
      'thaw.bestRunId': best.runId,
      ...Object.fromEntries(plan.paths.map((p) => [`thaw.best.${p}`, String(best.values[p])])),
    });
    const replicates = replicateSummary(
      rows.filter((row) => row.pruned === undefined),
      plan.paths,
      plan.sweep.metric.goal,
    );
    if (replicates) {
      const { recommended, best: bestMean } = replicates;
      await parent.setTags({
        'thaw.recommended': recommended.label,
        ...Object.fromEntries(Object.entries(recommended.values).map(([p, v]) => [`thaw.recommended.${p}`, String(v)])),
        'thaw.bestMean': bestMean.label,
      });
      await parent.logMetrics([
        { key: `recommended_mean_${plan.sweep.metric.name}`, value: recommended.mean, step: 0, timestamp },
        { key: `best_mean_${plan.sweep.metric.name}`, value: bestMean.mean, step: 0, timestamp },
      ]);
      const csv = ['configuration,seeds,mean,std,ci95_low,ci95_high,p_worse_than_best'];
      for (const group of replicates.groups) {
        csv.push(
          [JSON.stringify(group.label), group.n, group.mean, group.std, group.ci95[0], group.ci95[1], replicates.pWorse[group.label]].join(
            ',',
          ),
        );
      }
      await parent.logArtifact('replicates.csv', `${csv.join('\n')}\n`);
    }
  }
}

/** A Markdown table with a header row. */
function markdownTable(table: readonly (readonly string[])[]): string {
  const widths = table[0]!.map((_, c) => Math.max(...table.map((r) => r[c]!.length)));
  const line = (cells: readonly string[]) => `| ${cells.map((cell, c) => cell.padEnd(widths[c]!)).join(' | ')} |`;
  return [line(table[0]!), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...table.slice(1).map(line)].join('\n') + '\n';
}

/** The sweep's results as a Markdown table, best first; with seeds as replicates, then each configuration's mean and interval and the recommendation. */
export function summaryMarkdown(plan: SweepLayout | SweepShape, rows: readonly SweepRow[]): string {
  const metric = 'sweep' in plan ? plan.sweep.metric : plan.metric;
  const isRate = (name: string) => name.includes('accuracy') || name.includes('precision') || name.includes('recall');
  const format = (value: number, percent: boolean) =>
    Number.isNaN(value) ? '—' : percent ? `${(100 * value).toFixed(1)}%` : value.toFixed(4);
  const trials = markdownTable([
    ['rank', ...plan.paths, metric.name, 'test accuracy', 'test loss', 'epochs'],
    ...rows.map((row, i) => [
      row.pruned === undefined ? String(i + 1) : 'pruned',
      ...plan.paths.map((p) => (typeof row.values[p] === 'string' ? row.values[p] : JSON.stringify(row.values[p]))),
      format(row.metric, isRate(metric.name)),
      format(row.testAccuracy, true),
      format(row.testLoss, false),
      String(row.epochs),
    ]),
  ]);
  // Pruned trials stopped early: their numbers are not comparable replicates.
  const replicates = replicateSummary(
    rows.filter((row) => row.pruned === undefined),
    plan.paths,
    metric.goal,
  );
  if (!replicates) return trials;
  const rate = isRate(metric.name);
  const groups = markdownTable([
    ['configuration', 'seeds', `mean ${metric.name}`, 'std', '95% interval', 'vs best (Welch, one-sided p)'],
    ...replicates.groups.map((group) => [
      group.label,
      String(group.n),
      format(group.mean, rate),
      format(group.std, rate),
      `${format(group.ci95[0], rate)} … ${format(group.ci95[1], rate)}`,
      group === replicates.best ? 'best' : replicates.pWorse[group.label]!.toFixed(3),
    ]),
  ]);
  return (
    `${trials}\n${groups}\nRecommended: **${replicates.recommended.label}** — the first configuration, in the order of the swept values ` +
    `(for unfreeze depth: the shallowest), whose ${metric.name} is not significantly worse than the best mean's (${replicates.best.label}): ` +
    `Welch's one-sided t-test, p ≥ 0.05, seeds as replicates.\n`
  );
}
