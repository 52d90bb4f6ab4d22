import { Queue, QueueEvents, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { ThawError, type Logger } from '@thaw/contracts';
import { TrialInterrupted } from '../pipeline/trial-pipeline.js';
import type { TrialExecutor } from '../sweep/sweep-runner.js';
import type { SweepTrial } from '../sweep/sweep-plan.js';
import type { PruneContext } from '../sweep/trial-pruner.js';

/** The BullMQ queue that sweeps put trials on and `thaw worker` takes them from. */
export const TRIAL_QUEUE = 'thaw-trials';

/** What a worker needs to run a trial: the spec (a path both machines resolve) and the values that make the trial. */
export interface TrialJob {
  /** The spec file as the submitter named it (relative to its working folder), and absolutely. */
  readonly spec: string;
  readonly specAbsolute: string;
  /** --set values, the sweep's and the trial's. */
  readonly sets: readonly string[];
  readonly runName: string;
  readonly parentRunId: string;
  readonly experimentName: string;
  readonly configHash: string;
  /** The sweep's pruning, when it has one. */
  readonly prune?: Pick<PruneContext, 'prune' | 'metric'>;
}

/** What a worker reports while it trains. */
export interface TrialProgress {
  readonly worker: string;
  readonly epoch: number;
  readonly valAccuracy?: number;
}

/** Lock time of a job (THAW_QUEUE_LOCK_MS, default 30 s): a worker silent for this long is taken for dead and its trial given to another. */
export function queueLockMs(env: NodeJS.ProcessEnv = process.env): number {
  const text = env['THAW_QUEUE_LOCK_MS'];
  const value = text === undefined || text === '' ? 30_000 : Number(text);
  if (!Number.isInteger(value) || value < 500)
    throw new ThawError(`THAW_QUEUE_LOCK_MS: received ${JSON.stringify(text)}; expected milliseconds ≥ 500`);
  return value;
}

/**
 * Puts a sweep's trials on the queue and waits for workers to finish them. A job's id is the
 * trial's config hash, so a trial is never queued twice: one already waiting or running is
 * waited for, one that ended earlier is replaced (the sweep skips trials that finished).
 */
export class TrialQueue {
  private constructor(
    private readonly queue: Queue<TrialJob>,
    private readonly events: QueueEvents,
    private readonly logger: Logger,
  ) {}

  static async open(connection: Redis, logger: Logger): Promise<TrialQueue> {
    const queue = new Queue<TrialJob>(TRIAL_QUEUE, { connection });
    const events = new QueueEvents(TRIAL_QUEUE, { connection: connection.duplicate() });
    await events.waitUntilReady();
    const queued = new TrialQueue(queue, events, logger);
    events.on('progress', ({ jobId, data }) => queued.onProgress(jobId, data as unknown as TrialProgress));
    return queued;
  }

  private readonly names = new Map<string, string>();

  private onProgress(jobId: string, progress: TrialProgress): void {
    const name = this.names.get(jobId);
    if (name === undefined || typeof progress !== 'object') return;
    const accuracy = progress.valAccuracy === undefined ? '' : `, val_accuracy ${progress.valAccuracy.toFixed(3)}`;
    this.logger.info(`  ${name}: epoch ${progress.epoch + 1} on ${progress.worker}${accuracy}`);
  }

  /**
   * An executor for the sweep runner: one job per trial, resolved when a worker finished it.
   * When `signal` fires the sweep stops waiting; queued trials stay queued for the workers.
   */
  executor(job: (trial: SweepTrial, parentRunId: string) => TrialJob, signal?: AbortSignal): TrialExecutor {
    return async (trial, parentRunId) => {
      const data = job(trial, parentRunId);
      const jobId = trial.configHash;
      this.names.set(jobId, trial.runName);
      let queued: Job<TrialJob> | undefined = await this.queue.getJob(jobId);
      const state = queued ? await queued.getState() : undefined;
      if (queued && (state === 'completed' || state === 'failed' || state === 'unknown')) {
        await queued.remove();
        queued = undefined;
      }
      if (queued) this.logger.info(`  ${trial.runName}: already on the queue (${state ?? 'waiting'}), waiting for it`);
      queued ??= await this.queue.add('trial', data, {
        jobId,
        attempts: 1,
        removeOnComplete: { age: 24 * 3600 },
        removeOnFail: { age: 24 * 3600 },
      });
      const finished = queued.waitUntilFinished(this.events);
      if (!signal) {
        await finished;
        return;
      }
      await Promise.race([
        finished,
        new Promise((_, reject) => {
          if (signal.aborted) reject(new TrialInterrupted());
          signal.addEventListener('abort', () => reject(new TrialInterrupted()), { once: true });
        }),
      ]);
    };
  }

  async close(): Promise<void> {
    await this.events.close();
    await this.queue.close();
  }
}
