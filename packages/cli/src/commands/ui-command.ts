import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { CommandModule } from 'yargs';
import { FileStoreTracker, MlflowClient, ThawError, consoleLogger, importStore, messageOf } from '@thaw/core';

interface UiArgs {
  port: number;
  store: string;
  dir: string;
}

/** How to start MLflow here: `mlflow`, else `python3 -m mlflow`; undefined when neither answers. */
function findMlflow(): { command: string; prefix: string[] } | undefined {
  for (const candidate of [
    { command: 'mlflow', prefix: [] },
    { command: 'python3', prefix: ['-m', 'mlflow'] },
  ]) {
    const probe = spawnSync(candidate.command, [...candidate.prefix, '--version'], { encoding: 'utf8', timeout: 60_000 });
    if (probe.status === 0) return candidate;
  }
  return undefined;
}

/** Waits until the server answers, or its process ends (then says why, with the end of its output). */
async function waitForServer(client: MlflowClient, server: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (server.exitCode !== null || server.signalCode !== null) {
      throw new ThawError(`mlflow server stopped (${server.exitCode ?? server.signalCode}) before it answered:\n${output().slice(-2000)}`);
    }
    try {
      await client.getExperimentByName('Default');
      return;
    } catch {
      if (Date.now() > deadline)
        throw new ThawError(`mlflow server did not answer on ${client.url} within 2 minutes:\n${output().slice(-2000)}`);
      await new Promise((done) => setTimeout(done, 500));
    }
  }
}

/**
 * `thaw ui`: MLflow's UI over the local store. Starts `mlflow server` on 127.0.0.1 with a SQLite
 * store and served artifacts in the project (`.thaw/mlflow`), sends the local store's runs into it
 * with thaw's sync (only what it lacks), prints the address, and stops the server on Ctrl-C.
 */
export const uiCommand: CommandModule<object, UiArgs> = {
  command: 'ui',
  describe: "look at the local store's runs in the MLflow UI (starts mlflow server on 127.0.0.1, copies the runs in)",
  builder: (yargs) =>
    yargs
      .option('port', { type: 'number', default: 5000, describe: 'port on 127.0.0.1' })
      .option('store', { type: 'string', default: 'mlruns', describe: 'the local store to show' })
      .option('dir', { type: 'string', default: '.thaw/mlflow', describe: 'where the server keeps its SQLite database and artifacts' }),
  handler: async (args) => {
    if (!Number.isInteger(args.port) || args.port < 1 || args.port > 65535)
      throw new ThawError(`--port: received ${args.port}; expected a port number 1–65535`);
    const mlflow = findMlflow();
    if (!mlflow) {
      throw new ThawError(
        'thaw ui needs MLflow, which is not installed here (neither `mlflow` nor `python3 -m mlflow` runs): ' +
          'install it with `pip install mlflow` (Python ≥ 3.10; or `pipx install mlflow`), then run thaw ui again. ' +
          `Without it, runs stay readable in ${args.store} (MLflow's file-store layout).`,
      );
    }
    const dir = resolve(args.dir);
    mkdirSync(resolve(dir, 'artifacts'), { recursive: true });
    const url = `http://127.0.0.1:${args.port}`;
    const serverArgs = [
      ...mlflow.prefix,
      'server',
      '--host',
      '127.0.0.1',
      '--port',
      String(args.port),
      '--backend-store-uri',
      `sqlite:///${resolve(dir, 'mlflow.db')}`,
      '--artifacts-destination',
      resolve(dir, 'artifacts'),
      '--serve-artifacts',
    ];
    consoleLogger.info(`starting ${mlflow.command} ${serverArgs.join(' ')}`);
    const server = spawn(mlflow.command, serverArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    server.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    server.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const stopServer = () => {
      if (server.exitCode === null && server.signalCode === null) server.kill('SIGTERM');
    };
    process.once('exit', stopServer);
    try {
      const client = new MlflowClient({ url, insecureTls: false }, { retries: 2, backoffMs: 200 });
      await waitForServer(client, server, () => output);
      const reports = await importStore(client, new FileStoreTracker(resolve(args.store)), resolve(dir, 'thaw-ui-runs.json'));
      const sent = reports.filter((r) => r.createdRun || r.params + r.tags + r.metricPoints + r.artifacts > 0).length;
      process.stdout.write(`MLflow UI: ${url} (${sent} of ${reports.length} runs of ${args.store} sent; Ctrl-C stops it)\n`);
    } catch (error) {
      stopServer();
      throw error instanceof ThawError ? error : new ThawError(`thaw ui: ${messageOf(error)}`);
    }
    await new Promise<void>((done) => {
      const stop = () => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        stopServer();
        done();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      server.once('exit', stop);
    });
  },
};
