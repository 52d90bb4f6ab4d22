import { kerasLayerNames } from '../contracts/base-model-plugin.js';
import { resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { inject, injectable, type Container } from 'inversify';
import { AugmentStage } from '../contracts/augment-stage.js';
import { BuildStage } from '../contracts/build-stage.js';
import type { BuiltModel } from '../contracts/built-model.js';
import type { DatasetSplits } from '../contracts/dataset-plugin.js';
import { EvaluateStage } from '../contracts/evaluate-stage.js';
import { FreezeStage } from '../contracts/freeze-stage.js';
import { LoadStage } from '../contracts/load-stage.js';
import { validatePluginOptions } from '../contracts/plugin-contribution.js';
import { TrainStage } from '../contracts/train-stage.js';
import { TrialEvents, TrialObserver, type TrialInfo, type TrialResult } from '../contracts/trial-observer.js';
import { disposeModel } from '../model/dispose-model.js';
import { modelSummary } from '../model/model-summary.js';
import { layersModelFolder } from '../model/layers-model-files.js';
import { PluginRegistry, ThawContainer } from '../plugins/plugin-registry.js';
import { configHash } from '../spec/flatten-spec.js';
import { pluginOptions } from '../spec/experiment-spec.js';
import type { LoadedSpec } from '../spec/spec-loader.js';
import { withSeededMathRandom } from '../training/seeded-random.js';
import { displayPath } from '../util/display-path.js';

/** Thrown when a trial is stopped by its AbortSignal (Ctrl-C). */
export class TrialInterrupted extends Error {
  constructor() {
    super('interrupted');
    this.name = 'TrialInterrupted';
  }
}

export interface TrialOptions {
  /** The backend in use, as recorded (e.g. `wasm`). */
  readonly backend: string;
  readonly runName?: string;
  readonly parentRunId?: string;
  readonly signal?: AbortSignal;
}

/** Runs one trial through the six stages — load, augment, build, freeze, train, evaluate — and reports to observers. */
export const TrialPipeline = Symbol('TrialPipeline');
export interface TrialPipeline {
  /** Resolves every plugin the spec names and validates their options, before anything is recorded. */
  check(loaded: LoadedSpec): void;
  run(loaded: LoadedSpec, options: TrialOptions): Promise<TrialResult>;
}

@injectable()
export class TrialPipelineImpl implements TrialPipeline {
  constructor(
    @inject(LoadStage) private readonly loadStage: LoadStage,
    @inject(AugmentStage) private readonly augmentStage: AugmentStage,
    @inject(BuildStage) private readonly buildStage: BuildStage,
    @inject(FreezeStage) private readonly freezeStage: FreezeStage,
    @inject(TrainStage) private readonly trainStage: TrainStage,
    @inject(EvaluateStage) private readonly evaluateStage: EvaluateStage,
    @inject(PluginRegistry) private readonly registry: PluginRegistry,
    @inject(ThawContainer) private readonly container: Container,
  ) {}

  check(loaded: LoadedSpec): void {
    const file = displayPath(loaded.file);
    const sections = [
      ['data', loaded.spec.data, (id: string, where: string) => this.registry.dataset(id, where)],
      ['model.base', loaded.spec.model.base, (id: string, where: string) => this.registry.baseModel(id, where)],
      ['strategy', loaded.spec.strategy, (id: string, where: string) => this.registry.strategy(id, where)],
    ] as const;
    for (const [field, section, find] of sections) {
      const { id, options } = pluginOptions(section);
      validatePluginOptions(find(id, `${file}: ${field}.plugin`), options, `${file}: ${field}`);
    }
  }

  async run(loaded: LoadedSpec, options: TrialOptions): Promise<TrialResult> {
    this.check(loaded);
    const { spec } = loaded;
    const trial: TrialInfo = {
      loaded,
      runName: options.runName ?? spec.name,
      configHash: configHash(spec),
      backend: options.backend,
      ...(options.parentRunId === undefined ? {} : { parentRunId: options.parentRunId }),
    };
    const observers = this.container.getAll<TrialObserver>(TrialObserver, { optional: true });
    const events = new TrialEvents(options.signal ? [...observers, abortCheck(options.signal)] : observers);
    const started = performance.now();
    let data: DatasetSplits | undefined;
    let built: BuiltModel | undefined;
    return withSeededMathRandom(spec.seed, async () => {
      await events.emit('onTrialBegin', trial);
      try {
        data = await this.loadStage.load(loaded);
        const augmenter = this.augmentStage.prepare(spec.augment, spec.seed);
        built = await this.buildStage.build(loaded, data);
        if (built.base.inputRange) data = rescaleSplits(data, built.base.inputRange);
        const summary = modelSummary(built.model, built.units);
        const phases = this.freezeStage.plan(loaded, built.units, kerasLayerNames(built.base));
        const train = await this.trainStage.train({ built, phases, data, augmenter, config: spec.train, seed: spec.seed, events });
        const split = spec.evaluate.split === 'test' ? data.test : data.validation;
        const evaluation = await this.evaluateStage.evaluate(built.model, split, data.classNames, spec.evaluate.split);
        const savedBase =
          spec.output.base === undefined ? undefined : await saveBase(built, resolve(loaded.dir, spec.output.base), loaded, data);
        const result: TrialResult = {
          trial,
          built,
          facts: train.finalFacts,
          phases,
          train,
          evaluation,
          dataSource: data.source,
          modelSummary: summary,
          seconds: (performance.now() - started) / 1000,
          ...(savedBase === undefined ? {} : { savedBase }),
        };
        await events.emit('onTrialEnd', result);
        return result;
      } catch (error) {
        await events.emit('onTrialError', trial, error, error instanceof TrialInterrupted);
        throw error;
      } finally {
        disposeSplits(data);
        if (built) disposeModel(built.model);
      }
    });
  }
}

/** An observer that stops the trial between batches once the signal fires. */
function abortCheck(signal: AbortSignal): TrialObserver {
  const check = () => {
    if (signal.aborted) throw new TrialInterrupted();
  };
  return { order: -1000, onBatchBegin: check, onEpochBegin: check, onPhaseBegin: check };
}

/** Maps images from [0, 1] to the range the base expects (e.g. [-1, 1] for MobileNet). */
function rescaleSplits(data: DatasetSplits, [low, high]: readonly [number, number]): DatasetSplits {
  if (low === 0 && high === 1) return data;
  const rescale = (images: tf.Tensor4D) => {
    const out = tf.tidy(() => images.mul<tf.Tensor4D>(high - low).add<tf.Tensor4D>(low));
    images.dispose();
    return out;
  };
  return {
    ...data,
    train: { ...data.train, images: rescale(data.train.images) },
    validation: { ...data.validation, images: rescale(data.validation.images) },
    test: { ...data.test, images: rescale(data.test.images) },
  };
}

/** Frees the tensors of a dataset's three splits. */
export function disposeSplits(data: DatasetSplits | undefined): void {
  if (!data) return;
  for (const split of [data.train, data.validation, data.test]) tf.dispose([split.images, split.labels]);
}

/** Saves the trained base (input → base output) in TF.js layers format, with its units, for other specs to build on. */
async function saveBase(built: BuiltModel, dir: string, loaded: LoadedSpec, data: DatasetSplits): Promise<string> {
  const output = built.model.getLayer(built.baseOutputLayer).getOutputAt(0) as tf.SymbolicTensor;
  const base = tf.model({ inputs: built.model.inputs, outputs: output, name: `${loaded.spec.name}_base` });
  await base.save(
    layersModelFolder(dir, {
      thaw: {
        units: built.units,
        spec: loaded.file,
        basePlugin: loaded.spec.model.base.plugin,
        classNames: data.classNames,
        inputRange: built.base.inputRange ?? [0, 1],
        savedAt: new Date().toISOString(),
      },
    }),
  );
  return dir;
}
