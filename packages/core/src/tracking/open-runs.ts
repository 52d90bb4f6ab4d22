import type { RunStatus, TrackedRun } from '@thaw/contracts';

/**
 * The runs this process has started (or reopened) and not yet ended. Signals are process-wide, so
 * this registry is too: a second Ctrl-C ends these runs KILLED before the process exits, instead of
 * leaving them RUNNING until a later command finds their owner dead.
 */
const open = new Map<string, TrackedRun>();

export const openRuns = {
  add(run: TrackedRun): void {
    open.set(run.runId, run);
  },
  delete(run: TrackedRun): void {
    open.delete(run.runId);
  },
  get size(): number {
    return open.size;
  },
  /**
   * Ends every open run with `status` and `reason` as `thaw.error`, giving up after `timeoutMs`
   * (a server that does not answer must not keep a stopping process alive); returns how many ended.
   */
  async endAll(status: Exclude<RunStatus, 'RUNNING'>, reason: string, timeoutMs = 5000): Promise<number> {
    const runs = [...open.values()];
    open.clear();
    let ended = 0;
    // All at once, status and reason together: each store writes its local copy before it sends
    // anything, so a server that hangs cannot keep the local record RUNNING.
    const work = Promise.all(
      runs.map((run) =>
        Promise.all([run.end(status), run.setTags({ 'thaw.error': reason })]).then(
          () => void ended++,
          () => undefined, // the next sweep, report or sync ends it when it finds the owner gone
        ),
      ),
    );
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([work, new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
    return ended;
  },
};
