import { reinitializeUnits } from '../model/reinitialize-units.js';
import { createHash } from 'node:crypto';
import { TrialPruned } from '../sweep/trial-pruner.js';
import * as tf from '@tensorflow/tfjs';
import { inject, injectable, type Container } from 'inversify';
import {
  AugmentStage,
  BuildStage,
  EvaluateStage,
  FreezeStage,
  LoadStage,
  Logger,
  messageOf,
  SeededRandom,
  TrainStage,
  TrialEvents,
  TrialObserver,
  TrialPlanner,
  TrialRecorder,
  withSeededMathRandom,
  type BuiltModel,
  type DatasetSplits,
  type EpochLogs,
  type LoadedSpec,
  type ModelFacts,
  type Prerequisite,
  type TrainResult,
  type TrialInfo,
  type TrialOutcome,
  type TrialPlan,
  type TrialResult,
  type SplitRecord,
} from '@thaw/contracts';
import { disposeModel } from '../model/dispose-model.js';
import { disposeSplits } from '../model/dispose-splits.js';
import { rescaledSplit } from '../data/mapped-split.js';
import { modelSummary } from '../model/model-summary.js';
import { hasSavedModel, saveThawModel } from '../model/thaw-model-folder.js';
import { ThawContainer } from '../plugins/plugin-registry.js';
import { displayPath } from '../util/display-path.js';
import { lockFile } from '../util/lock-file.js';
import { recordedSpecPath } from '../tracking/source-tags.js';

export { disposeSplits } from '../model/dispose-splits.js';

/** Thrown when a trial is stopped by its AbortSignal (Ctrl-C). */
export class TrialInterrupted extends Error {
  /** `where`: how far the trial got (recorded on its run). */
  constructor(where?: string) {
    super(where === undefined ? 'interrupted' : `interrupted ${where}`);
    this.name = 'TrialInterrupted';
  }
}

export interface TrialOptions {
  /** The backend in use, as recorded (e.g. `wasm`). */
  readonly backend: string;
  readonly runName?: string;
  readonly parentRunId?: string;
  readonly signal?: AbortSignal;
  /** Observers of this trial only (a sweep's pruner), beside the container's. */
  readonly observers?: readonly TrialObserver[];
}

/**
 * Runs a planned trial: its prerequisites first, then load, augment, build, and for each phase of
 * the plan freeze → train → release, then evaluate; observers hear every step and the recorder
 * keeps the run.
 */
export const TrialPipeline = Symbol('TrialPipeline');
export interface TrialPipeline {
  /** A spec is planned first; a plan runs as planned. */
  run(trial: TrialPlan | LoadedSpec, options: TrialOptions): Promise<TrialOutcome>;
  /** Runs what a plan needs first (the trials that produce its base), unless already made. */
  runPrerequisites(plan: TrialPlan, options: TrialOptions): Promise<void>;
}

function isPlan(trial: TrialPlan | LoadedSpec): trial is TrialPlan {
  return 'configHash' in trial;
}

@injectable()
export class TrialPipelineImpl implements TrialPipeline {
  constructor(
    @inject(TrialPlanner) private readonly planner: TrialPlanner,
    @inject(LoadStage) private readonly loadStage: LoadStage,
    @inject(AugmentStage) private readonly augmentStage: AugmentStage,
    @inject(BuildStage) private readonly buildStage: BuildStage,
    @inject(FreezeStage) private readonly freezeStage: FreezeStage,
    @inject(TrainStage) private readonly trainStage: TrainStage,
    @inject(EvaluateStage) private readonly evaluateStage: EvaluateStage,
    @inject(TrialRecorder) private readonly recorder: TrialRecorder,
    @inject(Logger) private readonly log: Logger,
    @inject(ThawContainer) private readonly container: Container,
  ) {}

  async run(trial: TrialPlan | LoadedSpec, options: TrialOptions): Promise<TrialOutcome> {
    const plan = isPlan(trial) ? trial : await this.planner.plan(trial);
    await this.runPrerequisites(plan, options);
    return this.runTrial(plan, options);
  }

