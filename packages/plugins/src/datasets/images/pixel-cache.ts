import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { crc32 } from 'node:zlib';
import { ThawError, messageOf, type Logger } from '@thaw/core';
import { decodeImage, resolveDecodeOptions, type DecodeOptions, type ImageDecoder, type ResolvedDecodeOptions } from './decode-image.js';
import type { ImagePixels } from './image-pixels.js';

/** Starts every entry; a new format gets a new one. */
const MAGIC = 'THAWPIX1';
/** Magic, then height, width, channels and the CRC-32 of the pixels, little-endian uint32s. */
const HEADER_BYTES = 24;
/** Part of every key: raise it when decoding changes the pixels it gives, so older entries are not reused. */
const DECODING_VERSION = 1;

export interface PixelCacheOptions {
  /** The cache's folder; thaw uses join(thawCacheDir(), 'pixels'). */
  readonly dir: string;
  /** Hears about damaged entries and a cache that cannot be written. */
  readonly log: Logger;
  /** decodeImage unless a test counts the calls. */
  readonly decode?: ImageDecoder;
}

type EntryRead =
  { readonly pixels: ImagePixels } | { readonly missing: true } | { readonly unreadable: string } | { readonly damage: string };

interface KnownHash {
  readonly size: number;
  readonly mtimeMs: number;
  readonly ino: number;
  readonly hash: string;
}

