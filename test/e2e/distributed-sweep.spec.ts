import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'chai';
import { FileStoreTracker } from '@thaw/core';
import { freePort, temporaryFolder, tinySpec, writeSpec } from '../helpers/fixtures.js';
import { thawProcess, until } from '../helpers/processes.js';
import { selfSignedCertificate } from '../helpers/self-signed.js';

const hasRedis = spawnSync('redis-server', ['--version']).status === 0;

describe('distributed sweep on Redis @slow', function () {
  this.timeout(240_000);
  let dir = '';
  let remove: () => Promise<void>;
  let redis: ChildProcess | undefined;
  let url = '';
  const password = 'pa55-in-url';

  before(async function () {
    if (!hasRedis) {
      // .ci/run installs Debian's redis-server; elsewhere: apt-get install redis-server.
      this.skip();
    }
    ({ dir, remove } = await temporaryFolder());
    const port = await freePort();
    redis = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--requirepass', password],
      {
        stdio: 'ignore',
      },
    );
    url = `redis://:${password}@127.0.0.1:${port}/0`;
    await new Promise((resolve) => setTimeout(resolve, 300));
  });
  after(async () => {
    redis?.kill('SIGTERM');
    await remove?.();
  });

  it('spreads trials over two workers; one killed mid-trial: its run ends KILLED, the trial is run again, one finished run per trial', async () => {
    const spec = tinySpec({
      name: 'spread',
      data: { plugin: 'fashion-mnist', classes: [0, 1, 2], trainPerClass: 48, validationPerClass: 8, testPerClass: 8 },
      train: { epochs: 6, batchSize: 16, learningRate: 0.01 },
      sweep: { grid: { 'strategy.unfreeze': [0, 1, 'all'], seed: [1, 2] } },
    });
    const file = await writeSpec(dir, 'spread.yaml', spec);
    const env = { THAW_QUEUE_LOCK_MS: '1500' };
    const doomed = thawProcess(dir, env, 'worker', '--queue', url);
    const survivor = thawProcess(dir, env, 'worker', '--queue', url);
    await until(() => doomed.output().includes('worker ready') && survivor.output().includes('worker ready'), 'workers');
    const sweep = thawProcess(dir, {}, 'sweep', file, '--queue', url);
    // Kill the first worker in the middle of its first trial (after its first of 6 epochs), with no chance to clean up.
    await until(() => / epoch 1, val_accuracy/.test(doomed.output()), 'the first worker to finish an epoch');
    doomed.child.kill('SIGKILL');
    expect(doomed.output()).to.not.match(/ finished\n/);
    expect(await sweep.exited, sweep.output()).to.equal(0);
    survivor.child.kill('SIGINT');
    await survivor.exited;

    expect(survivor.output()).to.match(/\(attempt 2\)/);
    expect(survivor.output()).to.match(/run [0-9a-f]{32} of the dead attempt recorded as KILLED/);
    expect(sweep.output()).to.match(/spread: 6 trials run, 0 finished earlier, 0 failed/);
    for (const output of [sweep.output(), survivor.output(), doomed.output()]) expect(output).to.not.include(password);

    const store = new FileStoreTracker(join(dir, 'mlruns'));
    const runs = await store.findRuns('spread', {});
    const parent = runs.find((run) => run.tags['mlflow.parentRunId'] === undefined)!;
    const children = runs.filter((run) => run.tags['mlflow.parentRunId'] === parent.runId);
    const finished = children.filter((run) => run.status === 'FINISHED');
    expect(new Set(finished.map((run) => run.tags['thaw.configHash'])).size).to.equal(6);
    expect(finished).to.have.length(6);
    const killed = children.filter((run) => run.status === 'KILLED');
    expect(killed).to.have.length(1);
    expect(killed[0]!.tags['thaw.error']).to.match(/stopped answering/);
    expect(children.filter((run) => run.status === 'RUNNING')).to.deep.equal([]);
    expect(parent.status).to.equal('FINISHED');
    const artifacts = await readdir(join((await store.runDir('spread', parent.runId))!, 'artifacts'));
    expect(artifacts).to.include.members(['summary.csv', 'summary.md', 'metric-by-depth.svg', 'metric-by-depth.png']);
    const csv = await readFile(join((await store.runDir('spread', parent.runId))!, 'artifacts', 'summary.csv'), 'utf8');
    expect(csv.trim().split('\n')).to.have.length(7);
  });

  it('works over rediss:// (TLS) with a password, never printing it', async function () {
    const certificate = selfSignedCertificate(dir);
    if (!certificate) this.skip();
    const port = await freePort();
    const tlsRedis = spawn(
      'redis-server',
      [
        ...['--port', '0', '--tls-port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
        ...['--tls-cert-file', certificate.certFile, '--tls-key-file', certificate.keyFile, '--tls-ca-cert-file', certificate.certFile],
        ...['--tls-auth-clients', 'no', '--requirepass', 'tls-secret'],
      ],
      { stdio: 'ignore' },
    );
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      const tlsUrl = `rediss://:tls-secret@127.0.0.1:${port}/0`;
      // The self-signed certificate is trusted the Node way.
      const env = { NODE_EXTRA_CA_CERTS: certificate.certFile };
      const file = await writeSpec(
        dir,
        'over-tls.yaml',
        tinySpec({ name: 'over-tls', train: { epochs: 1, batchSize: 16 }, sweep: { grid: { seed: [1, 2] } } }),
      );
      const worker = thawProcess(dir, env, 'worker', '--queue', tlsUrl);
      await until(() => worker.output().includes('worker ready'), 'the worker');
      const sweep = thawProcess(dir, env, 'sweep', file, '--queue', tlsUrl);
      expect(await sweep.exited, sweep.output()).to.equal(0);
      worker.child.kill('SIGINT');
      await worker.exited;
      expect(sweep.output()).to.match(/over-tls: 2 trials run, 0 finished earlier, 0 failed/);
      expect(worker.output()).to.include(`worker ready on rediss://127.0.0.1:${port}/0`);
      for (const output of [sweep.output(), worker.output()]) expect(output).to.not.include('tls-secret');
    } finally {
      tlsRedis.kill('SIGTERM');
    }
  });

  it('reports an unreachable Redis clearly, without its password', async () => {
    const port = await freePort();
    const file = await writeSpec(dir, 'nowhere.yaml', tinySpec({ sweep: { grid: { seed: [1, 2] } } }));
    const sweep = thawProcess(dir, {}, 'sweep', file, '--queue', `redis://:secretpw@127.0.0.1:${port}/0`);
    expect(await sweep.exited).to.equal(2);
    expect(sweep.output()).to.include(`thaw: --queue: cannot reach Redis at redis://127.0.0.1:${port}/0 (ECONNREFUSED)`);
    expect(sweep.output()).to.not.include('secretpw');
  });
});
