import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ThawError, messageOf, type BaseModelContext } from '@thaw/core';
import { loadLayersModelFrom } from './load-layers-model-from.js';
import {
  KERAS_FORMAT_TEXT,
  hasKerasWeightsExtension,
  keras3LayerPaths,
  looksLikeKerasWeightsFile,
  readKerasWeights,
  type KerasWeights,
} from '../weights/keras-weights-file.js';

const shapeText = (shape: readonly (number | null)[]) => `[${shape.join(',')}]`;

/**
 * Throws unless every weighted layer of `ours` is found in `theirs` (by `keyOf`) with the same
 * weight shapes, in order, and `theirs` holds no other layer: the error names the first layer that
 * does not match and lists the missing, mis-shaped and extra ones.
 */
function checkSameArchitecture(
  ours: tf.layers.Layer[],
  keyOf: (layer: tf.layers.Layer) => string,
  theirs: Map<string, readonly (readonly (number | null)[])[]>,
  prefix: string,
): void {
  const missing: string[] = [];
  const misshaped: string[] = [];
  for (const layer of ours) {
    const other = theirs.get(keyOf(layer));
    if (!other) {
      missing.push(layer.name);
      continue;
    }
    const want = layer.weights.map((w) => shapeText(w.shape));
    const have = other.map(shapeText);
    if (want.join() !== have.join()) misshaped.push(`${layer.name} (expected ${want.join(' ')}, found ${have.join(' ')})`);
  }
  const ourKeys = new Set(ours.map(keyOf));
  const extra = [...theirs.keys()].filter((key) => !ourKeys.has(key));
  if (missing.length || misshaped.length || extra.length) {
    const first = ours.find((l) => missing.includes(l.name) || misshaped.some((m) => m.startsWith(`${l.name} `)));
    const list = (what: string, names: string[]) =>
      names.length ? `; ${what} (${names.length}): ${names.slice(0, 8).join(', ')}${names.length > 8 ? ', …' : ''}` : '';
    throw new ThawError(
      `${prefix}: the first layer that does not match is ${first?.name ?? extra[0]}` +
        list('missing', missing) +
        list('mis-shaped', misshaped) +
        list('extra', extra),
    );
  }
}

/**
 * Copies weights into `model` layer by layer, matched by name, from a TF.js layers model (folder,
 * model.json or URL) or a Keras file: a Keras 2 .h5 (as keras.applications downloads them, or a
 * whole model saved as .h5), a Keras 3 .weights.h5 or a .keras archive, chosen by the file's
 * extension or, for a local file, its first bytes. Inside a layer the weights go in order (Keras'
 * kernel, bias; gamma, beta, moving_mean, moving_variance — the order of TF.js' `layer.weights`).
 * Every weighted layer must be found with the same shapes, and the file must hold no other
 * weighted layer; otherwise the error names the first layer that does not match and lists the
 * missing, extra and mis-shaped ones.
 */
export async function loadWeightsByName(model: tf.LayersModel, path: string, context: BaseModelContext, option: string): Promise<string> {
  const isUrl = /^https?:\/\//.test(path);
  const location = isUrl ? path : resolve(context.specDir, path);
  if (hasKerasWeightsExtension(location) || (!isUrl && (await looksLikeKerasWeightsFile(location)))) {
    return loadKerasWeightsByName(model, location, isUrl, context, option);
  }
  const { model: source, location: loaded } = await loadLayersModelFrom(path, context, option);
  try {
    const theirs = new Map(source.layers.filter((l) => l.weights.length > 0).map((l) => [l.name, l.weights.map((w) => w.shape)]));
    const ours = model.layers.filter((l) => l.weights.length > 0);
    checkSameArchitecture(
      ours,
      (layer) => layer.name,
      theirs,
      `${context.where}.${option}: the weights in ${loaded} are not of this architecture`,
    );
    const byName = new Map(source.layers.map((l) => [l.name, l]));
    for (const layer of ours) layer.setWeights(byName.get(layer.name)!.getWeights());
    return `weights from ${loaded}`;
  } finally {
    source.dispose();
  }
}

async function loadKerasWeightsByName(
  model: tf.LayersModel,
  location: string,
  isUrl: boolean,
  context: BaseModelContext,
  option: string,
): Promise<string> {
  const weights = await readKerasFrom(location, isUrl, context, option);
  const ours = model.layers.filter((l) => l.weights.length > 0);
  let keyOf = (layer: tf.layers.Layer) => layer.name;
  let how = '';
  if (weights.keyedBy === 'keras3-path') {
    // The file names no layers: match as Keras 3 does, by class and position among the model's layers.
    const layerPaths = keras3LayerPaths(model.layers.map((l) => l.getClassName()));
    const paths = new Map(model.layers.map((layer, i) => [layer, layerPaths[i]!]));
    keyOf = (layer) => paths.get(layer)!;
    how = ', whose layers carry no names, matched by Keras 3 layer paths';
  }
  const theirs = new Map([...weights.layers].map(([key, list]) => [key, list.map((w) => w.shape)]));
  checkSameArchitecture(
    ours,
    keyOf,
    theirs,
    `${context.where}.${option}: the weights in ${location} (${KERAS_FORMAT_TEXT[weights.format]}${how}) are not of this architecture`,
  );
  for (const layer of ours) {
    const values = weights.layers.get(keyOf(layer))!.map((w) => tf.tensor(w.values, w.shape, 'float32'));
    try {
      layer.setWeights(values);
    } finally {
      tf.dispose(values);
    }
  }
  return `weights from ${location} (${KERAS_FORMAT_TEXT[weights.format]}${how})`;
}

/** Reads a local Keras file, or downloads one from an http(s) URL to a temporary folder first. */
async function readKerasFrom(location: string, isUrl: boolean, context: BaseModelContext, option: string): Promise<KerasWeights> {
  const where = `${context.where}.${option}`;
  const rethrow = (error: unknown, local = location): never => {
    if (error instanceof ThawError) throw new ThawError(`${where}: ${error.message.split(local).join(location)}`);
    throw new ThawError(`${where}: cannot read Keras weights from ${location}: ${messageOf(error)}`);
  };
  if (!isUrl) return readKerasWeights(location).catch((error: unknown) => rethrow(error));
  const dir = await mkdtemp(join(tmpdir(), 'thaw-keras-download-'));
  const local = join(dir, basename(new URL(location).pathname) || 'weights.h5');
  try {
    let bytes: Uint8Array;
    try {
      const response = await fetch(location);
      if (!response.ok) throw new Error(`HTTP ${response.status} ${response.statusText}`);
      bytes = new Uint8Array(await response.arrayBuffer());
    } catch (error) {
      throw new ThawError(`${where}: cannot download Keras weights from ${location}: ${messageOf(error)}`);
    }
    await writeFile(local, bytes);
    return await readKerasWeights(local).catch((error: unknown) => rethrow(error, local));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
