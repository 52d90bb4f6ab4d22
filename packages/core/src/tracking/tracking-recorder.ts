import { PRUNED_TAG, TrialPruned } from '../sweep/trial-pruner.js';
import { experimentNameOf } from './create-tracker.js';
import { redactUrl } from './tracking-config.js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject, injectable } from 'inversify';
import {
  Logger,
  Tracker,
  messageOf,
  type EpochLogs,
  type MetricPoint,
  type ModelFacts,
  type Phase,
  type TrackedRun,
  type TrialInfo,
  type TrialRecorder,
  type TrialRecording,
  type TrialResult,
} from '@thaw/contracts';
import { saveThawModel } from '../model/thaw-model-folder.js';
import { classMetricKeys } from './class-metric-keys.js';
import { unitLearningRates } from '../training/unit-learning-rates.js';
import { endDeadRuns, keepAlive, ownerTags } from './run-liveness.js';
import { RestTracker } from './rest-tracker.js';
import { sampleSystemMetrics } from './system-metrics.js';
import { runDatasets } from './run-datasets.js';
import { mlmodelYaml } from './mlmodel.js';

/** Tag of a run whose trained model is an MLflow logged model: its id (what `thaw register` registers). */
export const LOGGED_MODEL_TAG = 'thaw.loggedModelId';
import { TrialClaimed, settledClaimHolder } from './trial-claims.js';
import { recordedSpecPath, sourceTags } from './source-tags.js';
import { flattenSpec } from '../spec/flatten-spec.js';
import { specToYaml } from '../spec/spec-loader.js';
import { svgToPng } from '../results/charts.js';
import { trialNote, confusionCsv, confusionMatrixPictureSvg, learningCurvesCsv, learningCurvesSvg } from '../results/trial-report.js';

/** Records each trial as an MLflow run: params at the start, metrics per epoch, artifacts at the end. */
@injectable()
export class TrackingRecorder implements TrialRecorder {
  constructor(
    @inject(Tracker) private readonly tracker: Tracker,
    @inject(Logger) private readonly log: Logger,
  ) {}

  async begin(trial: TrialInfo): Promise<TrialRecording> {
    const { spec } = trial.loaded;
    const tags: Record<string, string> = {
      ...sourceTags(trial.loaded.file),
      'thaw.configHash': trial.configHash,
      'thaw.specName': spec.name,
      // Who runs it, and a beat while it does: a run whose owner died is ended KILLED by whoever finds it.
      ...ownerTags(),
    };
    // An earlier run of this trial whose process died (kill -9) is ended KILLED now: in the local
    // store (a server's mirror too, which `thaw sync` then sends), without a request to a server.
    const local = this.tracker instanceof RestTracker ? this.tracker.local : this.tracker;
    const earlier = await local.findRuns(experimentNameOf(spec), { 'thaw.configHash': trial.configHash }, { histories: false });
    await endDeadRuns(local, experimentNameOf(spec), earlier, 'a later run of the same trial', this.log);
    const run = await this.tracker.startRun({
      experimentName: experimentNameOf(spec),
      runName: trial.runName,
      tags,
      ...(trial.parentRunId === undefined ? {} : { parentRunId: trial.parentRunId }),
    });
    if (trial.parentRunId !== undefined) await this.holdClaim(run, trial, trial.parentRunId);
    const { sweep: _sweep, ...trialSpec } = spec;
    const params = flattenSpec(trialSpec);
    if (params['tracking.uri'] !== undefined) params['tracking.uri'] = redactUrl(params['tracking.uri']);
    try {
      await run.logParams({ ...params, backend: trial.backend });
    } catch (error) {
      await run.end('FAILED').catch(() => undefined);
      throw error;
    }
    const stopBeating = keepAlive(run, this.log);
    const stopSampling = spec.tracking.systemMetrics ? sampleSystemMetrics(run, this.log) : () => undefined;
    return new RunRecording(run, trial, () => {
      stopSampling();
      stopBeating();
    });
  }

  /**
   * A sweep trial is trained once: its run is its claim. Two processes may start the same trial at
   * the same moment; both then read the trial's runs and agree on one holder (see claimHolder), and
   * the other deletes its run and leaves the trial to it.
   */
  private async holdClaim(run: TrackedRun, trial: TrialInfo, parentRunId: string): Promise<void> {
    const other = await settledClaimHolder(
      () =>
        this.tracker.findRuns(
          experimentNameOf(trial.loaded.spec),
          { 'mlflow.parentRunId': parentRunId, 'thaw.configHash': trial.configHash },
          { histories: false },
        ),
      run.runId,
    );
    if (other === undefined) return;
    await run.discard();
    throw TrialClaimed.by(other, trial.runName);
  }
}

