import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { inject, injectable } from 'inversify';
import { z } from 'zod';
import {
  ThawError,
  Tracker,
  displayPath,
  hasSavedModel,
  loadSpec,
  loadThawBase,
  messageOf,
  readThawModel,
  type BaseCheckContext,
  type BaseFacts,
  type BaseModel,
  type BaseModelContext,
  type BaseModelPlugin,
  type LoadedSpec,
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

/** The base trained and saved by an earlier trial (its spec's `output.base`). */
@injectable()
export class FromRunBaseModel implements BaseModelPlugin<Options> {
  readonly id = 'from-run';
  readonly description = 'the base saved by an earlier run (output.base of another spec), with its units';
  readonly optionsSchema = optionsSchema;

  constructor(@inject(Tracker) private readonly tracker: Tracker) {}

  /** Where the base is, or the trial that will make it; refuses a missing run, folder or spec before anything trains. */
  async check(options: Options, context: BaseCheckContext): Promise<BaseFacts> {
    if (options.run !== undefined) return facts(await this.runModel(options.run, context), context);
    if (options.path !== undefined) return facts(locatePath(options.path, context), context);
    const { source, dir } = await locateSpec(options.spec!, context);
    if (hasSavedModel(dir)) return facts(dir, context);
    if (options.ifMissing === 'error') {
      throw new ThawError(
        `${context.where}: the base ${displayPath(dir)} does not exist yet; it is produced by \`thaw run ${displayPath(source.file)}\` (or set ifMissing: run)`,
      );
    }
    const plan = await context.planSpec(source.file);
    const { inputShape, units, layers } = plan.base.facts;
    return { inputShape, units, layers, prerequisite: { plan, produces: dir } };
  }

  async build(options: Options, context: BaseModelContext): Promise<BaseModel> {
    const dir =
      options.run !== undefined
        ? await this.runModel(options.run, context)
        : options.path !== undefined
          ? locatePath(options.path, context)
          : (await locateSpec(options.spec!, context)).dir;
    if (!hasSavedModel(dir)) {
      throw new ThawError(
        `${context.where}: the base ${displayPath(dir)} does not exist; expected the trial that makes it to have run first`,
      );
    }
    const { model, saved } = await loadThawBase(dir).catch((error: unknown) => {
      throw new ThawError(`${context.where}: ${messageOf(error)}`);
    });
    const { metadata } = saved;
    return {
      model,
      units: metadata.units,
      ...(metadata.adapterLayers.length > 0 ? { adapterLayers: metadata.adapterLayers } : {}),
      inputRange: metadata.inputRange,
      description: `base ${options.run !== undefined ? `of run ${options.run}, ` : ''}saved in ${dir} by ${metadata.spec}`,
    };
  }

  private async runModel(runId: string, context: BaseModelContext): Promise<string> {
    const folder = await this.tracker.artifactFolder(runId, 'model');
    if (folder === undefined || !hasSavedModel(folder)) {
      const known = await this.tracker.getRun(runId);
      throw new ThawError(
        known
          ? `${context.where}.run: run ${runId} (${known.runName}, ${known.status}) has no trained model artifact (model/model.json); expected a run that finished`
          : `${context.where}.run: received ${runId}, which is not a run in ${this.tracker.location}; expected the id of an earlier run (MLflow or ./mlruns)`,
      );
    }
    return folder;
  }
}

/** The facts of a saved base, from its model.json alone. */
async function facts(dir: string, context: BaseModelContext): Promise<BaseFacts> {
  const saved = await readThawModel(dir).catch((error: unknown) => {
    throw new ThawError(`${context.where}: ${messageOf(error)}`);
  });
  return { inputShape: saved.inputShape, units: saved.metadata.units, layers: saved.baseLayers };
}

function locatePath(path: string, context: BaseModelContext): string {
  const dir = resolve(context.specDir, path);
  if (!hasSavedModel(dir)) {
    throw new ThawError(
      `${context.where}.path: received ${JSON.stringify(path)}, but ${join(dir, 'model.json')} does not exist; expected a folder saved by thaw`,
    );
  }
  return dir;
}

async function locateSpec(spec: string, context: BaseModelContext): Promise<{ source: LoadedSpec; dir: string }> {
  const specFile = resolve(context.specDir, spec);
  if (!existsSync(specFile)) {
    throw new ThawError(
      `${context.where}.spec: received ${JSON.stringify(spec)}, but ${specFile} does not exist; expected a spec that sets output.base`,
    );
  }
  const source = await loadSpec(specFile);
  if (source.spec.output.base === undefined) {
    throw new ThawError(
      `${context.where}.spec: ${displayPath(specFile)} has no output.base, so it saves no base; expected a spec that sets output.base`,
    );
  }
  return { source, dir: resolve(source.dir, source.spec.output.base) };
}
