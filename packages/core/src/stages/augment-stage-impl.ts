import * as tf from '@tensorflow/tfjs';
import { injectable } from 'inversify';
import { SeededRandom, type AugmentOp, type AugmentStage, type Augmenter } from '@thaw/contracts';

/**
 * Flip, rotation, zoom and translation are folded into one projective transform per image (one
 * `tf.image.transform` per batch); contrast is applied after it. Parameters are drawn from a
 * seeded generator, so the same seed gives the same augmented batches.
 */
class AffineAugmenter implements Augmenter {
  readonly active: boolean;
  private readonly random: SeededRandom;

  constructor(
    private readonly ops: readonly AugmentOp[],
    seed: number,
  ) {
    this.active = ops.length > 0;
    this.random = new SeededRandom(seed ^ 0xa06);
  }

  apply(images: tf.Tensor4D): tf.Tensor4D {
    if (!this.active) return images;
    const [batch, height, width] = images.shape;
    const hasGeometry = this.ops.some((op) => op.op !== 'contrast');
    return tf.tidy(() => {
      let out = images;
      if (hasGeometry) {
        const transforms = new Float32Array(batch * 8);
        for (let i = 0; i < batch; i++) transforms.set(this.drawTransform(height, width), i * 8);
        // Edges take the nearest pixel: 'reflect' (Keras' default) gives different results on wasm than on cpu and native TensorFlow.
        out = tf.image.transform(out, tf.tensor2d(transforms, [batch, 8]), 'bilinear', 'nearest');
      }
      for (const op of this.ops) {
        if (op.op !== 'contrast') continue;
        const factors = Float32Array.from({ length: batch }, () => this.random.uniform(1 - op.factor, 1 + op.factor));
        const mean = out.mean([1, 2], true);
        out = out
          .sub(mean)
          .mul(tf.tensor4d(factors, [batch, 1, 1, 1]))
          .add(mean)
          .clipByValue(0, 1) as tf.Tensor4D;
      }
      return out;
    });
  }

  /** Maps output pixel (x, y) to input (a0 x + a1 y + a2, b0 x + b1 y + b2) about the image centre. */
  private drawTransform(height: number, width: number): number[] {
    let flipX = 1;
    let flipY = 1;
    let angle = 0;
    let zoom = 1;
    let shiftX = 0;
    let shiftY = 0;
    for (const op of this.ops) {
      switch (op.op) {
        case 'flip':
          if (op.mode !== 'vertical' && this.random.next() < 0.5) flipX = -1;
          if (op.mode !== 'horizontal' && this.random.next() < 0.5) flipY = -1;
          break;
        case 'rotation':
          angle += this.random.uniform(-op.factor, op.factor) * 2 * Math.PI;
          break;
        case 'zoom':
          zoom *= this.random.uniform(1 - op.factor, 1 + op.factor);
          break;
        case 'translation':
          shiftX += this.random.uniform(-op.factor, op.factor) * width;
          shiftY += this.random.uniform(-op.factor, op.factor) * height;
          break;
        case 'contrast':
          break;
      }
    }
    const cos = Math.cos(angle);
    const sin = Math.sin(angle);
    const a0 = cos * zoom * flipX;
    const a1 = -sin * zoom * flipY;
    const b0 = sin * zoom * flipX;
    const b1 = cos * zoom * flipY;
    const cx = (width - 1) / 2;
    const cy = (height - 1) / 2;
    return [a0, a1, cx - a0 * cx - a1 * cy + shiftX, b0, b1, cy - b0 * cx - b1 * cy + shiftY, 0, 0];
  }
}

@injectable()
export class AugmentStageImpl implements AugmentStage {
  prepare(ops: readonly AugmentOp[], seed: number): Augmenter {
    return new AffineAugmenter(ops, seed);
  }
}
