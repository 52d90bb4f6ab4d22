import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { inject, injectable, type Container } from 'inversify';
import { z } from 'zod';
import {
  ThawContainer,
  ThawError,
  Tracker,
  TrialPipeline,
  layersModelFolder,
  loadSpec,
  messageOf,
  displayPath,
  type BaseModel,
  type BaseModelContext,
  type BaseModelPlugin,
  type ModelUnit,
} from '@thaw/core';

const optionsSchema = z
  .strictObject({
    spec: z.string().min(1).optional().describe('the spec whose output.base is the base, relative to this spec'),
    run: z
      .string()
      .regex(/^[0-9a-f]{32}$/, { error: 'expected an MLflow run id (32 hexadecimal characters)' })
      .optional()
      .describe('an earlier run (in ./mlruns or on the MLflow server) whose trained model’s base is the base'),
    path: z.string().min(1).optional().describe('a folder holding a base saved by thaw (model.json + weights.bin)'),
    ifMissing: z
      .enum(['error', 'run'])
      .default('error')
      .describe('when the base does not exist yet: stop and say how to make it, or run its spec first'),
  })
  .refine((options) => [options.spec, options.path, options.run].filter((o) => o !== undefined).length === 1, {
    error: 'expected exactly one of spec, path or run',
  });
type Options = z.output<typeof optionsSchema>;

interface ThawMetadata {
  units?: ModelUnit[];
  inputRange?: [number, number];
  spec?: string;
  /** Set when the folder holds a whole trained network (a run's model artifact): the base ends here. */
  baseOutputLayer?: string;
  adapterLayers?: string[];
  headLayers?: string[];
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes an exclusive lock file, waiting while another live process holds it. Resolves to its
 * release, or to undefined when `done()` became true while waiting (the other process made it).
 */
async function lockFile(path: string, done: () => boolean, context: BaseModelContext): Promise<(() => Promise<void>) | undefined> {
  await mkdir(dirname(path), { recursive: true });
  let told = false;
  for (;;) {
    try {
      await writeFile(path, String(process.pid), { flag: 'wx' });
      if (done()) {
        await rm(path, { force: true });
        return undefined;
      }
      return () => rm(path, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = Number(await readFile(path, 'utf8').catch(() => ''));
    if (Number.isInteger(holder) && holder > 0 && !alive(holder)) {
      await rm(path, { force: true });
      continue;
    }
    if (!told)
      context.log.info(`from-run: another process (pid ${holder}) is making ${displayPath(path.replace(/\.lock$/, ''))}; waiting for it`);
    told = true;
    await new Promise((resolve) => setTimeout(resolve, 500));
    if (done() && !existsSync(path)) return undefined;
  }
}

/** The base trained and saved by an earlier trial (its spec's `output.base`). */
@injectable()
export class FromRunBaseModel implements BaseModelPlugin<Options> {
  readonly id = 'from-run';
  readonly description = 'the base saved by an earlier run (output.base of another spec), with its units';
  readonly optionsSchema = optionsSchema;

  constructor(@inject(ThawContainer) private readonly container: Container) {}

  private async runModel(runId: string, context: BaseModelContext): Promise<string> {
    const tracker = this.container.get<Tracker>(Tracker);
    const folder = await tracker.artifactFolder(runId, 'model');
    if (folder === undefined || !existsSync(join(folder, 'model.json'))) {
      const known = await tracker.getRun(runId);
      throw new ThawError(
        known
          ? `${context.where}.run: run ${runId} (${known.runName}, ${known.status}) has no trained model artifact (model/model.json); expected a run that finished`
          : `${context.where}.run: received ${runId}, which is not a run in ${tracker.location}; expected the id of an earlier run (MLflow or ./mlruns)`,
      );
    }
    return folder;
  }

  async build(options: Options, context: BaseModelContext): Promise<BaseModel> {
    const dir = options.run !== undefined ? await this.runModel(options.run, context) : await this.locate(options, context);
    const artifacts = await layersModelFolder(dir).load!();
    const metadata = ((artifacts.userDefinedMetadata ?? {}) as { thaw?: ThawMetadata }).thaw ?? {};
    if (!Array.isArray(metadata.units)) {
      throw new ThawError(
        `${context.where}: ${join(dir, 'model.json')} was not saved by thaw (no units in its metadata); expected a base saved through output.base`,
      );
    }
    let model: tf.LayersModel;
    try {
      model = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
    } catch (error) {
      throw new ThawError(`${context.where}: cannot load the base in ${dir}: ${messageOf(error)}`);
    }
    if (metadata.baseOutputLayer !== undefined) {
      // A whole trained network: keep the base, leave its head behind.
      const whole = model;
      model = tf.model({
        inputs: whole.inputs,
        outputs: whole.getLayer(metadata.baseOutputLayer).getOutputAt(0),
        name: `${whole.name}_base`,
      });
      for (const name of metadata.headLayers ?? []) whole.getLayer(name).dispose();
    }
    return {
      model,
      units: metadata.units,
      ...(metadata.adapterLayers?.length ? { adapterLayers: metadata.adapterLayers } : {}),
      ...(metadata.inputRange ? { inputRange: metadata.inputRange } : {}),
      description: `base ${options.run !== undefined ? `of run ${options.run}, ` : ''}saved in ${dir}${metadata.spec ? ` by ${metadata.spec}` : ''}`,
    };
  }

  private async locate(options: Options, context: BaseModelContext): Promise<string> {
    if (options.path !== undefined) {
      const dir = resolve(context.specDir, options.path);
      if (!existsSync(join(dir, 'model.json'))) {
        throw new ThawError(
          `${context.where}.path: received ${JSON.stringify(options.path)}, but ${join(dir, 'model.json')} does not exist; expected a folder saved by thaw`,
        );
      }
      return dir;
    }
    const specFile = resolve(context.specDir, options.spec!);
    const source = await loadSpec(specFile);
    if (source.spec.output.base === undefined) {
      throw new ThawError(
        `${context.where}.spec: ${displayPath(specFile)} has no output.base, so it saves no base; expected a spec that sets output.base`,
      );
    }
    const dir = resolve(source.dir, source.spec.output.base);
    if (existsSync(join(dir, 'model.json'))) return dir;
    if (options.ifMissing === 'error') {
      throw new ThawError(
        `${context.where}: the base ${displayPath(dir)} does not exist yet; it is produced by \`thaw run ${displayPath(specFile)}\` (or set ifMissing: run)`,
      );
    }
    // Trials in parallel processes may all need it: one trains it, the others wait for it.
    const release = await lockFile(`${dir}.lock`, () => existsSync(join(dir, 'model.json')), context);
    if (release === undefined) return dir;
    try {
      context.log.info(`from-run: ${displayPath(dir)} does not exist yet; running ${displayPath(specFile)} first`);
      const pipeline = this.container.get<TrialPipeline>(TrialPipeline);
      await pipeline.run(source, { backend: tf.getBackend() });
    } finally {
      await release();
    }
    return dir;
  }
}
