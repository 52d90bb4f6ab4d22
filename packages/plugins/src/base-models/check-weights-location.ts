import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { ThawError, type BaseModelContext } from '@thaw/core';

/** A weights file or folder given in a spec must exist (URLs are fetched when the base is built). */
export function checkWeightsLocation(location: string, context: BaseModelContext, option: string): void {
  if (/^https?:\/\//.test(location)) return;
  const path = resolve(context.specDir, location);
  if (!existsSync(path)) {
    throw new ThawError(
      `${context.where}.${option}: received ${JSON.stringify(location)}, but ${path} does not exist; expected a weights file or a TF.js model folder`,
    );
  }
}
