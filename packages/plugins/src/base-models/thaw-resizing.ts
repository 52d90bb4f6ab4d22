import * as tf from '@tensorflow/tfjs';

/**
 * Bilinear resizing to a fixed size with half-pixel centres, as Keras' Resizing does. TF.js' own
 * Resizing layer reports its output shape without the batch dimension (so no layer can follow it
 * in a functional model) and resizes with aligned corners.
 */
export class ThawResizing extends tf.layers.Layer {
  static readonly className = 'ThawResizing';
  private readonly height: number;
  private readonly width: number;

  constructor(args: { height: number; width: number; name?: string }) {
    super(args);
    this.height = args.height;
    this.width = args.width;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    return [shape[0] ?? null, this.height, this.width, shape[3] ?? null];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
    return tf.tidy(() => tf.image.resizeBilinear(x, [this.height, this.width], false, true));
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), height: this.height, width: this.width };
  }
}
tf.serialization.registerClass(ThawResizing);