/** What trained at which rate in each epoch: epoch (from 1), phase, unit (or head), learning rate. */
function scheduleCsv(result: TrialResult): string {
  const { plan } = result.trial;
  const rows = ['epoch,phase,unit,learning_rate'];
  for (const epoch of result.train.epochs) {
    const phase = plan.phases.find((p) => p.name === epoch.phase);
    if (!phase) continue;
    for (const [unit, rate] of unitLearningRates(plan.base.facts.units, phase, plan.loaded.spec.train.layerDecay)) {
      rows.push(`${epoch.epoch + 1},${phase.name},${unit},${rate}`);
    }
  }
  return rows.join('\n') + '\n';
}

/**
 * The epoch metrics of the weights the trial ended with (early stopping's best epoch, else the
 * last), as `kept_*`: what a sweep ranks by, and the column to sort by in the MLflow runs table,
 * whose `val_accuracy` shows the last epoch's.
 */
function keptPoints(result: TrialResult, step: number, timestamp: number): MetricPoint[] {
  const kept = result.train.epochs.find((epoch) => epoch.epoch === result.train.keptEpoch);
  if (!kept) return [];
  return [
    { key: 'kept_epoch', value: kept.epoch + 1, step, timestamp },
    { key: 'kept_loss', value: kept.loss, step, timestamp },
    { key: 'kept_accuracy', value: kept.accuracy, step, timestamp },
    { key: 'kept_val_loss', value: kept.valLoss, step, timestamp },
    { key: 'kept_val_accuracy', value: kept.valAccuracy, step, timestamp },
  ];
}

/** One trial's run, from its first phase to its end. */
class RunRecording implements TrialRecording {
  readonly order = 100;
  private phases = 0;

  constructor(
    private readonly run: TrackedRun,
    private readonly trial: TrialInfo,
    private readonly stopBeating: () => void,
  ) {}

  get runId(): string {
    return this.run.runId;
  }

  get location(): string {
    return this.run.location;
  }

  async onPhaseBegin(phase: Phase, facts: ModelFacts): Promise<void> {
    const prefix = `phase.${this.phases++}`;
    await this.run.logParams({
      [`${prefix}.name`]: phase.name,
      [`${prefix}.epochs`]: String(phase.epochs),
      [`${prefix}.learningRate`]: String(phase.learningRate),
      [`${prefix}.optimizer`]: phase.optimizer ?? this.trial.loaded.spec.train.optimizer,
      [`${prefix}.batchNorm`]: phase.batchNorm,
      [`${prefix}.trainableUnits`]: String(facts.trainableUnits),
      [`${prefix}.units`]: phase.trainableUnits.join(', ') || '(head only)',
      [`${prefix}.trainableBaseLayers`]: String(facts.trainableBaseLayers),
      [`${prefix}.trainableParams`]: String(facts.trainableParams),
      [`${prefix}.nonTrainableParams`]: String(facts.nonTrainableParams),
      [`${prefix}.trainableVariables`]: String(facts.trainableVariables),
    });
  }

  async onEpochEnd(logs: EpochLogs): Promise<void> {
    const timestamp = Date.now();
    const values: [string, number][] = [
      ['loss', logs.loss],
      ['accuracy', logs.accuracy],
      ['val_loss', logs.valLoss],
      ['val_accuracy', logs.valAccuracy],
      ['epoch_seconds', logs.seconds],
    ];
    await this.run.logMetrics(values.map(([key, value]) => ({ key, value, step: logs.epoch, timestamp })));
  }

