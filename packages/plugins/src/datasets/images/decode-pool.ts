import { Worker } from 'node:worker_threads';
import type { ResolvedDecodeOptions } from './decode-image.js';
// Also loads sharp on the main thread, which sharp asks for before worker threads load it (its
// shared libraries then stay loaded until every thread is done).
import { decodePixels, readImageFile } from './decode-pixels.js';
import { ImageError } from './image-error.js';
import type { ImagePixels } from './image-pixels.js';

/** What a decoding thread is sent: the file (read there unless `bytes` come with it) and the settings. */
export interface DecodeJob {
  readonly id: number;
  readonly file: string;
  readonly settings: ResolvedDecodeOptions;
  readonly bytes?: Uint8Array;
}

/** What it answers: the pixels (their buffer transferred), or why not (`image`: an ImageError, else a bug). */
export type DecodeReply =
  | { readonly id: number; readonly pixels: ImagePixels }
  | { readonly id: number; readonly failure: { readonly image: boolean; readonly message: string } };

/**
 * Jobs a thread holds at once: while one waits for libvips (which decodes on the libuv pool), the
 * thread resizes the other.
 */
export const JOBS_PER_THREAD = 2;
/** The threads end after this long without work (the pixel cache answers every later epoch), and start again when needed. */
const IDLE_MS = 3000;

const WORKER_URL = new URL('./decode-worker.js', import.meta.url);

interface Pending {
  readonly file: string;
  readonly settings: ResolvedDecodeOptions;
  /** The caller's bytes, untouched: a thread gets a copy, so they can still be decoded here if it dies. */
  readonly bytes: Uint8Array | undefined;
  readonly resolve: (pixels: ImagePixels) => void;
  readonly reject: (error: unknown) => void;
}

interface Thread {
  readonly worker: Worker;
  readonly running: Map<number, Pending>;
  answered: number;
}

/** Decodes on this thread: what a job does when no worker thread can take it. */
async function decodeHere(file: string, settings: ResolvedDecodeOptions, bytes?: Uint8Array): Promise<ImagePixels> {
  return decodePixels(bytes ?? (await readImageFile(file)), file, settings);
}

function runHere(pending: Pending): void {
  decodeHere(pending.file, pending.settings, pending.bytes).then(pending.resolve, pending.reject);
}

function settle(pending: Pending, reply: DecodeReply): void {
  if ('pixels' in reply) pending.resolve(reply.pixels);
  else if (reply.failure.image) pending.reject(new ImageError(reply.failure.message));
  else pending.reject(new Error(`decoding thread: ${reply.failure.message}`));
}

/**
 * Worker threads that read, decode and resize images, so that the resize (JavaScript) runs on
 * every core and not only on the main thread. Threads start when work comes, up to `size`; a
 * thread with nothing to do is unref'd, so the pool never keeps the process alive, and after
 * IDLE_MS without work all of them end. A thread that dies hands its jobs back to this thread;
 * one that dies before answering anything (no worker threads here, or the worker file missing)
 * makes the pool decode on this thread from then on.
 */
export class DecodePool {
  private readonly threads: Thread[] = [];
  private readonly queue: { readonly id: number; readonly pending: Pending }[] = [];
  private nextId = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private inline = false;

  constructor(readonly size: number) {}

  decode(file: string, settings: ResolvedDecodeOptions, bytes?: Uint8Array): Promise<ImagePixels> {
    if (this.inline) return decodeHere(file, settings, bytes);
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, pending: { file, settings, bytes, resolve, reject } });
      this.pump();
    });
  }

  /** Ends every thread; the jobs they held and those waiting are decoded on this thread. Later jobs start new threads. */
  async close(): Promise<void> {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    for (const { pending } of this.queue.splice(0)) runHere(pending);
    await Promise.all(this.threads.splice(0).map((thread) => this.end(thread)));
  }

  private pump(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    while (this.queue.length > 0) {
      const thread = this.pickThread();
      // None has room, or none could start (then the queue went to this thread).
      if (thread === undefined || this.queue.length === 0) break;
      const { id, pending } = this.queue.shift()!;
      // A copy for the thread (Buffer's slice would share the memory), handed over without a second copy.
      const bytes = pending.bytes === undefined ? undefined : new Uint8Array(pending.bytes);
      const job: DecodeJob =
        bytes === undefined
          ? { id, file: pending.file, settings: pending.settings }
          : { id, file: pending.file, settings: pending.settings, bytes };
      if (thread.running.size === 0) thread.worker.ref();
      thread.running.set(id, pending);
      thread.worker.postMessage(job, bytes === undefined ? [] : [bytes.buffer]);
    }
    if (this.queue.length === 0 && this.threads.every((thread) => thread.running.size === 0)) {
      this.idleTimer = setTimeout(() => void this.close(), IDLE_MS).unref();
    }
  }

  /** An idle thread, else a new one while there are fewer than `size`, else the least busy with room. */
  private pickThread(): Thread | undefined {
    const idle = this.threads.find((thread) => thread.running.size === 0);
    if (idle !== undefined) return idle;
    if (this.threads.length < this.size) {
      const started = this.start();
      if (started !== undefined) return started;
    }
    let best: Thread | undefined;
    for (const thread of this.threads) {
      if (thread.running.size < JOBS_PER_THREAD && (best === undefined || thread.running.size < best.running.size)) best = thread;
    }
    return best;
  }

  private start(): Thread | undefined {
    let worker: Worker;
    try {
      worker = new Worker(WORKER_URL);
    } catch {
      this.goInline();
      return undefined;
    }
    const thread: Thread = { worker, running: new Map(), answered: 0 };
    worker.on('message', (reply: DecodeReply) => {
      const pending = thread.running.get(reply.id);
      if (pending === undefined) return;
      thread.running.delete(reply.id);
      thread.answered++;
      if (thread.running.size === 0) worker.unref();
      settle(pending, reply);
      this.pump();
    });
    // An uncaught error ends the thread; 'exit' follows and takes care of its jobs.
    worker.on('error', () => undefined);
    worker.on('exit', () => {
      const index = this.threads.indexOf(thread);
      if (index >= 0) this.threads.splice(index, 1);
      if (thread.answered === 0 && index >= 0) this.goInline();
      this.handBack(thread);
      this.pump();
    });
    this.threads.push(thread);
    return thread;
  }

  private async end(thread: Thread): Promise<void> {
    await thread.worker.terminate();
    this.handBack(thread);
  }

  /** A thread's unanswered jobs, decoded on this thread. */
  private handBack(thread: Thread): void {
    for (const pending of thread.running.values()) runHere(pending);
    thread.running.clear();
  }

  /** No worker threads from now on: queued jobs and later ones are decoded on this thread. */
  private goInline(): void {
    this.inline = true;
    for (const { pending } of this.queue.splice(0)) runHere(pending);
  }
}

let shared: DecodePool | undefined;

/** The process's pool of `size` threads (a new one when the size changes). */
export function decodePool(size: number): DecodePool {
  if (shared === undefined || shared.size !== size) {
    void shared?.close();
    shared = new DecodePool(size);
  }
  return shared;
}

/**
 * Ends the decoding threads now rather than after their idle delay (they never keep the process
 * alive either way); the next decode starts new ones.
 */
export async function closeDecodePool(): Promise<void> {
  const pool = shared;
  shared = undefined;
  await pool?.close();
}
