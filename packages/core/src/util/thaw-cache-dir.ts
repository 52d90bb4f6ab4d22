import { homedir } from 'node:os';
import { join } from 'node:path';

/** thaw's cache: $THAW_CACHE_DIR, else $XDG_CACHE_HOME/thaw, else ~/.cache/thaw. */
export function thawCacheDir(): string {
  return process.env['THAW_CACHE_DIR'] ?? join(process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'thaw');
}
