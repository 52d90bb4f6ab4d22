import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ThawError, messageOf, type SavedThawModel } from '@thaw/contracts';
import { layersModelFolder } from './layers-model-files.js';

/** Whether a folder holds a saved model (its model.json). */
export function hasSavedModel(dir: string): boolean {
  return existsSync(join(dir, 'model.json'));
}

/** Saves a model (TF.js layers format) with thaw's metadata: the one writer of saved thaw models. */
export async function saveThawModel(model: tf.LayersModel, dir: string, metadata: SavedThawModel): Promise<void> {
  await model.save(layersModelFolder(dir, { thaw: metadata }));
}

export interface ReadThawModel {
  readonly metadata: SavedThawModel;
  /** The base's layers in Keras' order (model.layers without thaw's adapters and head), from the topology. */
  readonly baseLayers: readonly string[];
  readonly inputShape: readonly (number | null)[];
}

/** Reads what a saved thaw model is from its model.json alone (no weights): the one reader. */
export async function readThawModel(dir: string): Promise<ReadThawModel> {
  const file = join(dir, 'model.json');
  let json: { modelTopology?: unknown; userDefinedMetadata?: { thaw?: Partial<SavedThawModel> } };
  try {
    json = JSON.parse(await readFile(file, 'utf8')) as typeof json;
  } catch (error) {
    throw new ThawError(`${file}: cannot read the model (${messageOf(error)}); expected a TF.js layers model.json saved by thaw`);
  }
  const stored = json.userDefinedMetadata?.thaw;
  if (!stored || !Array.isArray(stored.units)) {
    throw new ThawError(
      `${file} was not saved by thaw (no units in its metadata); expected a base saved through output.base or a run's model`,
    );
  }
  const metadata: SavedThawModel = {
    units: stored.units,
    headLayers: stored.headLayers ?? [],
    adapterLayers: stored.adapterLayers ?? [],
    inputRange: stored.inputRange ?? [0, 1],
    classNames: stored.classNames ?? [],
    basePlugin: stored.basePlugin ?? 'unknown',
    spec: stored.spec ?? 'unknown',
    savedAt: stored.savedAt ?? 'unknown',
    ...(stored.baseOutputLayer === undefined ? {} : { baseOutputLayer: stored.baseOutputLayer }),
  };
  const topology = json.modelTopology as {
    config?: { layers?: { name?: string; class_name?: string; config?: { batch_input_shape?: (number | null)[] } }[] };
  };
  const layers = topology.config?.layers ?? [];
  const leaveOut = new Set([...metadata.adapterLayers, ...metadata.headLayers]);
  const input = layers.find((layer) => layer.class_name === 'InputLayer');
  return {
    metadata,
    baseLayers: layers.map((layer) => layer.name ?? '').filter((name) => name !== '' && !leaveOut.has(name)),
    inputShape: input?.config?.batch_input_shape?.slice(1) ?? [],
  };
}

/** Loads a saved thaw model; a whole network is cut back to its base (the head is left behind). */
export async function loadThawBase(dir: string): Promise<{ model: tf.LayersModel; saved: ReadThawModel }> {
  const saved = await readThawModel(dir);
  let model: tf.LayersModel;
  try {
    model = await tf.loadLayersModel(layersModelFolder(dir));
  } catch (error) {
    throw new ThawError(`cannot load the model in ${dir}: ${messageOf(error)}`);
  }
  const { baseOutputLayer, headLayers } = saved.metadata;
  if (baseOutputLayer !== undefined) {
    const whole = model;
    model = tf.model({ inputs: whole.inputs, outputs: whole.getLayer(baseOutputLayer).getOutputAt(0), name: `${whole.name}_base` });
    for (const name of headLayers) whole.getLayer(name).dispose();
  }
  return { model, saved };
}
