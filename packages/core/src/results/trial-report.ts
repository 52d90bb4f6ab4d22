import { confusionMatrixSvg, integerTicks, lineChartSvg, stackSvgs } from './charts.js';
import type { EpochLogs, Evaluation, TrialResult } from '@thaw/contracts';

const percent = (value: number) => `${(100 * value).toFixed(1)}%`;
const count = (value: number) => value.toLocaleString('en-US');

/** A plain-text table with aligned columns. */
export function textTable(rows: readonly (readonly string[])[], rightAligned: readonly number[] = []): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length)));
  return rows
    .map((row) =>
      row
        .map((cell, column) => (rightAligned.includes(column) ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** What `thaw run` prints at the end of a trial. */
export function resultTable(result: TrialResult): string {
  const { evaluation, facts, train } = result;
  const summary = textTable([
    ['trial', result.trial.runName],
    [`${evaluation.split} loss`, evaluation.loss.toFixed(4)],
    [`${evaluation.split} accuracy`, percent(evaluation.accuracy)],
    ['epochs', `${train.epochs.length}${train.stoppedEarly.length > 0 ? ` (stopped early in ${train.stoppedEarly.join(', ')})` : ''}`],
    ['trainable units', `${facts.trainableUnits} of ${facts.units}`],
    ['trainable params', count(facts.trainableParams)],
    ['non-trainable params', count(facts.nonTrainableParams)],
    ['trainable variables', count(facts.trainableVariables)],
    ['non-trainable variables', count(facts.nonTrainableVariables)],
    ['backend', result.trial.backend],
    ['training speed', `${train.imagesPerSecond.toFixed(0)} images/s`],
    ['wall time', `${result.seconds.toFixed(1)} s`],
    ['data', result.dataSource],
  ]);
  const perClass = textTable(
    [
      ['class', 'accuracy (recall)', 'precision', 'images'],
      ...evaluation.perClass.map((m) => [m.className, percent(m.recall), percent(m.precision), String(m.support)]),
    ],
    [1, 2, 3],
  );
  return `${summary}\n\n${perClass}\n`;
}

/** The run's Markdown note (MLflow shows it as the run's description). */
export function trialNote(result: TrialResult): string {
  const { evaluation, facts } = result;
  return [
    `**${result.trial.runName}** — ${evaluation.split} accuracy **${percent(evaluation.accuracy)}**, loss ${evaluation.loss.toFixed(4)}`,
    '',
    `${facts.trainableUnits} of ${facts.units} base units trainable; ${count(facts.trainableParams)} trainable and ${count(facts.nonTrainableParams)} non-trainable params.`,
    `Backend ${result.trial.backend}, ${result.train.epochs.length} epochs, ${result.seconds.toFixed(1)} s. Config hash \`${result.trial.configHash}\`.`,
  ].join('\n');
}

export function learningCurvesCsv(epochs: readonly EpochLogs[]): string {
  const rows = epochs.map((e) => [e.epoch, e.phase, e.loss, e.accuracy, e.valLoss, e.valAccuracy, e.seconds.toFixed(3)].join(','));
  return ['epoch,phase,loss,accuracy,val_loss,val_accuracy,seconds', ...rows].join('\n') + '\n';
}

/** Loss and accuracy per epoch, training and validation, with where each phase begins. */
export function learningCurvesSvg(title: string, epochs: readonly EpochLogs[]): string {
  // Epochs counted from 1, as the console counts them, with whole ticks.
  const markers = epochs.filter((e, i) => i === 0 || epochs[i - 1]!.phase !== e.phase).map((e) => ({ x: e.epoch + 1, label: e.phase }));
  const xTicks = integerTicks(1, Math.max(1, epochs.length));
  const chart = (what: string, train: (e: EpochLogs) => number, validation: (e: EpochLogs) => number) =>
    lineChartSvg({
      title: `${title}: ${what}`,
      xLabel: 'epoch',
      yLabel: what,
      markers: markers.length > 1 ? markers : [],
      xTicks,
      series: [
        { name: `train ${what}`, points: epochs.map((e) => ({ x: e.epoch + 1, y: train(e) })) },
        { name: `val ${what}`, points: epochs.map((e) => ({ x: e.epoch + 1, y: validation(e) })), dashed: true },
      ],
    });
  return stackSvgs([
    chart(
      'loss',
      (e) => e.loss,
      (e) => e.valLoss,
    ),
    chart(
      'accuracy',
      (e) => e.accuracy,
      (e) => e.valAccuracy,
    ),
  ]);
}

export function confusionMatrixPictureSvg(title: string, evaluation: Evaluation): string {
  return confusionMatrixSvg(
    `${title}: confusion matrix (${evaluation.split})`,
    evaluation.perClass.map((m) => m.className),
    evaluation.confusionMatrix,
  );
}

export function confusionCsv(evaluation: Evaluation): string {
  const names = evaluation.perClass.map((m) => m.className);
  const rows = evaluation.confusionMatrix.map((row, index) => [names[index], ...row].join(','));
  return [['true \\ predicted', ...names].join(','), ...rows].join('\n') + '\n';
}
