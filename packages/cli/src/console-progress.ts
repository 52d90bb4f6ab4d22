import type { EpochLogs, Logger, ModelFacts, Phase, TrialInfo, TrialObserver } from '@thaw/core';

const percent = (value: number) => `${(100 * value).toFixed(1)}%`;

/** One line per phase and per epoch, on stderr, so stdout keeps only the result table. */
export class ConsoleProgress implements TrialObserver {
  readonly order = 10;
  /** One entry per trial in progress, innermost last (a trial may run the one that makes its base). */
  private readonly trials: { firstEpochOfPhase: number; epochsInPhase: number; epochsDone: number }[] = [];

  constructor(private readonly log: Logger) {}

  onTrialBegin(trial: TrialInfo): void {
    this.trials.push({ firstEpochOfPhase: 0, epochsInPhase: 0, epochsDone: 0 });
    this.log.info(`trial ${trial.runName} (config ${trial.configHash}) on backend ${trial.backend}`);
  }

  onPhaseBegin(phase: Phase, facts: ModelFacts): void {
    const current = this.trials[this.trials.length - 1];
    if (current) {
      current.epochsInPhase = phase.epochs;
      current.firstEpochOfPhase = current.epochsDone;
    }
    this.log.info(
      `phase ${phase.name}: ${facts.trainableUnits}/${facts.units} units trainable, ` +
        `${facts.trainableParams.toLocaleString('en-US')} trainable params, learning rate ${phase.learningRate}`,
    );
  }

  onEpochEnd(logs: EpochLogs): void {
    const current = this.trials[this.trials.length - 1];
    if (!current) return;
    current.epochsDone = logs.epoch + 1;
    const total = current.epochsInPhase;
    const n = logs.epoch - current.firstEpochOfPhase + 1;
    this.log.info(
      `  epoch ${String(n).padStart(String(total).length)}/${total}  ` +
        `loss ${logs.loss.toFixed(4)}  acc ${percent(logs.accuracy)}  val_loss ${logs.valLoss.toFixed(4)}  val_acc ${percent(logs.valAccuracy)}  (${logs.seconds.toFixed(1)} s)`,
    );
  }

  onTrialEnd(): void {
    this.trials.pop();
  }

  onTrialError(): void {
    this.trials.pop();
  }
}
