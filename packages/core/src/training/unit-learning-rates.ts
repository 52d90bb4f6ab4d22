import type { ModelUnit, Phase } from '@thaw/contracts';

/**
 * The learning rate of the head and of each trainable unit in a phase. With `layerDecay` d the
 * head trains at the phase's rate, the base's top unit at rate × d, the one below at rate × d², …
 * (timm's layer_decay; fastai's discriminative rates); without it, all at the phase's rate.
 */
export function unitLearningRates(units: readonly ModelUnit[], phase: Phase, layerDecay: number | undefined): Map<string, number> {
  const rates = new Map<string, number>([['head', phase.learningRate]]);
  const trainable = new Set(phase.trainableUnits);
  units.forEach((unit, index) => {
    if (!trainable.has(unit.name)) return;
    const below = units.length - index; // 1 for the top unit
    rates.set(unit.name, phase.learningRate * (layerDecay ?? 1) ** below);
  });
  return rates;
}
