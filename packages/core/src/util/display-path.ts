import { isAbsolute, relative } from 'node:path';

/** A path as a user would type it: relative to the working folder when that is shorter. */
export function displayPath(path: string): string {
  if (!isAbsolute(path)) return path;
  const fromCwd = relative(process.cwd(), path);
  return fromCwd !== '' && !fromCwd.startsWith('..') ? fromCwd : path;
}
