import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ContainerModule } from 'inversify';
import { ThawError, messageOf } from '@thaw/contracts';
import type { PluginSource } from './plugin-registry.js';

export interface ResolvedPluginModule {
  readonly module: ContainerModule;
  readonly source: PluginSource;
}

function isContainerModule(value: unknown): value is ContainerModule {
  return typeof value === 'object' && value !== null && typeof (value as { load?: unknown }).load === 'function' && 'id' in value;
}

/**
 * Imports a plugin named in a spec. A path (`./x.js`, a package folder `./thaw-plugin-x`) resolves against the spec's
 * folder; a name `x` tries `x`, `@thaw/plugin-x`, then `thaw-plugin-x`, resolved from the spec's
 * folder. The module's default export must be an inversify ContainerModule.
 */
export async function importPluginModule(name: string, specDir: string, where: string): Promise<ResolvedPluginModule> {
  const isPath = name.startsWith('.') || isAbsolute(name);
  let url: string;
  let source: PluginSource;
  if (isPath) {
    const file = resolve(specDir, name);
    if (!existsSync(file)) {
      throw new ThawError(
        `${where}: plugin file ${JSON.stringify(name)} not found at ${file}; expected a JavaScript module path relative to the spec`,
      );
    }
    // A plugin package's folder resolves to its package.json main.
    const entry = statSync(file).isDirectory() ? createRequire(join(file, 'noop.js')).resolve(file) : file;
    url = pathToFileURL(entry).href;
    source = { kind: 'file', name: file };
  } else {
    const require = createRequire(join(specDir, 'noop.js'));
    const candidates = name.startsWith('@') || name.includes('/') ? [name] : [name, `@thaw/plugin-${name}`, `thaw-plugin-${name}`];
    const found = candidates
      .map((candidate) => {
        try {
          return { candidate, path: require.resolve(candidate) };
        } catch {
          return undefined;
        }
      })
      .find((entry) => entry !== undefined);
    if (!found) {
      throw new ThawError(
        `${where}: plugin package ${JSON.stringify(name)} not found (tried ${candidates.join(', ')} from ${specDir}); expected an installed npm package or a path starting with ./`,
      );
    }
    url = pathToFileURL(found.path).href;
    source = { kind: 'package', name: found.candidate };
  }
  let imported: { default?: unknown };
  try {
    imported = (await import(url)) as { default?: unknown };
  } catch (error) {
    throw new ThawError(`${where}: cannot import plugin ${JSON.stringify(name)}: ${messageOf(error)}`);
  }
  if (!isContainerModule(imported.default)) {
    throw new ThawError(`${where}: plugin ${JSON.stringify(name)} has no usable default export; expected an inversify ContainerModule`);
  }
  return { module: imported.default, source };
}
