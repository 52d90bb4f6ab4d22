import type * as tf from '@tensorflow/tfjs';
import { ThawError, type BaseModelContext } from '@thaw/core';
import { loadLayersModelFrom } from './load-layers-model-from.js';

const shapeText = (shape: readonly (number | null)[]) => `[${shape.join(',')}]`;

/**
 * Copies weights into `model` layer by layer, matched by name, from the TF.js layers model at
 * `path`. Every weighted layer must be found with the same shapes, and the file must hold no
 * other weighted layer; otherwise the error names the first layer that does not match and lists
 * the missing, extra and mis-shaped ones.
 */
export async function loadWeightsByName(model: tf.LayersModel, path: string, context: BaseModelContext, option: string): Promise<string> {
  const { model: source, location } = await loadLayersModelFrom(path, context, option);
  try {
    const theirs = new Map(source.layers.filter((l) => l.weights.length > 0).map((l) => [l.name, l]));
    const ours = model.layers.filter((l) => l.weights.length > 0);
    const missing: string[] = [];
    const misshaped: string[] = [];
    for (const layer of ours) {
      const other = theirs.get(layer.name);
      if (!other) {
        missing.push(layer.name);
        continue;
      }
      const want = layer.weights.map((w) => shapeText(w.shape));
      const have = other.weights.map((w) => shapeText(w.shape));
      if (want.join() !== have.join()) misshaped.push(`${layer.name} (expected ${want.join(' ')}, found ${have.join(' ')})`);
    }
    const ourNames = new Set(ours.map((l) => l.name));
    const extra = [...theirs.keys()].filter((name) => !ourNames.has(name));
    if (missing.length || misshaped.length || extra.length) {
      const first = ours.find((l) => missing.includes(l.name) || misshaped.some((m) => m.startsWith(`${l.name} `)));
      const list = (what: string, names: string[]) =>
        names.length ? `; ${what} (${names.length}): ${names.slice(0, 8).join(', ')}${names.length > 8 ? ', …' : ''}` : '';
      throw new ThawError(
        `${context.where}.${option}: the weights in ${location} are not of this architecture: ` +
          `the first layer that does not match is ${first?.name ?? extra[0]}` +
          list('missing', missing) +
          list('mis-shaped', misshaped) +
          list('extra', extra),
      );
    }
    for (const layer of ours) layer.setWeights(theirs.get(layer.name)!.getWeights());
    return `weights from ${location}`;
  } finally {
    source.dispose();
  }
}
