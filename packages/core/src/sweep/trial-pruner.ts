import type { EpochLogs, Logger, PruneSpec, RunRecord, Tracker, TrialInfo, TrialObserver } from '@thaw/contracts';

/** Tag of a trial's run that was stopped by pruning: why, at which rung. Such a run is KILLED and counts as done. */
export const PRUNED_TAG = 'thaw.pruned';

/** Exit code of a `thaw run` whose sweep trial was pruned. */
export const PRUNED_EXIT_CODE = 76;

/** Thrown by the pruner when a trial falls behind: the trial stops and is recorded KILLED, tagged as pruned. */
export class TrialPruned extends Error {
  constructor(
    readonly reason: string,
    readonly epoch?: number,
  ) {
    super(epoch === undefined ? reason : `pruned after epoch ${epoch}: ${reason}`);
    this.name = 'TrialPruned';
  }
}

/** What a sweep trial needs to know to prune itself: how, on which metric, among which runs. */
export interface PruneContext {
  readonly prune: PruneSpec;
  readonly metric: { readonly name: string; readonly goal: 'max' | 'min' };
  readonly experimentName: string;
  readonly parentRunId: string;
}

/** The metrics pruning can read after every epoch. */
export const EPOCH_METRICS = ['val_accuracy', 'val_loss', 'accuracy', 'loss'] as const;

function epochValue(logs: EpochLogs, metric: string): number {
  if (metric === 'val_accuracy') return logs.valAccuracy;
  if (metric === 'val_loss') return logs.valLoss;
  if (metric === 'accuracy') return logs.accuracy;
  return logs.loss;
}

const format = (value: number) => Number(value.toPrecision(4)).toString();

/**
 * Whether a trial that has reported `own` (its metric after epochs 1, 2, …) stops now, given the
 * other trials' reports: the reason, or undefined to go on.
 * - ASHA (Li et al. 2020; Optuna's SuccessiveHalvingPruner): at rung epochs minEpochs × η^k, the
 *   trial goes on only if its value is among the best ⌊n/η⌋ (at least the best one) of the n trials,
 *   itself included, that reached that epoch so far. Asynchronous: nobody waits for a rung to fill.
 * - Median stopping (Golovin et al. 2017; Optuna's MedianPruner): after the warm-up, once at least
 *   `minTrials` other trials reached this epoch, the trial stops if its best value so far is worse
 *   than the median of their values at this epoch.
 */
export function pruneDecision(
  prune: PruneSpec,
  metric: PruneContext['metric'],
  own: readonly number[],
  others: readonly (readonly number[])[],
): string | undefined {
  const epoch = own.length;
  const better = (a: number, b: number) => (metric.goal === 'max' ? a > b : a < b);
  const atEpoch = others.filter((values) => values.length >= epoch && Number.isFinite(values[epoch - 1])).map((v) => v[epoch - 1]!);
  const value = own[epoch - 1]!;
  if (prune.method === 'asha') {
    const rung = rungOf(prune, epoch);
    if (rung === undefined) return undefined;
    const competing = [...atEpoch, value].sort((a, b) => (better(a, b) ? -1 : better(b, a) ? 1 : 0));
    const kept = Math.max(1, Math.floor(competing.length / prune.reductionFactor));
    const cut = competing[kept - 1]!;
    if (!better(cut, value)) return undefined;
    return (
      `ASHA rung ${rung} (epoch ${epoch}): ${metric.name} ${format(value)} is not among the best ${kept} of the ` +
      `${competing.length} trials that reached epoch ${epoch} (1/${prune.reductionFactor} kept; cut ${format(cut)})`
    );
  }
  if (epoch <= prune.warmupEpochs || atEpoch.length < prune.minTrials) return undefined;
  const sorted = [...atEpoch].sort((a, b) => a - b);
  const middle = sorted.length / 2;
  const median = sorted.length % 2 === 1 ? sorted[Math.floor(middle)]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  const best = own.filter(Number.isFinite).reduce((a, b) => (better(b, a) ? b : a), value);
  if (!better(median, best)) return undefined;
  return (
    `median stopping (epoch ${epoch}): best ${metric.name} so far ${format(best)} is worse than the median ` +
    `${format(median)} of the ${atEpoch.length} other trials at epoch ${epoch}`
  );
}

/** The ASHA rung that ends at this epoch (0, 1, …), or undefined between rungs. */
export function rungOf(prune: Extract<PruneSpec, { method: 'asha' }>, epoch: number): number | undefined {
  for (let rung = 0, at = prune.minEpochs; at <= epoch; rung++, at *= prune.reductionFactor) if (at === epoch) return rung;
  return undefined;
}

/** Each other trial of the sweep once (its longest record, over earlier attempts), as its metric per epoch. */
function otherTrials(runs: readonly RunRecord[], configHash: string, metric: string): number[][] {
  const byTrial = new Map<string, readonly number[]>();
  for (const run of runs) {
    const hash = run.tags['thaw.configHash'];
    if (hash === undefined || hash === configHash) continue;
    const values = run.metrics[metric] ?? [];
    if (values.length > (byTrial.get(hash)?.length ?? -1)) byTrial.set(hash, values);
  }
  return [...byTrial.values()].map((values) => [...values]);
}

/**
 * An observer that prunes its sweep trial: after each epoch where a decision is due, it reads the
 * sibling trials' reports from the store (so it works the same in this process, in worker
 * processes and on queue workers) and stops the trial when it falls behind. Never at the last
 * epoch: there is nothing left to save.
 */
export function trialPruner(context: PruneContext, tracker: Tracker, log: Logger): TrialObserver {
  const own: number[] = [];
  let epochs = Infinity;
  let configHash = '';
  return {
    // After the recorder (order 100) has logged the epoch, so that siblings see it too.
    order: 200,
    onTrialBegin: (trial: TrialInfo) => {
      epochs = trial.plan.phases.reduce((sum, phase) => sum + phase.epochs, 0);
      configHash = trial.configHash;
    },
    onEpochEnd: async (logs: EpochLogs) => {
      own.push(epochValue(logs, context.metric.name));
      const epoch = own.length;
      if (epoch >= epochs) return;
      const { prune } = context;
      if (prune.method === 'asha' ? rungOf(prune, epoch) === undefined : epoch <= prune.warmupEpochs) return;
      const runs = await tracker.findRuns(context.experimentName, { 'mlflow.parentRunId': context.parentRunId });
      const reason = pruneDecision(prune, context.metric, own, otherTrials(runs, configHash, context.metric.name));
      if (reason === undefined) return;
      log.info(`pruned: ${reason}`);
      throw new TrialPruned(reason, epoch);
    },
  };
}
