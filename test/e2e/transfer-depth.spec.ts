import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'chai';
import { parse, stringify } from 'yaml';
import { FileStoreTracker } from '@thaw/core';
import { REPO_ROOT, temporaryFolder } from '../helpers/fixtures.js';
import { thawProcess } from '../helpers/processes.js';

const SMALL_DATA = { trainPerClass: 16, validationPerClass: 8, testPerClass: 8 };

describe('the transfer-depth experiment (Yosinski et al. 2014) at a small size @slow', function () {
  this.timeout(600_000);
  let dir: string;
  let remove: () => Promise<void>;
  before(async () => ({ dir, remove } = await temporaryFolder()));
  after(() => remove());

  it('trains both bases once, then AnB, AnB+, BnB and BnB+ for every n, and draws accuracy against n', async () => {
    // The bases' own specs, made small: they are not the sweep's, so --set does not reach them.
    for (const name of ['transfer-depth-a.yaml', 'transfer-depth-b.yaml']) {
      const spec = parse(await readFile(join(REPO_ROOT, 'experiments', name), 'utf8')) as Record<string, Record<string, unknown>>;
      spec['data'] = { ...spec['data'], ...SMALL_DATA };
      spec['model'] = { ...spec['model'], base: { plugin: 'small-convnet', filters: [4, 6, 8] } };
      spec['train'] = { ...spec['train'], epochs: 1, batchSize: 16 };
      // Inside this test's folder (the experiment's own ../models would be outside it).
      spec['output'] = { base: `models/${name.replace('.yaml', '')}` };
      await writeFile(join(dir, name), stringify(spec));
    }
    await copyFile(join(REPO_ROOT, 'experiments', 'transfer-depth.yaml'), join(dir, 'transfer-depth.yaml'));
    const sets = [
      ...Object.entries(SMALL_DATA).map(([key, value]) => `data.${key}=${value}`),
      'train.epochs=1',
      'train.batchSize=16',
      'sweep.grid.seed=[1]',
    ];
    const sweep = thawProcess(dir, {}, 'sweep', 'transfer-depth.yaml', ...sets.flatMap((set) => ['--set', set]));
    expect(await sweep.exited, sweep.output()).to.equal(0);
    expect(sweep.output()).to.match(/transfer-depth: 16 trials run, 0 finished earlier, 0 failed/);
    expect(sweep.output().match(/does not exist yet; running transfer-depth-[ab]\.yaml first/g)).to.have.length(2);

    const store = new FileStoreTracker(join(dir, 'mlruns'));
    const trials = (await store.findRuns('transfer-depth', {})).filter((run) => run.tags['mlflow.parentRunId'] !== undefined);
    expect(trials.map((run) => run.status)).to.deep.equal(Array(16).fill('FINISHED'));
    const seen = trials
      .map((run) => `${run.params['model.base.spec']} ${run.params['strategy.fineTune']} ${run.params['strategy.n']}`)
      .sort();
    const expected = ['transfer-depth-a.yaml', 'transfer-depth-b.yaml']
      .flatMap((base) => ['false', 'true'].flatMap((fineTune) => [0, 1, 2, 3].map((n) => `${base} ${fineTune} ${n}`)))
      .sort();
    expect(seen).to.deep.equal(expected);
    // AnB trains the units above n; AnB+ every unit; both draw the units above n afresh.
    const anb2 = trials.find((run) => run.runName === 'spec=transfer-depth-a.yaml fineTune=false n=2 seed=1')!;
    expect(anb2.params).to.include({ 'phase.0.name': 'transfer-2', 'phase.0.units': 'block3' });
    const anb2Plus = trials.find((run) => run.runName === 'spec=transfer-depth-a.yaml fineTune=true n=2 seed=1')!;
    expect(anb2Plus.params).to.include({ 'phase.0.name': 'transfer-2+', 'phase.0.units': 'block1, block2, block3' });

    const [parent] = (await store.findRuns('transfer-depth', {})).filter((run) => run.tags['mlflow.parentRunId'] === undefined);
    const plot = await readFile(join((await store.runDir('transfer-depth', parent!.runId))!, 'artifacts', 'metric-by-depth.svg'), 'utf8');
    expect(plot).to.contain('val_accuracy by units copied (n)');
    for (const line of ['spec=transfer-depth-a.yaml, fineTune=false', 'spec=transfer-depth-b.yaml, fineTune=true'])
      expect(plot).to.contain(line);
  });
});
