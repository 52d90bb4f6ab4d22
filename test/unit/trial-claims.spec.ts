import { hostname } from 'node:os';
import { expect } from 'chai';
import { TrialClaimed, claimHolder, type RunRecord } from '@thaw/core';

const now = Date.now();
const live = `${hostname()}:${process.pid}`;
const dead = `${hostname()}:${2 ** 22 + 7}`;

function run(runId: string, startTime: number, status: RunRecord['status'] = 'RUNNING', owner = live): RunRecord {
  return {
    runId,
    runName: runId,
    status,
    startTime,
    tags: { 'thaw.owner': owner, 'thaw.heartbeat': String(now) },
    params: {},
    metrics: {},
  };
}

describe('trial claims', () => {
  it('gives a trial to the first live run started, ties by run id, so every process that reads the runs agrees', () => {
    const runs = [run('b', 2), run('a', 2), run('c', 1, 'RUNNING', dead), run('d', 3)];
    for (const mine of ['a', 'b', 'd', undefined]) {
      const holder = claimHolder(runs, mine, now);
      expect(holder?.runId, `as ${mine}`).to.equal(mine === 'a' ? undefined : 'a');
    }
  });

  it('a finished run holds its trial for good; failed, killed and dead-owned runs hold nothing', () => {
    expect(claimHolder([run('x', 1, 'FAILED'), run('y', 2, 'KILLED'), run('z', 0, 'RUNNING', dead)], 'me', now)).to.equal(undefined);
    expect(claimHolder([run('x', 1, 'FAILED'), run('y', 2, 'KILLED')], undefined, now)).to.equal(undefined);
    expect(claimHolder([run('me', 1), run('done', 5, 'FINISHED')], 'me', now)?.runId).to.equal('done');
  });

  it('says who holds the trial', () => {
    expect(TrialClaimed.by(run('r1', 1), 'seed=2').message).to.equal(`seed=2: being trained by run r1 (${live})`);
    expect(TrialClaimed.by(run('r2', 1, 'FINISHED'), 'seed=2').message).to.match(/^seed=2: already trained by run r2/);
  });
});
