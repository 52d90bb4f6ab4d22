import * as tf from '@tensorflow/tfjs';
import { ThawError } from '@thaw/core';
import { ThawResizing } from './thaw-resizing.js';

/**
 * Fits images to a base that expects size × size × 3: resized (bilinear) when their size differs,
 * grey repeated into three channels. Weightless layers before the base's first unit, so they
 * fall in the frozen part and their output is cached with it.
 */
export function adaptInput(input: tf.SymbolicTensor, size: number): { output: tf.SymbolicTensor; layers: string[] } {
  const [height, width, channels] = input.shape.slice(1) as [number, number, number];
  if (channels !== 1 && channels !== 3) {
    throw new ThawError(`images have ${channels} channels; expected 1 (grey, repeated to RGB) or 3`);
  }
  let x = input;
  const layers: string[] = [];
  if (height !== size || width !== size) {
    x = new ThawResizing({ height: size, width: size, name: 'thaw_resize' }).apply(x) as tf.SymbolicTensor;
    layers.push('thaw_resize');
  }
  if (channels === 1) {
    x = tf.layers.concatenate({ axis: -1, name: 'thaw_grey_to_rgb' }).apply([x, x, x]) as tf.SymbolicTensor;
    layers.push('thaw_grey_to_rgb');
  }
  return { output: x, layers };
}
