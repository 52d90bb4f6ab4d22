import type * as tf from '@tensorflow/tfjs';
import type { ModelUnit } from '@thaw/contracts';

/** Keras-style summary of the model, followed by its units. */
export function modelSummary(model: tf.LayersModel, units: readonly ModelUnit[]): string {
  const lines: string[] = [];
  model.summary(110, undefined, (line?: string) => lines.push(line ?? ''));
  if (units.length > 0) {
    lines.push('', 'Units (input → output):');
    units.forEach((unit, index) => lines.push(`  ${index + 1}. ${unit.name}: ${unit.layers.join(', ')}`));
  }
  return lines.join('\n') + '\n';
}
