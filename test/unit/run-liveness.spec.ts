import { hostname } from 'node:os';
import { expect } from 'chai';
import { deadOwner, type RunRecord } from '@thaw/core';

const run = (tags: Record<string, string>, status: RunRecord['status'] = 'RUNNING'): RunRecord => ({
  runId: 'r',
  runName: 'r',
  status,
  startTime: 0,
  tags,
  params: {},
  metrics: {},
});

describe('run liveness', () => {
  const now = 1_000_000;
  const every = 1000;
  it('tells a live owner from a dead one: by its process on this host, by its heartbeat elsewhere', () => {
    const here = (pid: number, beat = now) => run({ 'thaw.owner': `${hostname()}:${pid}`, 'thaw.heartbeat': String(beat) });
    expect(deadOwner(here(process.pid), now, every)).to.equal(undefined);
    expect(deadOwner(here(2 ** 22 + 7), now, every)).to.match(/its process .*:4194311 is gone/);
    expect(deadOwner(here(process.pid, now - 10 * every), now, every)).to.match(/the pid now belongs to another process/);
    const elsewhere = (beat: number) => run({ 'thaw.owner': 'far-away-host:42', 'thaw.heartbeat': String(beat) });
    expect(deadOwner(elsewhere(now - 2 * every), now, every)).to.equal(undefined);
    expect(deadOwner(elsewhere(now - 4 * every), now, every)).to.equal('its process far-away-host:42 gave 4 s without a heartbeat');
    expect(deadOwner(run({}), now, every)).to.equal(undefined);
    expect(deadOwner(here(2 ** 22 + 7), now, every) && deadOwner({ ...here(2 ** 22 + 7), status: 'FINISHED' }, now, every)).to.equal(
      undefined,
    );
  });
});