  async runPrerequisites(plan: TrialPlan, options: TrialOptions): Promise<void> {
    for (const prerequisite of plan.prerequisites) await this.produce(prerequisite, options);
  }

  /** Runs the trial that produces a base unless it exists; trials in parallel processes wait for the one that makes it. */
  private async produce({ plan, produces }: Prerequisite, options: TrialOptions): Promise<void> {
    if (hasSavedModel(produces)) return;
    const release = await lockFile(
      `${produces}.lock`,
      () => hasSavedModel(produces),
      (holder) => this.log.info(`another process (pid ${holder}) is making ${displayPath(produces)}; waiting for it`),
    );
    if (release === undefined) return;
    try {
      this.log.info(`${displayPath(produces)} does not exist yet; running ${displayPath(plan.loaded.file)} first`);
      await this.run(plan, { backend: options.backend, ...(options.signal ? { signal: options.signal } : {}) });
    } finally {
      await release();
    }
  }

  private async runTrial(plan: TrialPlan, options: TrialOptions): Promise<TrialOutcome> {
    const { spec } = plan.loaded;
    const trial: TrialInfo = {
      plan,
      loaded: plan.loaded,
      runName: options.runName ?? spec.name,
      configHash: plan.configHash,
      backend: options.backend,
      ...(options.parentRunId === undefined ? {} : { parentRunId: options.parentRunId }),
    };
    const observers = this.container.getAll<TrialObserver>(TrialObserver, { optional: true });
    const started = performance.now();
    let data: DatasetSplits | undefined;
    let built: BuiltModel | undefined;
    return withSeededMathRandom(spec.seed, async () => {
      const recording = await this.recorder.begin(trial);
      const events = new TrialEvents([
        ...observers,
        ...(options.observers ?? []),
        recording,
        ...(options.signal ? [abortCheck(options.signal)] : []),
      ]);
      try {
        await events.emit('onTrialBegin', trial);
        data = await this.loadStage.load(plan);
        const splits = await splitRecords(data);
        const augmenter = this.augmentStage.prepare(spec.augment, spec.seed);
        built = await this.buildStage.build(plan);
        if (built.base.inputRange) data = rescaleSplits(data, built.base.inputRange);
        const summary = modelSummary(built.model, built.units);
        const train = await this.trainPhases(plan, built, data, augmenter, events);
        const split = spec.evaluate.split === 'test' ? data.test : data.validation;
        const evaluation = await this.evaluateStage.evaluate(built.model, built.output, split, data.classNames, spec.evaluate.split);
        const savedBase = plan.outputBase === undefined ? undefined : await saveBase(built, plan.outputBase, plan, data);
        const result: TrialResult = {
          trial,
          built,
          facts: train.finalFacts,
          phases: plan.phases,
          train,
          evaluation,
          dataSource: data.source,
          splits,
          dataNotes: data.notes ?? {},
          modelSummary: summary,
          seconds: (performance.now() - started) / 1000,
          ...(savedBase === undefined ? {} : { savedBase }),
        };
        await events.emit('onTrialEnd', result);
        await recording.finish(result);
        return { ...result, runId: recording.runId, runLocation: recording.location };
      } catch (error) {
        // Stopped on purpose (Ctrl-C, or pruned by its sweep): KILLED, as MLflow's own runs.
        const interrupted = error instanceof TrialInterrupted || error instanceof TrialPruned;
        await events.emit('onTrialError', trial, error, interrupted);
        // What stopped the trial is the error to report, even when recording it fails too (a full disk).
        await recording.fail(error, interrupted).catch((recordError: unknown) => {
          this.log.warn(`run ${recording.runId} could not record why it stopped: ${messageOf(recordError)}`);
        });
        throw error;
      } finally {
        disposeSplits(data);
        if (built) disposeModel(built.model);
      }
    });
  }