  async finish(result: TrialResult): Promise<void> {
    const { run, trial } = this;
    const { facts, evaluation } = result;
    await run.logParams({
      'model.layers': String(facts.layers),
      'model.units': String(facts.units),
      'model.trainableUnits': String(facts.trainableUnits),
      'model.trainableBaseLayers': String(facts.trainableBaseLayers),
      'model.trainableParams': String(facts.trainableParams),
      'model.nonTrainableParams': String(facts.nonTrainableParams),
      'model.trainableVariables': String(facts.trainableVariables),
      'model.nonTrainableVariables': String(facts.nonTrainableVariables),
      'data.source': result.dataSource,
      ...Object.fromEntries(Object.entries(result.dataNotes).map(([name, value]) => [`data.${name}`, String(value)])),
    });
    const datasets = runDatasets(result);
    await run.logInputs(datasets);
    const modelId = await this.saveModel(result);
    const timestamp = Date.now();
    const step = result.train.epochs.length;
    const split = evaluation.split;
    const classKeys = classMetricKeys(evaluation.perClass.map((c) => c.className));
    // With a logged model, its metrics are linked to it and to the dataset they were measured on.
    const on = (context: string): MetricPoint['model'] => {
      if (modelId === undefined) return undefined;
      const dataset = datasets.find((d) => d.context === context);
      return { modelId, ...(dataset ? { dataset: { name: dataset.name, digest: dataset.digest } } : {}) };
    };
    const linked = (points: MetricPoint[], context: string) => {
      const model = on(context);
      return model === undefined ? points : points.map((point) => ({ ...point, model }));
    };
    const evaluated = split === 'test' ? 'testing' : 'validation';
    const points: MetricPoint[] = [
      ...linked(
        [
          { key: `${split}_loss`, value: evaluation.loss, step, timestamp },
          { key: `${split}_accuracy`, value: evaluation.accuracy, step, timestamp },
          ...evaluation.perClass.flatMap((metrics) => [
            { key: `${split}_precision.${classKeys[metrics.className]!}`, value: metrics.precision, step, timestamp },
            { key: `${split}_recall.${classKeys[metrics.className]!}`, value: metrics.recall, step, timestamp },
          ]),
        ],
        evaluated,
      ),
      ...keptPoints(result, step, timestamp).map((point) => {
        const context = point.key.startsWith('kept_val_') ? 'validation' : point.key === 'kept_epoch' ? undefined : 'training';
        const model = context === undefined ? undefined : on(context);
        return model === undefined ? point : { ...point, model };
      }),
      { key: 'train_images_per_second', value: result.train.imagesPerSecond, step, timestamp },
      { key: 'trial_seconds', value: result.seconds, step, timestamp },
      { key: 'feature_sets_computed', value: result.train.featureSetsComputed, step, timestamp },
    ];
    await run.logMetrics(points);
    await run.logArtifact('spec.yaml', specToYaml(trial.loaded.spec));
    await run.logArtifact('model-summary.txt', result.modelSummary);
    await run.logArtifact('learning-curves.csv', learningCurvesCsv(result.train.epochs));
    await run.logArtifact('learning-curves.png', svgToPng(learningCurvesSvg(trial.runName, result.train.epochs)));
    await run.logArtifact('confusion-matrix.csv', confusionCsv(evaluation));
    await run.logArtifact('confusion-matrix.png', svgToPng(confusionMatrixPictureSvg(trial.runName, evaluation)));
    await run.logArtifact('evaluation.json', JSON.stringify(evaluation, undefined, 2));
    await run.logArtifact('class-metric-keys.json', JSON.stringify(classKeys, undefined, 2));
    await run.logArtifact('schedule.csv', scheduleCsv(result));
    if (result.savedBase !== undefined) await run.logArtifactDirectory(result.savedBase, 'base-model');
    await run.setTags({ 'mlflow.note.content': trialNote(result), ...(modelId === undefined ? {} : { [LOGGED_MODEL_TAG]: modelId }) });
    this.stopBeating();
    await run.end('FINISHED');
  }

  /**
   * The trained network (with what from-run needs to take its base back out) and an MLmodel file,
   * as the run's `model` artifacts, and as an MLflow logged model where the store has those.
   */
  private async saveModel(result: TrialResult): Promise<string | undefined> {
    const { run, trial } = this;
    const { built, evaluation } = result;
    const classNames = evaluation.perClass.map((c) => c.className);
    const modelDir = await mkdtemp(join(tmpdir(), 'thaw-model-'));
    try {
      await saveThawModel(built.model, modelDir, {
        units: built.units,
        baseOutputLayer: built.baseOutputLayer,
        headLayers: built.headLayers,
        adapterLayers: built.base.adapterLayers ?? [],
        inputRange: built.base.inputRange ?? [0, 1],
        classNames,
        basePlugin: trial.loaded.spec.model.base.plugin,
        spec: recordedSpecPath(trial.loaded.file),
        savedAt: new Date().toISOString(),
      });
      const fields = {
        inputShape: result.splits[0]?.imageShape ?? [],
        outputs: built.output === 'logit' ? 1 : classNames.length,
        classNames,
        backend: trial.backend,
        created: new Date(),
      };
      const { sweep: _sweep, ...trialSpec } = trial.loaded.spec;
      const modelId = await run.logModel({
        name: trial.runName,
        modelType: `tfjs-${trial.loaded.spec.model.base.plugin}`,
        dir: modelDir,
        params: { ...flattenSpec(trialSpec), backend: trial.backend },
        tags: { ...sourceTags(trial.loaded.file), 'thaw.configHash': trial.configHash },
        step: result.train.epochs.length,
        mlmodel: ({ modelId, runId, artifactUri }) => mlmodelYaml({ ...fields, modelId, runId, artifactPath: artifactUri }),
      });
      if (modelId === undefined) {
        await writeFile(join(modelDir, 'MLmodel'), mlmodelYaml({ ...fields, runId: run.runId, artifactPath: 'model' }));
      }
      await run.logArtifactDirectory(modelDir, 'model');
      return modelId;
    } finally {
      await rm(modelDir, { recursive: true, force: true });
    }
  }

  async fail(error: unknown, interrupted: boolean): Promise<void> {
    try {
      await this.run.setTags({
        'thaw.error': messageOf(error).slice(0, 4000),
        ...(error instanceof TrialPruned ? { [PRUNED_TAG]: error.reason, 'thaw.prunedAtEpoch': String(error.epoch ?? '') } : {}),
      });
    } finally {
      // Even when the reason cannot be written (a full disk), the run must not stay RUNNING.
      this.stopBeating();
      await this.run.end(interrupted ? 'KILLED' : 'FAILED');
    }
  }
}