function sha256(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function readSource(file: string): Promise<Uint8Array> {
  try {
    return await readFile(file);
  } catch (error) {
    throw new ThawError(`${file}: cannot read (${messageOf(error)})`, { cause: error });
  }
}

/**
 * Decoded pixels on disk, keyed by SHA-256 of the image file's content and the decoding options,
 * so later epochs, trials and runs never decode an image twice, wherever the file lies.
 *
 * One file per entry (in 256 sub-folders by the key's first two hex digits): a batch of N images
 * costs N small reads, with no index to load, lock or rewrite, and processes sharing the cache
 * only ever add whole files (temp file + rename), so none sees half an entry. A packed file per
 * dataset would save inodes but need locking between writers and a rewrite when one image changes.
 * Nothing here holds pixels beyond the call that returns them.
 */
export class PixelCache {
  /** Reads answered from disk and reads that decoded, since construction. */
  hits = 0;
  misses = 0;
  private readonly dir: string;
  private readonly log: Logger;
  private readonly decode: ImageDecoder;
  /** Content hashes by path, valid while the file's size, mtime and inode stay the same: a hit reads no source image. */
  private readonly hashes = new Map<string, KnownHash>();
  private warnedAboutFolder = false;

  constructor(options: PixelCacheOptions) {
    this.dir = options.dir;
    this.log = options.log;
    this.decode = options.decode ?? decodeImage;
  }

  /** Where the entry for this content and these options lies (it may not exist yet). */
  entryPath(contentHash: string, options: DecodeOptions): string {
    const { size, colorMode, interpolation, cropToAspectRatio } = resolveDecodeOptions(options);
    const key = sha256(JSON.stringify([DECODING_VERSION, contentHash, size[0], size[1], colorMode, interpolation, cropToAspectRatio]));
    return join(this.dir, key.slice(0, 2), `${key}.px`);
  }

  /** The file's pixels with these options: from the cache, else decoded and stored. */
  async read(file: string, options: DecodeOptions): Promise<ImagePixels> {
    const settings = resolveDecodeOptions(options);
    let bytes: Uint8Array | undefined;
    let hash = await this.knownHash(file);
    if (hash === undefined) ({ bytes, hash } = await this.hashFile(file));
    let entry = this.entryPath(hash, settings);
    let found = await readEntry(entry, settings);
    if (bytes === undefined && !('pixels' in found)) {
      // A miss on a remembered hash: read the file, in case it changed without its size or mtime showing it.
      const fresh = await this.hashFile(file);
      bytes = fresh.bytes;
      if (fresh.hash !== hash) {
        entry = this.entryPath(fresh.hash, settings);
        found = await readEntry(entry, settings);
      }
    }
    if ('pixels' in found) {
      this.hits++;
      return found.pixels;
    }
    if ('damage' in found) this.log.warn(`pixel cache: ${entry} is damaged (${found.damage}); decoding ${file} again`);
    if ('unreadable' in found) this.warnOnce(`pixel cache: cannot read ${entry} (${found.unreadable}); decoding instead`);
    this.misses++;
    const pixels = await this.decode(file, settings, bytes);
    await this.write(entry, pixels);
    return pixels;
  }

  private async knownHash(file: string): Promise<string | undefined> {
    const known = this.hashes.get(file);
    if (known === undefined) return undefined;
    try {
      const info = await stat(file);
      return info.size === known.size && info.mtimeMs === known.mtimeMs && info.ino === known.ino ? known.hash : undefined;
    } catch {
      return undefined;
    }
  }

  /** Reads and hashes the file, remembering the hash with the file's state from before the read. */
  private async hashFile(file: string): Promise<{ bytes: Uint8Array; hash: string }> {
    const info = await stat(file).catch(() => undefined);
    const bytes = await readSource(file);
    const hash = sha256(bytes);
    if (info) this.hashes.set(file, { size: info.size, mtimeMs: info.mtimeMs, ino: info.ino, hash });
    else this.hashes.delete(file);
    return { bytes, hash };
  }

  private async write(entry: string, pixels: ImagePixels): Promise<void> {
    const header = Buffer.alloc(HEADER_BYTES);
    header.write(MAGIC, 0, 'latin1');
    header.writeUInt32LE(pixels.height, 8);
    header.writeUInt32LE(pixels.width, 12);
    header.writeUInt32LE(pixels.channels, 16);
    header.writeUInt32LE(crc32(pixels.data), 20);
    const temp = `${entry}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
    try {
      await mkdir(dirname(entry), { recursive: true });
      await writeFile(temp, Buffer.concat([header, pixels.data]));
      await rename(temp, entry);
    } catch (error) {
      await rm(temp, { force: true }).catch(() => undefined);
      this.warnOnce(`pixel cache: cannot write into ${this.dir} (${messageOf(error)}); images will be decoded every time`);
    }
  }

  /** The cache only saves time: training goes on without it, and one warning about its folder is enough. */
  private warnOnce(message: string): void {
    if (this.warnedAboutFolder) return;
    this.warnedAboutFolder = true;
    this.log.warn(message);
  }
}

async function readEntry(entry: string, options: ResolvedDecodeOptions): Promise<EntryRead> {
  let bytes: Buffer;
  try {
    bytes = await readFile(entry);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // ENOTDIR: the folder is in fact a file; writing will say so.
    if (code === 'ENOENT' || code === 'ENOTDIR') return { missing: true };
    return { unreadable: messageOf(error) };
  }
  const [height, width] = options.size;
  const channels = options.colorMode === 'grayscale' ? 1 : 3;
  const expected = height * width * channels;
  if (bytes.length < HEADER_BYTES || bytes.toString('latin1', 0, MAGIC.length) !== MAGIC) {
    return { damage: `${bytes.length} bytes without the ${MAGIC} header` };
  }
  const dims = [bytes.readUInt32LE(8), bytes.readUInt32LE(12), bytes.readUInt32LE(16)];
  if (dims[0] !== height || dims[1] !== width || dims[2] !== channels) {
    return { damage: `its header says ${dims.join('×')}; expected ${height}×${width}×${channels}` };
  }
  if (bytes.length - HEADER_BYTES !== expected) {
    return { damage: `${bytes.length - HEADER_BYTES} bytes of pixels; expected ${expected}` };
  }
  const data = bytes.subarray(HEADER_BYTES);
  if (crc32(data) !== bytes.readUInt32LE(20)) return { damage: 'its pixels do not match their checksum' };
  return { pixels: { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), height, width, channels } };
}
