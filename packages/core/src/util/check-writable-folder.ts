import { accessSync, constants, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { ThawError } from '@thaw/contracts';

/**
 * Refuses a folder that could not be created or written: a path through a regular file, or an
 * existing folder (or the nearest existing parent) that this process cannot write. Checked
 * before training so that a bad output path never costs a trained model.
 */
export function checkWritableFolder(path: string, where: string): void {
  let current = path;
  for (;;) {
    let stats;
    try {
      stats = statSync(current);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && dirname(current) !== current) {
        current = dirname(current);
        continue;
      }
      if (code === 'ENOTDIR') {
        current = dirname(current);
        continue;
      }
      throw new ThawError(`${where}: cannot use ${path} (${code ?? String(error)}); expected a folder thaw can create`);
    }
    if (!stats.isDirectory()) {
      throw new ThawError(`${where}: ${current} is a file, so ${path} cannot be created; expected a folder or a path to a new one`);
    }
    try {
      accessSync(current, constants.W_OK);
    } catch {
      throw new ThawError(`${where}: ${current} is not writable, so ${path} cannot be ${current === path ? 'written' : 'created'}`);
    }
    return;
  }
}
