import type * as tf from '@tensorflow/tfjs';
import type { EpochLogs, TrainConfig } from '@thaw/contracts';

/**
 * Keras' EarlyStopping: stop when the monitored value has not improved for `patience` epochs; with
 * `restoreBestWeights` (the default) end with the best epoch's weights, all of them, as Keras does
 * (BatchNorm statistics included), whether or not training stopped early.
 */
export class EarlyStopping {
  private best = Number.NaN;
  private wait = 0;
  private bestWeights: tf.Tensor[] | undefined;
  private bestEpoch: number | undefined;

  constructor(
    private readonly config: NonNullable<TrainConfig['earlyStopping']>,
    /** Every weight of the model (trainable or not). */
    private readonly variables: readonly tf.Variable[],
  ) {}

  /** The epoch whose weights finish() leaves in the model, given the last epoch trained. */
  keptEpoch(lastEpoch: number): number {
    return this.config.restoreBestWeights && this.bestEpoch !== undefined ? this.bestEpoch : lastEpoch;
  }

  /** Returns true when training should stop after this epoch. */
  update(logs: EpochLogs): boolean {
    const value = this.config.monitor === 'val_loss' ? logs.valLoss : logs.valAccuracy;
    const sign = this.config.monitor === 'val_loss' ? 1 : -1;
    if (Number.isNaN(this.best) || sign * (this.best - value) > this.config.minDelta) {
      this.best = value;
      this.bestEpoch = logs.epoch;
      this.wait = 0;
      if (this.config.restoreBestWeights) {
        this.disposeSnapshot();
        this.bestWeights = this.variables.map((variable) => variable.clone());
      }
      return false;
    }
    this.wait += 1;
    return this.wait >= this.config.patience;
  }

  /** Puts back the best epoch's weights when asked to, and frees the snapshot. */
  finish(): void {
    if (this.bestWeights) this.variables.forEach((variable, index) => variable.assign(this.bestWeights![index]!));
    this.disposeSnapshot();
  }

  /** Frees the snapshot without restoring it (a phase that failed); safe after finish. */
  disposeSnapshot(): void {
    this.bestWeights?.forEach((tensor) => tensor.dispose());
    this.bestWeights = undefined;
  }
}
