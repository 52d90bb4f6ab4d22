import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CommandModule } from 'yargs';
import { ThawError, describeValue, displayPath } from '@thaw/core';
import { pluginFiles } from '../scaffold/plugin-template.js';

interface PluginNewArgs {
  name: string;
  dir: string;
  contracts?: string;
}

/** The folder and version of a package as this thaw resolves it. */
function installed(name: string): { dir: string; version: string } {
  let dir = dirname(fileURLToPath(import.meta.resolve(name)));
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const manifest = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (manifest.name === name && manifest.version) return { dir, version: manifest.version };
    }
    if (dirname(dir) === dir) throw new ThawError(`cannot find the installed package ${name}`);
    dir = dirname(dir);
  }
}

/**
 * The packages a plugin shares with thaw, linked (`file:`) to the very copies this thaw uses: a
 * second TF.js or inversify would be a second engine and a second container. Nothing is fetched
 * for them, so the plugin installs where thaw is not published.
 */
function sharedPackages(folder: string, contracts: string | undefined): Record<string, { link: string; range: string }> {
  const link = (path: string) => `file:${relative(folder, path).split('\\').join('/') || '.'}`;
  const shared: Record<string, { link: string; range: string }> = {};
  for (const name of ['@thaw/contracts', '@tensorflow/tfjs', 'inversify', 'zod']) {
    const { dir, version } = installed(name);
    shared[name] = { link: link(dir), range: `^${version}` };
  }
  if (contracts !== undefined) {
    const given = resolve(contracts);
    if (!existsSync(given)) {
      throw new ThawError(
        `--contracts: received ${describeValue(contracts)}, but ${given} does not exist; expected a @thaw/contracts folder or .tgz`,
      );
    }
    shared['@thaw/contracts'] = { link: link(given), range: shared['@thaw/contracts']!.range };
  }
  return shared;
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
      .option('dir', { type: 'string', default: '.', describe: 'where to create the thaw-plugin-<name> folder' })
      .option('contracts', {
        type: 'string',
        describe: 'a @thaw/contracts folder or .tgz to build against (default: the one this thaw uses)',
      }),
  handler: async (args) => {
    if (!/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/.test(args.name)) {
      throw new ThawError(
        `thaw plugin new: received ${describeValue(args.name)}; expected a lower-case name of letters, digits and dashes, e.g. tiny-resnet`,
      );
    }
    const folder = resolve(args.dir, `thaw-plugin-${args.name}`);
    if (existsSync(folder)) throw new ThawError(`thaw plugin new: ${displayPath(folder)} already exists; expected a new folder`);
    const files = pluginFiles(args.name, sharedPackages(folder, args.contracts));
    for (const [path, content] of Object.entries(files)) {
      await mkdir(dirname(join(folder, path)), { recursive: true });
      await writeFile(join(folder, path), content);
    }
    process.stdout.write(
      `created ${displayPath(folder)}:\n${Object.keys(files)
        .map((path) => `  ${path}`)
        .join(
          '\n',
        )}\n\nnext:\n  cd ${displayPath(folder)} && npm install && npm test\n  then in a spec beside it: plugins: [./thaw-plugin-${args.name}] and model: { base: { plugin: ${args.name} } }\n`,
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
