import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CommandModule } from 'yargs';
import { ThawError, describeValue, displayPath } from '@thaw/core';
import { pluginFiles } from '../scaffold/plugin-template.js';

interface PluginNewArgs {
  name: string;
  dir: string;
}

/** `^x.y.z` of an installed package, for the new plugin's peer dependencies. */
function caret(name: string): string {
  let dir = dirname(fileURLToPath(import.meta.resolve(name)));
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const manifest = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (manifest.name === name && manifest.version) return `^${manifest.version}`;
    }
    if (dirname(dir) === dir) throw new ThawError(`cannot find the version of ${name}`);
    dir = dirname(dir);
  }
}

const newCommand: CommandModule<object, PluginNewArgs> = {
  command: 'new <name>',
  describe: 'scaffold a base-model plugin package: its ContainerModule, a base-model class, a test and a README',
  builder: (yargs) =>
    yargs
      .positional('name', {
        type: 'string',
        demandOption: true,
        describe: 'the plugin id, e.g. tiny-resnet (the package is thaw-plugin-<name>)',
      })
      .option('dir', { type: 'string', default: '.', describe: 'where to create the thaw-plugin-<name> folder' }),
  handler: async (args) => {
    if (!/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/.test(args.name)) {
      throw new ThawError(
        `thaw plugin new: received ${describeValue(args.name)}; expected a lower-case name of letters, digits and dashes, e.g. tiny-resnet`,
      );
    }
    const folder = resolve(args.dir, `thaw-plugin-${args.name}`);
    if (existsSync(folder)) throw new ThawError(`thaw plugin new: ${displayPath(folder)} already exists; expected a new folder`);
    const files = pluginFiles(args.name, {
      thaw: caret('@thaw/contracts'),
      tfjs: caret('@tensorflow/tfjs'),
      inversify: caret('inversify'),
      zod: caret('zod'),
    });
    for (const [path, content] of Object.entries(files)) {
      await mkdir(dirname(join(folder, path)), { recursive: true });
      await writeFile(join(folder, path), content);
    }
    process.stdout.write(
      `created ${displayPath(folder)}:\n${Object.keys(files)
        .map((path) => `  ${path}`)
        .join(
          '\n',
        )}\n\nnext: npx tsc -p ${displayPath(folder)}, then in a spec: plugins: [./thaw-plugin-${args.name}] and model.base.plugin: ${args.name}\n`,
    );
  },
};

/** `thaw plugin …`: tools for plugin authors. */
export const pluginCommand: CommandModule = {
  command: 'plugin <command>',
  describe: 'tools for plugin authors (thaw plugin new <name>)',
  builder: (yargs) => yargs.command(newCommand).demandCommand(1, 'expected a plugin command: new'),
  handler: () => undefined,
};
