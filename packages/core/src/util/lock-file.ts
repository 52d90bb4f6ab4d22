import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes an exclusive lock file, waiting while another live process holds it (a dead holder's lock
 * is taken over). Resolves to its release, or to undefined when `done()` became true while waiting:
 * the other process made what was wanted.
 */
export async function lockFile(
  path: string,
  done: () => boolean,
  waiting: (holder: number) => void,
): Promise<(() => Promise<void>) | undefined> {
  await mkdir(dirname(path), { recursive: true });
  let told = false;
  for (;;) {
    try {
      await writeFile(path, String(process.pid), { flag: 'wx' });
      if (done()) {
        await rm(path, { force: true });
        return undefined;
      }
      return () => rm(path, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = Number(await readFile(path, 'utf8').catch(() => ''));
    if (Number.isInteger(holder) && holder > 0 && !alive(holder)) {
      await rm(path, { force: true });
      continue;
    }
    if (!told) waiting(holder);
    told = true;
    await new Promise((resolve) => setTimeout(resolve, 500));
    if (done() && !existsSync(path)) return undefined;
  }
}
