import { PassThrough } from 'node:stream';
import { expect } from 'chai';
import { ConsoleProgress } from '@thaw/cli';
import type { ModelFacts, Phase, TrialInfo } from '@thaw/core';
import { recordingLogger } from '../helpers/fixtures.js';

const facts = {
  layers: 1,
  trainableBaseLayers: 0,
  units: 2,
  trainableUnits: 1,
  trainableParams: 10,
  nonTrainableParams: 0,
  trainableVariables: 1,
  nonTrainableVariables: 0,
} satisfies ModelFacts;
const phase: Phase = { name: 'fine-tune-1', trainableUnits: ['b'], batchNorm: 'inference', epochs: 3, learningRate: 0.01 };
const trial = { runName: 'unfreeze=1', configHash: 'abc', backend: 'wasm' } as unknown as TrialInfo;
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('console progress', () => {
  it('redraws a progress line in place on a terminal during an epoch, then clears it for the epoch line', async () => {
    const stream = Object.assign(new PassThrough(), { isTTY: true }) as unknown as NodeJS.WriteStream & PassThrough;
    let written = '';
    stream.on('data', (chunk: Buffer) => (written += chunk.toString()));
    const log = recordingLogger();
    const progress = new ConsoleProgress(log, stream);
    progress.onTrialBegin(trial);
    progress.onPhaseBegin(phase, facts);
    progress.onEpochBegin(0, phase, { batches: 10, images: 320 });
    progress.onBatchBegin(0, 0);
    await pause(600);
    progress.onBatchBegin(0, 4);
    progress.onBatchBegin(0, 5); // within half a second of the last draw: not drawn again
    progress.onEpochEnd({ epoch: 0, phase: phase.name, loss: 1, accuracy: 0.5, valLoss: 1, valAccuracy: 0.5, seconds: 1 });
    const clear = '\r\u001b[2K';
    expect(written.startsWith(clear) && written.endsWith(clear)).to.equal(true);
    expect(written.slice(clear.length, -clear.length)).to.match(/^ {2}epoch 1\/3 {2}batch 4\/10 {2}\d+ img\/s {2}\d+ s left$/);
    expect(log.lines.at(-1)).to.match(/^ {2}epoch 1\/3 {2}loss 1\.0000/);
  });

  it('writes no control characters where stderr is not a terminal', async () => {
    const stream = Object.assign(new PassThrough(), { isTTY: false }) as unknown as NodeJS.WriteStream & PassThrough;
    let written = '';
    stream.on('data', (chunk: Buffer) => (written += chunk.toString()));
    const progress = new ConsoleProgress(recordingLogger(), stream);
    progress.onTrialBegin(trial);
    progress.onPhaseBegin(phase, facts);
    progress.onEpochBegin(0, phase, { batches: 10, images: 320 });
    await pause(50);
    progress.onBatchBegin(0, 4);
    expect(written).to.equal('');
  });
});
