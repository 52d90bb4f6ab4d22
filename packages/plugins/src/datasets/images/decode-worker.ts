import { parentPort } from 'node:worker_threads';
import { decodePixels, readImageFile } from './decode-pixels.js';
import type { DecodeJob, DecodeReply } from './decode-pool.js';
import { ImageError } from './image-error.js';

// A decoding worker thread of decode-pool.ts: file (or bytes) in, pixels out, one message each.

if (parentPort === null) throw new Error('decode-worker.js runs as a worker thread of the decode pool, not on its own');
const port = parentPort;

async function run(job: DecodeJob): Promise<void> {
  let reply: DecodeReply;
  const transfer: ArrayBuffer[] = [];
  try {
    const bytes = job.bytes ?? (await readImageFile(job.file, true));
    const pixels = await decodePixels(bytes, job.file, job.settings);
    let { data } = pixels;
    // Hand the buffer over rather than copy it, unless it holds more than these pixels.
    if (data.byteOffset !== 0 || data.byteLength !== data.buffer.byteLength) data = new Uint8Array(data);
    transfer.push(data.buffer as ArrayBuffer);
    reply = { id: job.id, pixels: { data, height: pixels.height, width: pixels.width, channels: pixels.channels } };
  } catch (error) {
    reply =
      error instanceof ImageError
        ? { id: job.id, failure: { image: true, message: error.message } }
        : { id: job.id, failure: { image: false, message: error instanceof Error ? (error.stack ?? error.message) : String(error) } };
  }
  port.postMessage(reply, transfer);
}

port.on('message', (job: DecodeJob) => void run(job));
