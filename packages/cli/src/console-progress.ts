import type { EpochLogs, EpochSize, Logger, ModelFacts, Phase, TrialInfo, TrialObserver } from '@thaw/core';

const percent = (value: number) => `${(100 * value).toFixed(1)}%`;

/** Seconds as `42 s`, `3 min` or `1.5 h`. */
function duration(seconds: number): string {
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/**
 * One line per phase and per epoch, on stderr, so stdout keeps only the result table. During an
 * epoch, a progress line — batches done, images per second, time left — is redrawn in place on a
 * terminal, as Keras' progress bar; elsewhere a plain line every 30 s, so a long epoch never looks hung.
 */
export class ConsoleProgress implements TrialObserver {
  readonly order = 10;
  private epoch: { size: EpochSize; started: number; shown: number; label: string; drawn: boolean } | undefined;
  /** One entry per trial in progress, innermost last (a trial may run the one that makes its base). */
  private readonly trials: { firstEpochOfPhase: number; epochsInPhase: number; epochsDone: number }[] = [];

  constructor(
    private readonly log: Logger,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {}

  onEpochBegin(epoch: number, _phase: Phase, size?: EpochSize): void {
    const current = this.trials[this.trials.length - 1];
    if (!size || !current) return;
    const total = current.epochsInPhase;
    const label = `  epoch ${String(epoch - current.firstEpochOfPhase + 1).padStart(String(total).length)}/${total}`;
    this.epoch = { size, started: performance.now(), shown: performance.now(), label, drawn: false };
  }

  onBatchBegin(_epoch: number, batch: number): void {
    const epoch = this.epoch;
    if (!epoch || batch === 0) return;
    const now = performance.now();
    const tty = this.stream.isTTY === true;
    if (now - epoch.shown < (tty ? 500 : 30_000)) return;
    epoch.shown = now;
    const seconds = (now - epoch.started) / 1000;
    const images = (epoch.size.images * batch) / epoch.size.batches;
    const left = (seconds / batch) * (epoch.size.batches - batch);
    const line = `${epoch.label}  batch ${batch}/${epoch.size.batches}  ${Math.round(images / seconds)} img/s  ${duration(left)} left`;
    if (tty) {
      this.stream.write(`\r\x1b[2K${line}`);
      epoch.drawn = true;
    } else {
      this.log.info(line);
    }
  }

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
    if (this.epoch?.drawn) this.stream.write('\r\x1b[2K');
    this.epoch = undefined;
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
    if (this.epoch?.drawn) this.stream.write('\n');
    this.epoch = undefined;
    this.trials.pop();
  }
}
