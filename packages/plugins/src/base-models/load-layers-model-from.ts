import { basename, dirname, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ThawError, layersModelFolder, messageOf, type BaseModelContext } from '@thaw/core';

/** Loads a TF.js layers model from a folder, a model.json or an http(s) URL. */
export async function loadLayersModelFrom(
  path: string,
  context: BaseModelContext,
  option: string,
): Promise<{ model: tf.LayersModel; location: string }> {
  const isUrl = /^https?:\/\//.test(path);
  const location = isUrl ? path : resolve(context.specDir, path);
  try {
    const handler = isUrl ? tf.io.http(location) : layersModelFolder(basename(location) === 'model.json' ? dirname(location) : location);
    return { model: await tf.loadLayersModel(handler), location };
  } catch (error) {
    if (error instanceof ThawError) throw new ThawError(`${context.where}.${option}: ${error.message}`);
    throw new ThawError(`${context.where}.${option}: cannot load a TF.js layers model from ${location}: ${messageOf(error)}`);
  }
}
