import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'chai';
import { MlflowClient } from '@thaw/core';
import { REPO_ROOT, freePort, temporaryFolder, tinySpec, writeSpec } from '../helpers/fixtures.js';
import { thawProcess, until } from '../helpers/processes.js';

describe('thaw ui @slow', function () {
  this.timeout(180_000);
  let dir: string;
  let remove: () => Promise<void>;
  before(async () => ({ dir, remove } = await temporaryFolder()));
  after(() => remove());

  it('says how to install MLflow when neither mlflow nor python3 -m mlflow runs', async () => {
    const empty = join(dir, 'no-bin');
    await mkdir(empty);
    const ui = thawProcess(dir, { PATH: empty }, 'ui');
    expect(await ui.exited, ui.output()).to.equal(2);
    expect(ui.output()).to.match(/thaw: thaw ui needs MLflow, which is not installed here .* install it with `pip install mlflow`/);
  });

  it('starts mlflow server on 127.0.0.1 with a SQLite store, copies the local runs into it, prints the address, and stops it on Ctrl-C', async () => {
    const project = join(dir, 'project');
    const bin = join(dir, 'bin');
    await mkdir(project);
    await mkdir(bin);
    const stub = join(bin, 'mlflow');
    await writeFile(stub, `#!/bin/sh\nexec "${process.execPath}" "${join(REPO_ROOT, 'test/dist/helpers/stand-in-mlflow.js')}" "$@"\n`);
    await chmod(stub, 0o755);
    await writeSpec(project, 'tiny.yaml', tinySpec({ name: 'shown', train: { epochs: 1, batchSize: 16 } }));
    const trained = thawProcess(project, {}, 'run', 'tiny.yaml', '--quiet');
    expect(await trained.exited, trained.output()).to.equal(0);

    const port = await freePort();
    const argsFile = join(dir, 'mlflow-args.json');
    const env = { PATH: `${bin}:${process.env['PATH'] ?? ''}`, STAND_IN_MLFLOW_ARGS: argsFile };
    const ui = thawProcess(project, env, 'ui', '--port', String(port));
    await until(() => ui.output().includes('MLflow UI:') || ui.child.exitCode !== null, 'the address');
    expect(ui.output()).to.contain(`MLflow UI: http://127.0.0.1:${port} (1 of 1 runs of mlruns sent; Ctrl-C stops it)`);
    const args = JSON.parse(await readFile(argsFile, 'utf8')) as string[];
    expect(args.slice(0, 5)).to.deep.equal(['server', '--host', '127.0.0.1', '--port', String(port)]);
    expect(args).to.include.members(['--serve-artifacts', `sqlite:///${join(project, '.thaw/mlflow/mlflow.db')}`]);

    const client = new MlflowClient({ url: `http://127.0.0.1:${port}`, insecureTls: false }, { retries: 0 });
    const experiment = (await client.getExperimentByName('shown'))!;
    const [run] = await client.searchRuns({ experimentIds: [experiment.experiment_id] });
    expect(run!.info.status).to.equal('FINISHED');
    expect(run!.data.params).to.deep.include({ key: 'strategy.unfreeze', value: '1' });

    ui.child.kill('SIGINT');
    expect(await ui.exited, ui.output()).to.equal(0);
    const stopped = await client.getExperimentByName('shown').then(
      () => false,
      () => true,
    );
    expect(stopped, 'the server stopped with thaw ui').to.equal(true);
  });
});
