/**
 * A stand-in for the `mlflow` command in tests of `thaw ui`: `--version` answers like MLflow,
 * `server --port P …` serves the MLflow test double on 127.0.0.1:P until it is stopped, and writes
 * its arguments to STAND_IN_MLFLOW_ARGS (a file) so the test can check how it was started.
 */
import { writeFileSync } from 'node:fs';
import { MlflowDouble } from './mlflow-double.js';

const args = process.argv.slice(2);
if (args[0] === '--version') {
  process.stdout.write('mlflow, version 3.11.1\n');
  process.exit(0);
}
if (args[0] !== 'server') {
  process.stderr.write(`stand-in mlflow: unsupported ${args.join(' ')}\n`);
  process.exit(2);
}
const file = process.env['STAND_IN_MLFLOW_ARGS'];
if (file) writeFileSync(file, JSON.stringify(args));
const port = Number(args[args.indexOf('--port') + 1]);
const double = new MlflowDouble({ port });
await double.start();
process.stdout.write(`[INFO] Listening at: ${double.url}\n`);
const stop = () => void double.stop().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
