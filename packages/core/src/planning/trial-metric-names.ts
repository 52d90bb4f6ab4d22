import type { ExperimentSpec } from '@thaw/contracts';

/** The metrics every trial logs (per epoch, then once at the end), by the names a sweep may rank by. */
export function trialMetricNames(spec: Pick<ExperimentSpec, 'evaluate'>): string[] {
  const split = spec.evaluate.split;
  return [
    'val_accuracy',
    'val_loss',
    'accuracy',
    'loss',
    'kept_val_accuracy',
    'kept_val_loss',
    'kept_accuracy',
    'kept_loss',
    `${split}_accuracy`,
    `${split}_loss`,
    'epoch_seconds',
    'train_images_per_second',
    'trial_seconds',
  ];
}