  /** The strategy's phases, each on the network the freeze stage prepares for it (then released). */
  private async trainPhases(
    plan: TrialPlan,
    built: BuiltModel,
    data: DatasetSplits,
    augmenter: ReturnType<AugmentStage['prepare']>,
    events: TrialEvents,
  ): Promise<TrainResult> {
    const config = plan.loaded.spec.train;
    const random = new SeededRandom(plan.loaded.spec.seed ^ 0x7a1);
    const epochs: EpochLogs[] = [];
    const stoppedEarly: string[] = [];
    let images = 0;
    let seconds = 0;
    let finalFacts: ModelFacts | undefined;
    let keptEpoch = -1;
    let featureSetsComputed = 0;
    for (const phase of plan.phases) {
      if (phase.reinitializeUnits?.length) reinitializeUnits(built, phase.reinitializeUnits, plan.loaded.spec.seed);
      const frozen = this.freezeStage.apply(built, phase);
      finalFacts = frozen.facts;
      try {
        await events.emit('onPhaseBegin', phase, frozen.facts);
        const outcome = await this.trainStage.trainPhase({
          phase,
          frozen,
          output: built.output,
          units: built.units,
          data,
          augmenter,
          config,
          random,
          firstEpoch: epochs.length,
          events,
        });
        epochs.push(...outcome.epochs);
        images += outcome.images;
        seconds += outcome.seconds;
        if (outcome.stoppedEarly) stoppedEarly.push(phase.name);
        keptEpoch = outcome.keptEpoch;
        featureSetsComputed += outcome.featureSetsComputed;
        await events.emit('onPhaseEnd', phase);
      } finally {
        frozen.release();
      }
    }
    return {
      epochs,
      stoppedEarly,
      imagesPerSecond: seconds > 0 ? images / seconds : 0,
      finalFacts: finalFacts!,
      keptEpoch,
      featureSetsComputed,
    };
  }
}

/** An observer that stops the trial between batches once the signal fires, saying where. */
function abortCheck(signal: AbortSignal): TrialObserver {
  let batches = 0;
  return {
    order: -1000,
    onPhaseBegin: (phase) => {
      if (signal.aborted) throw new TrialInterrupted(`before phase ${phase.name}`);
    },
    onEpochBegin: (epoch, _phase, size) => {
      if (signal.aborted) throw new TrialInterrupted(`before epoch ${epoch + 1}`);
      batches = size?.batches ?? 0;
    },
    onBatchBegin: (epoch, batch) => {
      if (signal.aborted) throw new TrialInterrupted(`in epoch ${epoch + 1} at batch ${batch + 1} of ${batches}`);
    },
  };
}

/** What identifies each split for the record: size, image shape, and a digest of its content key and labels. */
async function splitRecords(data: DatasetSplits): Promise<SplitRecord[]> {
  const records: SplitRecord[] = [];
  for (const split of ['train', 'validation', 'test'] as const) {
    const images = data[split];
    const digest = createHash('sha256')
      .update(await images.contentKey())
      .update(new Uint8Array(images.labels.buffer, images.labels.byteOffset, images.labels.byteLength))
      .digest('hex')
      .slice(0, 8);
    records.push({ split, count: images.count, imageShape: images.imageShape, digest });
  }
  return records;
}

/** Maps images from [0, 1] to the range the base expects (e.g. [-1, 1] for MobileNet), batch by batch as they are read. */
function rescaleSplits(data: DatasetSplits, range: readonly [number, number]): DatasetSplits {
  return {
    ...data,
    train: rescaledSplit(data.train, range),
    validation: rescaledSplit(data.validation, range),
    test: rescaledSplit(data.test, range),
  };
}

/** Saves the trained base (input → base output) with its units, for other specs to build on. */
async function saveBase(built: BuiltModel, dir: string, plan: TrialPlan, data: DatasetSplits): Promise<string> {
  const output = built.model.getLayer(built.baseOutputLayer).getOutputAt(0) as tf.SymbolicTensor;
  const base = tf.model({ inputs: built.model.inputs, outputs: output, name: `${plan.loaded.spec.name}_base` });
  await saveThawModel(base, dir, {
    units: built.units,
    headLayers: [],
    adapterLayers: built.base.adapterLayers ?? [],
    inputRange: built.base.inputRange ?? [0, 1],
    classNames: data.classNames,
    basePlugin: plan.loaded.spec.model.base.plugin,
    spec: recordedSpecPath(plan.loaded.file),
    savedAt: new Date().toISOString(),
  });
  return dir;
}
