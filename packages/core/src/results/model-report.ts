import type * as tf from '@tensorflow/tfjs';
import type { BuiltModel, ModelFacts, Phase } from '@thaw/contracts';
import { textTable } from './trial-report.js';

const count = (value: number) => value.toLocaleString('en-US');

function paramsOf(layer: tf.layers.Layer): number {
  return layer.weights.reduce((sum, weight) => sum + weight.shape.reduce<number>((product, size) => product * (size ?? 1), 1), 0);
}

/**
 * thaw's view of a built model under a strategy: every unit (input → output) with its layers and
 * parameters and the phases that train it, then the head, then the totals of the last phase.
 */
export function unitReport(built: BuiltModel, phases: readonly Phase[], facts: ModelFacts): string {
  const rows: string[][] = [['unit', 'layers', 'params', ...phases.map((phase) => phase.name)]];
  const trainedIn = (unit: string) => phases.map((phase) => (phase.trainableUnits.includes(unit) ? 'trained' : 'frozen'));
  for (const unit of built.units) {
    const layers = unit.layers.map((name) => built.model.getLayer(name));
    rows.push([unit.name, unit.layers.join(', '), count(layers.reduce((sum, layer) => sum + paramsOf(layer), 0)), ...trainedIn(unit.name)]);
  }
  const head = built.headLayers.map((name) => built.model.getLayer(name));
  rows.push([
    'head',
    built.headLayers.join(', '),
    count(head.reduce((sum, layer) => sum + paramsOf(layer), 0)),
    ...phases.map(() => 'trained'),
  ]);
  const totals = textTable([
    ['trainable units', `${facts.trainableUnits} of ${facts.units}`],
    ['trainable base layers', count(facts.trainableBaseLayers)],
    ['trainable params', count(facts.trainableParams)],
    ['non-trainable params', count(facts.nonTrainableParams)],
    ['trainable variables', count(facts.trainableVariables)],
    ['non-trainable variables', count(facts.nonTrainableVariables)],
  ]);
  return `${textTable(rows, [2])}\n\nafter the last phase (${phases[phases.length - 1]!.name}):\n${totals}\n`;
}
