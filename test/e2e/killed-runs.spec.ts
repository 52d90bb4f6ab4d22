import { join } from 'node:path';
import { expect } from 'chai';
import { FileStoreTracker } from '@thaw/core';
import { temporaryFolder, tinySpec, writeSpec } from '../helpers/fixtures.js';
import { thawProcess, until } from '../helpers/processes.js';

/** A beat every 300 ms: a dead owner is found fast. */
const HEARTBEAT = { THAW_HEARTBEAT_MS: '300' };

describe('runs whose process died @slow', function () {
  this.timeout(300_000);
  let dir: string;
  let remove: () => Promise<void>;
  before(async () => ({ dir, remove } = await temporaryFolder()));
  after(() => remove());

  it('kill -9 mid-trial leaves RUNNING runs with a dead owner; the next thaw report ends them KILLED with the reason, and the resumed sweep trains each trial once', async () => {
    await writeSpec(
      dir,
      'killed.yaml',
      tinySpec({ name: 'killed', train: { epochs: 150, batchSize: 16 }, sweep: { grid: { seed: [1, 2] } } }),
    );
    const sweep = thawProcess(dir, HEARTBEAT, 'sweep', 'killed.yaml');
    await until(() => /epoch +2\/150/.test(sweep.output()), 'the first trial’s second epoch');
    sweep.child.kill('SIGKILL');
    await sweep.exited;

    const store = new FileStoreTracker(join(dir, 'mlruns'));
    const left = await store.findRuns('killed', {});
    expect(left.map((run) => run.status).sort()).to.deep.equal(['RUNNING', 'RUNNING']); // the sweep run and its first trial
    expect(left.every((run) => /:\d+$/.test(run.tags['thaw.owner'] ?? ''))).to.equal(true);

    const report = thawProcess(dir, HEARTBEAT, 'report', 'killed.yaml');
    expect(await report.exited, report.output()).to.equal(0);
    expect(report.output()).to.match(/was left RUNNING: its process .* is gone; recorded as KILLED/);
    const ended = await store.findRuns('killed', {});
    expect(ended.map((run) => run.status).sort()).to.deep.equal(['KILLED', 'KILLED']);
    for (const run of ended)
      expect(run.tags['thaw.error']).to.match(/^ended by thaw (report|sweep): its process .*:\d+ is gone while the run was RUNNING$/);

    const resumed = thawProcess(dir, HEARTBEAT, 'sweep', 'killed.yaml');
    expect(await resumed.exited, resumed.output()).to.equal(0);
    expect(resumed.output()).to.match(/killed: 2 trials run, 0 finished earlier, 0 failed/);
    const final = await store.findRuns('killed', {});
    expect(final.filter((run) => run.status === 'RUNNING')).to.deep.equal([]);
    const trials = final.filter((run) => run.tags['mlflow.parentRunId'] !== undefined);
    const finished = trials.filter((run) => run.status === 'FINISHED');
    expect(finished).to.have.length(2);
    expect(new Set(finished.map((run) => run.tags['thaw.configHash'])).size).to.equal(2);
    expect(trials.filter((run) => run.status === 'KILLED')).to.have.length(1);
    expect(final.find((run) => run.tags['mlflow.parentRunId'] === undefined)!.status).to.equal('FINISHED');
  });
});
