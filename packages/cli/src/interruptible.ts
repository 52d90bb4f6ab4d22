import type { Logger } from '@thaw/core';

/** Signals that ask thaw to stop: Ctrl-C, `kill`, a closed terminal. */
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Runs work with an AbortSignal that the first Ctrl-C (or SIGTERM, SIGHUP) fires; the trial stops
 * after the current batch and is recorded KILLED. A second one ends the process as usual.
 */
export async function interruptible<T>(log: Logger, what: string, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    for (const name of STOP_SIGNALS) process.off(name, onSignal);
    log.warn(`interrupted: stopping after this batch (${signal}); ${what}`);
    controller.abort();
  };
  for (const name of STOP_SIGNALS) process.once(name, onSignal);
  try {
    return await work(controller.signal);
  } finally {
    for (const name of STOP_SIGNALS) process.off(name, onSignal);
  }
}
