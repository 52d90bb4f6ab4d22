import type { CommandModule } from 'yargs';
import { consoleLogger, installNative } from '@thaw/core';

interface InstallArgs {
  tensorflow?: string;
  tensorflowVersion: string;
  pipPackage: string;
  python: string;
}

const installCommand: CommandModule<object, InstallArgs> = {
  command: 'install',
  describe: "build tfjs-node's binding against the libtensorflow of a TensorFlow Python wheel",
  builder: (yargs) =>
    yargs
      .option('tensorflow', { type: 'string', describe: 'a TensorFlow wheel (.whl) or site-packages folder; default: fetch one with pip' })
      .option('tensorflowVersion', { type: 'string', default: '2.21.0', describe: 'version to fetch with pip' })
      .option('pipPackage', { type: 'string', default: 'tensorflow-cpu', describe: 'tensorflow-cpu, or tensorflow (CUDA on Linux)' })
      .option('python', { type: 'string', default: 'python3', describe: 'the Python whose pip fetches the wheel and which unpacks it' }),
  handler: async (args) => {
    const started = performance.now();
    const build = await installNative({
      ...(args.tensorflow === undefined ? {} : { tensorflow: args.tensorflow }),
      tensorflowVersion: args.tensorflowVersion,
      pipPackage: args.pipPackage,
      python: args.python,
      log: consoleLogger,
    });
    process.stdout.write(
      `native backend ready: @tensorflow/tfjs-node ${build.tfjsNodeVersion} on TensorFlow ${build.tensorflowVersion}\n` +
        `  built in ${build.dir} from ${build.source} (${((performance.now() - started) / 1000).toFixed(0)} s)\n` +
        `  thaw now uses it by default (--backend node); \`thaw doctor\` shows the choice\n`,
    );
  },
};

/** `thaw native …`: native TensorFlow for TF.js where the usual tfjs-node download is not possible. */
export const nativeCommand: CommandModule = {
  command: 'native <command>',
  describe: 'native TensorFlow backend: build it from a TensorFlow wheel',
  builder: (yargs) => yargs.command(installCommand).demandCommand(1),
  handler: () => undefined,
};
