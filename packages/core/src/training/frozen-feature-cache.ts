import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { ImageSplit } from '@thaw/contracts';

export interface FeatureCacheOptions {
  /** Bytes of features kept in memory (least recently used evicted first). */
  readonly memoryBytes: number;
  /** Bytes of features kept on disk, shared by processes (e.g. parallel sweep workers); 0 turns disk off. */
  readonly diskBytes: number;
  readonly dir: string;
  /** Told when a file on disk is damaged and its features are computed again. */
  readonly warn?: (message: string) => void;
}

export interface FeatureCacheStats {
  hits: number;
  diskHits: number;
  misses: number;
  memoryBytes: number;
  entries: number;
}

const MAGIC = 'THF1';
const DIGEST_BYTES = 32;

interface Entry {
  readonly shape: number[];
  readonly values: Float32Array;
}

/**
 * Outputs of a frozen prefix, computed once and reused across epochs and across trials that share
 * the same prefix (architecture and weights up to the cut), the same images and the same backend.
 * Features live in memory within a budget, spill to disk within another, and are recomputed when
 * neither has room. Callers get a fresh tensor they own, so the cache holds no TF.js memory.
 */
export const FrozenFeatureCache = Symbol('FrozenFeatureCache');
export interface FrozenFeatureCache {
  /**
   * `compute(images)` — the frozen prefix's output — from the cache when possible; the caller
   * disposes it. The key is the prefix (architecture and weights), the images and the backend.
   */
  features(prefix: tf.LayersModel, images: ImageSplit, compute: () => Promise<tf.Tensor>): Promise<tf.Tensor>;
  stats(): FeatureCacheStats;
  clear(): Promise<void>;
}

export class FrozenFeatureCacheImpl implements FrozenFeatureCache {
  private readonly memory = new Map<string, Entry>();
  private readonly counters = { hits: 0, diskHits: 0, misses: 0 };
  private bytes = 0;

  constructor(private readonly options: FeatureCacheOptions) {}

  async features(prefix: tf.LayersModel, images: ImageSplit, compute: () => Promise<tf.Tensor>): Promise<tf.Tensor> {
    const key = await this.key(prefix, images);
    const cached = this.memory.get(key);
    if (cached) {
      this.counters.hits++;
      this.memory.delete(key);
      this.memory.set(key, cached);
      return tf.tensor(cached.values, cached.shape);
    }
    const fromDisk = await this.readDisk(key);
    if (fromDisk) {
      this.counters.diskHits++;
      this.remember(key, fromDisk);
      return tf.tensor(fromDisk.values, fromDisk.shape);
    }
    this.counters.misses++;
    const features = await compute();
    const entry: Entry = { shape: features.shape, values: (await features.data()) as Float32Array };
    this.remember(key, entry);
    await this.writeDisk(key, entry);
    return features;
  }

  stats(): FeatureCacheStats {
    return { ...this.counters, memoryBytes: this.bytes, entries: this.memory.size };
  }

  async clear(): Promise<void> {
    this.memory.clear();
    this.bytes = 0;
    if (this.options.diskBytes > 0) await rm(this.options.dir, { recursive: true, force: true });
  }

  /** Hash of the prefix's topology and weights, the images and the backend (kernels differ in rounding). */
  private async key(prefix: tf.LayersModel, images: ImageSplit): Promise<string> {
    const hash = createHash('sha256');
    hash.update(tf.getBackend());
    hash.update(JSON.stringify(prefix.outputs.map((output) => output.shape)));
    for (const layer of prefix.layers) {
      hash.update(JSON.stringify([layer.getClassName(), layer.getConfig()]));
      for (const weight of layer.weights) hash.update(new Uint8Array(((await weight.read().data()) as Float32Array).buffer));
    }
    return hash
      .update(await images.contentKey())
      .digest('hex')
      .slice(0, 32);
  }

  private remember(key: string, entry: Entry): void {
    const size = entry.values.byteLength;
    if (size > this.options.memoryBytes) return;
    while (this.bytes + size > this.options.memoryBytes) {
      const [oldest, value] = this.memory.entries().next().value as [string, Entry];
      this.memory.delete(oldest);
      this.bytes -= value.values.byteLength;
    }
    this.memory.set(key, entry);
    this.bytes += size;
  }

  private file(key: string): string {
    return join(this.options.dir, `${key}.f32`);
  }

  /** An entry from disk, or undefined when there is none or it is damaged (then it is computed again and replaced). */
  private async readDisk(key: string): Promise<Entry | undefined> {
    if (this.options.diskBytes <= 0) return undefined;
    let bytes: Buffer;
    try {
      bytes = await readFile(this.file(key));
    } catch {
      return undefined;
    }
    const damage = (reason: string) => {
      this.options.warn?.(`feature cache: ${this.file(key)} is damaged (${reason}); computing the features again`);
      return undefined;
    };
    if (bytes.length < 8 || bytes.toString('latin1', 0, 4) !== MAGIC) return damage('not a feature file');
    const rank = bytes.readUInt32LE(4);
    const offset = 8 + 4 * rank + DIGEST_BYTES;
    if (rank > 8 || bytes.length < offset) return damage('truncated header');
    const shape = Array.from({ length: rank }, (_, i) => bytes.readUInt32LE(8 + 4 * i));
    const body = bytes.subarray(offset);
    if (body.length !== 4 * shape.reduce((a, b) => a * b, 1))
      return damage(`${body.length} bytes of values for shape [${shape.join(', ')}]`);
    const digest = bytes.subarray(8 + 4 * rank, offset);
    if (!createHash('sha256').update(body).digest().equals(digest)) return damage('checksum mismatch');
    const values = new Float32Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength));
    const now = new Date();
    await utimes(this.file(key), now, now).catch(() => undefined);
    return { shape, values };
  }

  /** Writes an entry (rank, shape, float32 values) and trims the folder to its budget, oldest first. */
  private async writeDisk(key: string, entry: Entry): Promise<void> {
    const size = entry.values.byteLength + 8 + 4 * entry.shape.length + DIGEST_BYTES;
    if (this.options.diskBytes <= 0 || size > this.options.diskBytes) return;
    await mkdir(this.options.dir, { recursive: true });
    // Magic, rank, shape, SHA-256 of the values, the values: a damaged file is found on read.
    const header = Buffer.alloc(8 + 4 * entry.shape.length);
    header.write(MAGIC, 0, 'latin1');
    header.writeUInt32LE(entry.shape.length, 4);
    entry.shape.forEach((dim, i) => header.writeUInt32LE(dim, 8 + 4 * i));
    const body = Buffer.from(entry.values.buffer, entry.values.byteOffset, entry.values.byteLength);
    const partial = `${this.file(key)}.${process.pid}.partial`;
    await writeFile(partial, Buffer.concat([header, createHash('sha256').update(body).digest(), body]));
    await rename(partial, this.file(key));
    const files = await Promise.all(
      (await readdir(this.options.dir))
        .filter((name) => name.endsWith('.f32'))
        .map(async (name) => {
          const info = await stat(join(this.options.dir, name)).catch(() => undefined);
          return { name, size: info?.size ?? 0, time: info?.mtimeMs ?? 0 };
        }),
    );
    let total = files.reduce((sum, file) => sum + file.size, 0);
    for (const file of files.sort((a, b) => a.time - b.time)) {
      if (total <= this.options.diskBytes) break;
      await rm(join(this.options.dir, file.name), { force: true });
      total -= file.size;
    }
  }
}
