import { hostname } from 'node:os';
import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from '@thaw/contracts';
import { queueLockMs, TRIAL_QUEUE, type TrialJob, type TrialProgress } from './trial-queue.js';

export interface TrialJobContext {
  /** 1 for the first start; more when an earlier worker died in the middle of this trial. */
  readonly attempt: number;
  /** This worker's name (host:pid), for progress and tags. */
  readonly worker: string;
  progress(progress: Omit<TrialProgress, 'worker'>): Promise<void>;
}

/**
 * Takes trials from the queue one at a time and runs them with `handle`. A worker that dies keeps
 * its job locked only for THAW_QUEUE_LOCK_MS; BullMQ's stalled-job check then gives the trial to
 * another worker.
 */
export class TrialWorker {
  private constructor(private readonly worker: Worker<TrialJob>) {}

  static start(connection: Redis, handle: (job: TrialJob, context: TrialJobContext) => Promise<void>, logger: Logger): TrialWorker {
    const name = `${hostname()}:${process.pid}`;
    const lockDuration = queueLockMs();
    const worker = new Worker<TrialJob>(
      TRIAL_QUEUE,
      async (job) => {
        logger.info(`${name}: ${job.data.runName} (attempt ${job.attemptsStarted})`);
        await handle(job.data, {
          attempt: job.attemptsStarted,
          worker: name,
          progress: (progress) => job.updateProgress({ ...progress, worker: name }),
        });
      },
      { connection, concurrency: 1, lockDuration, stalledInterval: lockDuration, maxStalledCount: 2 },
    );
    worker.on('failed', (job, error) => logger.warn(`${name}: ${job?.data.runName ?? 'a trial'} failed: ${error.message}`));
    worker.on('completed', (job) => logger.info(`${name}: ${job.data.runName} finished`));
    worker.on('error', (error) => logger.warn(`${name}: ${error.message}`));
    return new TrialWorker(worker);
  }

  async waitUntilReady(): Promise<void> {
    await this.worker.waitUntilReady();
  }

  /** Stops taking trials; resolves when the current one (if any) has ended. */
  async close(): Promise<void> {
    await this.worker.close();
  }
}
