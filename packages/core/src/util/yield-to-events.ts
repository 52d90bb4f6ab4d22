/**
 * Lets the event loop run (signals, timers, I/O) between batches. A loop whose awaits all resolve
 * at once (in-memory data, cached features) otherwise runs a whole epoch as one task, and Ctrl-C or
 * the heartbeat wait for its end.
 */
export function yieldToEvents(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
