import { join } from 'node:path';
import { expect } from 'chai';
import { main } from '@thaw/cli';
import { FileStoreTracker } from '@thaw/core';
import { REPO_ROOT, temporaryFolder } from '../helpers/fixtures.js';

/** Runs the CLI in this process; returns its exit code and what it printed. */
async function thaw(...argv: string[]): Promise<{ code: number; output: string }> {
  let output = '';
  const [out, err] = [process.stdout.write.bind(process.stdout), process.stderr.write.bind(process.stderr)];
  const capture = ((chunk: string | Uint8Array) => ((output += String(chunk)), true)) as typeof process.stdout.write;
  process.stdout.write = capture;
  process.stderr.write = capture;
  try {
    return { code: await main(argv), output };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
}

describe('the Keras tutorial as a thaw experiment @slow', function () {
  let dir: string;
  let remove: () => Promise<void>;
  before(async () => ({ dir, remove } = await temporaryFolder()));
  after(() => remove());

  it('runs experiments/tutorial-mobilenet-v2.yaml on an exported image folder with the Keras fixture weights: head first (Adam), then fine-tuning (RMSprop)', async () => {
    const images = join(dir, 'images');
    const exported = await thaw(
      'data',
      'export',
      'fashion-mnist',
      '--to',
      images,
      '--classes',
      '0,1',
      '--trainPerClass',
      '24',
      '--validationPerClass',
      '10',
      '--testPerClass',
      '4',
    );
    expect(exported.code, exported.output).to.equal(0);
    const store = join(dir, 'mlruns');
    const sets = [
      `data.splits={train: ${join(images, 'train')}, validation: ${join(images, 'validation')}}`,
      'data.imageSize=96',
      'model.base.alpha=0.35',
      'model.base.size=96',
      `model.base.weights=${join(REPO_ROOT, 'test/fixtures/keras/mobilenet_v2_0.35_96_no_top.h5')}`,
      'train.epochs=1',
      'train.batchSize=16',
      'strategy.headFirst.epochs=1',
      'sweep.grid={strategy.unfreeze: [0, {fineTuneAt: 100}]}',
      `tracking.store=${store}`,
    ];
    const spec = join(REPO_ROOT, 'experiments/tutorial-mobilenet-v2.yaml');
    const sweep = await thaw('sweep', spec, ...sets.flatMap((set) => ['--set', set]));
    expect(sweep.code, sweep.output).to.equal(0);
    expect(sweep.output).to.match(/tutorial-mobilenet-v2: 2 trials run, 0 finished earlier, 0 failed/);

    const runs = await new FileStoreTracker(store).findRuns('tutorial-mobilenet-v2', {});
    const trials = runs.filter((run) => run.tags['mlflow.parentRunId'] !== undefined);
    expect(trials.map((run) => run.status)).to.deep.equal(['FINISHED', 'FINISHED']);
    const fineTuned = trials.find((run) => run.params['phase.1.name'] !== undefined)!;
    expect(fineTuned.params).to.include({
      'phase.0.name': 'head',
      'phase.0.optimizer': 'adam',
      'phase.0.learningRate': '0.0001',
      'phase.1.name': 'fine-tune-at-100',
      'phase.1.optimizer': 'rmsprop',
      'phase.1.learningRate': '0.00001',
      'phase.1.batchNorm': 'inference',
      'model.head.units': '1',
    });
    expect(fineTuned.params['phase.1.trainableBaseLayers']).to.equal('54');
    expect(fineTuned.metrics['val_loss']).to.have.length(2);
    expect(fineTuned.metrics['test_accuracy']![0]).to.be.within(0, 1);
  });
});
