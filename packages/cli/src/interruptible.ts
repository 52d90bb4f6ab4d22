import type { Logger } from '@thaw/core';

/** Runs work with an AbortSignal that the first Ctrl-C fires (a second one ends the process as usual). */
export async function interruptible<T>(log: Logger, what: string, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSigint = () => {
    log.warn(`interrupted: stopping after this batch; ${what}`);
    controller.abort();
  };
  process.once('SIGINT', onSigint);
  try {
    return await work(controller.signal);
  } finally {
    process.off('SIGINT', onSigint);
  }
}
