import * as tf from '@tensorflow/tfjs';
import type { BuiltModel } from '@thaw/contracts';

/** Keras' glorot_uniform limit for a kernel of this shape (dense [in, out]; convolutions [kh, kw, in, out], depthwise [kh, kw, in, multiplier]). */
function glorotLimit(shape: readonly number[]): number {
  const receptive = shape.slice(0, -2).reduce((a, b) => a * b, 1);
  const fanIn = receptive * (shape.at(-2) ?? 1);
  const fanOut = receptive * (shape.at(-1) ?? 1);
  return Math.sqrt(6 / (fanIn + fanOut));
}

/**
 * Draws the weights of these units afresh, as Keras initialises a new layer: kernels
 * glorot_uniform, biases and BatchNorm beta and moving mean zeros, gamma and moving variance ones.
 * Seeded: the same seed gives the same weights. Yosinski et al.'s "the rest re-initialised".
 */
export function reinitializeUnits(built: BuiltModel, unitNames: readonly string[], seed: number): void {
  const wanted = new Set(unitNames);
  let index = 0;
  for (const unit of built.units) {
    if (!wanted.has(unit.name)) continue;
    for (const layerName of unit.layers) {
      for (const weight of built.model.getLayer(layerName).weights) {
        const name = weight.originalName;
        const shape = weight.shape as number[];
        const fresh = tf.tidy(() => {
          if (/(gamma|moving_variance)$/.test(name)) return tf.ones(shape);
          if (/(beta|bias|moving_mean)$/.test(name)) return tf.zeros(shape);
          const limit = glorotLimit(shape);
          return tf.randomUniform(shape, -limit, limit, 'float32', seed * 1009 + index);
        });
        index++;
        weight.write(fresh);
        fresh.dispose();
      }
    }
  }
}
