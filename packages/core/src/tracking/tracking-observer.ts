import { experimentNameOf } from '../mlflow/create-tracker.js';
import { redactUrl } from '../mlflow/tracking-config.js';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { inject, injectable } from 'inversify';
import type { ModelFacts } from '../contracts/built-model.js';
import type { Phase } from '../contracts/strategy-plugin.js';
import type { EpochLogs } from '../contracts/train-stage.js';
import { Tracker, type MetricPoint, type TrackedRun } from '../contracts/tracker.js';
import type { TrialInfo, TrialObserver, TrialResult } from '../contracts/trial-observer.js';
import { messageOf } from '../errors/thaw-error.js';
import { layersModelFolder } from '../model/layers-model-files.js';
import { flattenSpec } from '../spec/flatten-spec.js';
import { specToYaml } from '../spec/spec-loader.js';
import { svgToPng } from '../results/charts.js';
import { trialNote, confusionCsv, confusionMatrixPictureSvg, learningCurvesCsv, learningCurvesSvg } from '../results/trial-report.js';

function gitCommit(dir: string): string | undefined {
  try {
    return (
      execFileSync('git', ['rev-parse', 'HEAD'], { cwd: dir, stdio: ['ignore', 'pipe', 'ignore'] })
        .toString()
        .trim() || undefined
    );
  } catch {
    return undefined;
  }
}

function metricKey(name: string): string {
  return name.replace(/[^\p{L}\p{N}_\-. :/]/gu, '_');
}

/** Records each trial as an MLflow run: params at the start, metrics per epoch, artifacts at the end. */
@injectable()
export class TrackingObserver implements TrialObserver {
  readonly order = 100;
  /** Runs being recorded, innermost last: a trial may run another first (from-run with ifMissing: run). */
  private readonly open: { run: TrackedRun; phases: number }[] = [];

  private get current() {
    return this.open[this.open.length - 1];
  }

  constructor(@inject(Tracker) private readonly tracker: Tracker) {}

  async onTrialBegin(trial: TrialInfo): Promise<void> {
    const { spec, dir } = trial.loaded;
    const tags: Record<string, string> = {
      'mlflow.user': userInfo().username,
      'mlflow.source.name': 'thaw',
      'mlflow.source.type': 'LOCAL',
      'thaw.configHash': trial.configHash,
      'thaw.spec': trial.loaded.file,
    };
    const commit = gitCommit(dir);
    if (commit !== undefined) tags['mlflow.source.git.commit'] = commit;
    const run = await this.tracker.startRun({
      experimentName: experimentNameOf(spec),
      runName: trial.runName,
      tags,
      ...(trial.parentRunId === undefined ? {} : { parentRunId: trial.parentRunId }),
    });
    this.open.push({ run, phases: 0 });
    const { sweep: _sweep, ...trialSpec } = spec;
    const params = flattenSpec(trialSpec);
    if (params['tracking.uri'] !== undefined) params['tracking.uri'] = redactUrl(params['tracking.uri']);
    await run.logParams({ ...params, backend: trial.backend });
  }

  async onPhaseBegin(phase: Phase, facts: ModelFacts): Promise<void> {
    const current = this.current;
    if (!current) return;
    const prefix = `phase.${current.phases++}`;
    await current.run.logParams({
      [`${prefix}.name`]: phase.name,
      [`${prefix}.epochs`]: String(phase.epochs),
      [`${prefix}.learningRate`]: String(phase.learningRate),
      [`${prefix}.batchNorm`]: phase.batchNorm,
      [`${prefix}.trainableUnits`]: String(facts.trainableUnits),
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
    await this.current?.run.logMetrics(values.map(([key, value]) => ({ key, value, step: logs.epoch, timestamp })));
  }

  async onTrialEnd(result: TrialResult): Promise<void> {
    const run = this.current?.run;
    if (!run) return;
    const { facts, evaluation, built, trial } = result;
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
    });
    const timestamp = Date.now();
    const step = result.train.epochs.length;
    const split = evaluation.split;
    const points: MetricPoint[] = [
      { key: `${split}_loss`, value: evaluation.loss, step, timestamp },
      { key: `${split}_accuracy`, value: evaluation.accuracy, step, timestamp },
      { key: 'train_images_per_second', value: result.train.imagesPerSecond, step, timestamp },
      { key: 'trial_seconds', value: result.seconds, step, timestamp },
      ...evaluation.perClass.flatMap((metrics) => [
        { key: metricKey(`${split}_precision.${metrics.className}`), value: metrics.precision, step, timestamp },
        { key: metricKey(`${split}_recall.${metrics.className}`), value: metrics.recall, step, timestamp },
      ]),
    ];
    await run.logMetrics(points);
    await run.logArtifact('spec.yaml', specToYaml(trial.loaded.spec));
    await run.logArtifact('model-summary.txt', result.modelSummary);
    await run.logArtifact('learning-curves.csv', learningCurvesCsv(result.train.epochs));
    await run.logArtifact('learning-curves.png', svgToPng(learningCurvesSvg(trial.runName, result.train.epochs)));
    await run.logArtifact('confusion-matrix.csv', confusionCsv(evaluation));
    await run.logArtifact('confusion-matrix.png', svgToPng(confusionMatrixPictureSvg(trial.runName, evaluation)));
    await run.logArtifact('evaluation.json', JSON.stringify(evaluation, undefined, 2));
    const modelDir = await mkdtemp(join(tmpdir(), 'thaw-model-'));
    try {
      await built.model.save(
        layersModelFolder(modelDir, {
          // What from-run needs to take the trained base back out of the whole network.
          thaw: {
            units: built.units,
            baseOutputLayer: built.baseOutputLayer,
            headLayers: built.headLayers,
            adapterLayers: built.base.adapterLayers ?? [],
            inputRange: built.base.inputRange ?? [0, 1],
            classNames: evaluation.perClass.map((c) => c.className),
            spec: trial.loaded.file,
          },
        }),
      );
      await run.logArtifactDirectory(modelDir, 'model');
    } finally {
      await rm(modelDir, { recursive: true, force: true });
    }
    if (result.savedBase !== undefined) await run.logArtifactDirectory(result.savedBase, 'base-model');
    await run.setTags({ 'mlflow.note.content': trialNote(result) });
    await run.end('FINISHED');
    result.runId = run.runId;
    result.runLocation = run.location;
    this.open.pop();
  }

  async onTrialError(_trial: TrialInfo, error: unknown, interrupted: boolean): Promise<void> {
    const run = this.open.pop()?.run;
    if (!run) return;
    await run.setTags({ 'thaw.error': messageOf(error).slice(0, 4000) });
    await run.end(interrupted ? 'KILLED' : 'FAILED');
  }
}
