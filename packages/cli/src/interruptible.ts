import { openRuns, type Logger } from '@thaw/core';

/** Signals that ask thaw to stop: Ctrl-C, `kill`, a closed terminal. */
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Runs work with an AbortSignal that the first Ctrl-C (or SIGTERM, SIGHUP) fires: the trial stops
 * after the current batch and is recorded KILLED. A second one stops at once: the process's open
 * runs are ended KILLED (for at most a few seconds) and it exits with 130. A trial started by a
 * sweep (an IPC channel to it) also stops when that channel closes: its sweep stopped or died.
 */
export async function interruptible<T>(log: Logger, what: string, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let stops = 0;
  const stop = (why: string) => {
    stops++;
    if (stops === 1) {
      log.warn(`interrupted: stopping after this batch (${why}); ${what}; once more to stop at once`);
      controller.abort();
    } else if (stops === 2) {
      const open = openRuns.size;
      log.warn(
        `interrupted again (${why}): stopping now${open > 0 ? `; ${open === 1 ? 'the run is' : `${open} runs are`} recorded as KILLED` : ''}`,
      );
      void openRuns.endAll('KILLED', `interrupted twice (${why}): stopped at once`).finally(() => process.exit(130));
    }
  };
  const onSignal = (signal: NodeJS.Signals) => stop(signal);
  // The same Ctrl-C reaches a sweep and its workers: the channel closing then is not a second one.
  const onDisconnect = () => {
    if (stops === 0) stop('the sweep that started this trial stopped');
  };
  for (const name of STOP_SIGNALS) process.on(name, onSignal);
  if (process.channel) {
    // The channel must not keep this process alive once the work is done.
    process.channel.unref();
    process.once('disconnect', onDisconnect);
  }
  try {
    return await work(controller.signal);
  } finally {
    for (const name of STOP_SIGNALS) process.off(name, onSignal);
    process.off('disconnect', onDisconnect);
  }
}
