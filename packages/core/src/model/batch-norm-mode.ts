import type * as tf from '@tensorflow/tfjs';

const patched = Symbol('thaw.inferenceMode');
type CallableLayer = tf.layers.Layer & { [patched]?: true };

export function isBatchNormalization(layer: tf.layers.Layer): boolean {
  return layer.getClassName() === 'BatchNormalization';
}

/**
 * Makes a BatchNormalization layer always run in inference mode (moving statistics, no updates),
 * as Keras does for a frozen BN layer. TF.js's own layer ignores `trainable` and keeps updating
 * its moving mean and variance whenever it is called with `training: true`.
 */
export function setInferenceMode(layer: tf.layers.Layer, inference: boolean): void {
  const target = layer as CallableLayer;
  if (inference && !target[patched]) {
    const prototypeCall = (Object.getPrototypeOf(layer) as { call: tf.layers.Layer['call'] }).call;
    Object.defineProperty(target, 'call', {
      configurable: true,
      writable: true,
      value: function (this: tf.layers.Layer, inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) {
        return prototypeCall.call(this, inputs, { ...kwargs, training: false });
      },
    });
    target[patched] = true;
  } else if (!inference && target[patched]) {
    delete (target as { call?: unknown }).call;
    delete target[patched];
  }
}
