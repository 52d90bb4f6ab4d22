import type { EpochLogs, Logger, ModelFacts, Phase, TrialInfo, TrialObserver } from '@thaw/core';

const percent = (value: number) => `${(100 * value).toFixed(1)}%`;

/** One line per phase and per epoch, on stderr, so stdout keeps only the result table. */
export class ConsoleProgress implements TrialObserver {
  readonly order = 10;
  private epochsInPhase = 0;
  private phaseFirstEpoch = 0;
  private seen = 0;

  constructor(private readonly log: Logger) {}

  onTrialBegin(trial: TrialInfo): void {
    this.seen = 0;
    this.log.info(`trial ${trial.runName} (config ${trial.configHash}) on backend ${trial.backend}`);
  }

  onPhaseBegin(phase: Phase, facts: ModelFacts): void {
    this.epochsInPhase = phase.epochs;
    this.phaseFirstEpoch = this.seen;
    this.log.info(
      `phase ${phase.name}: ${facts.trainableUnits}/${facts.units} units trainable, ` +
        `${facts.trainableParams.toLocaleString('en-US')} trainable params, learning rate ${phase.learningRate}`,
    );
  }

  onEpochEnd(logs: EpochLogs): void {
    this.seen = logs.epoch + 1;
    const n = logs.epoch - this.phaseFirstEpoch + 1;
    this.log.info(
      `  epoch ${String(n).padStart(String(this.epochsInPhase).length)}/${this.epochsInPhase}  ` +
        `loss ${logs.loss.toFixed(4)}  acc ${percent(logs.accuracy)}  val_loss ${logs.valLoss.toFixed(4)}  val_acc ${percent(logs.valAccuracy)}  (${logs.seconds.toFixed(1)} s)`,
    );
  }
}
