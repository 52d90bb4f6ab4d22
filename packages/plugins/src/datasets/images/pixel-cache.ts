import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, statSync, type Stats } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
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
/** The folder, under the cache's, of the saved content hashes (saveHashes); not a shard, whose names are two hex digits. */
const HASHES_FOLDER = 'hashes';
/** Starts every file of saved hashes; a new format gets a new one. */
const HASHES_FORMAT = 'thaw-pixel-hashes-1';
/**
 * A file changed less than this long before it was hashed may change again within the same
 * timestamp tick (2 s on FAT, a few ms elsewhere) without its size, times or inode showing it:
 * its hash is not saved, so a later process reads and hashes it again.
 */
const RACY_MS = 2000;
/** Entries up to this size are read synchronously: a few syscalls, where fs/promises makes each a round trip through the libuv pool. */
const SYNC_READ_BYTES = 4 << 20;

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

/** A file's content hash, valid while its size, modification and change times and inode stay the same. */
interface KnownHash {
  readonly size: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
  readonly ino: number;
  readonly hash: string;
  /** When the file was read to hash it (ms since the epoch). */
  readonly hashedAt: number;
}

/** One source folder's saved hashes, by file name: [size, mtimeMs, ctimeMs, ino, hash, hashedAt]. */
interface SavedHashes {
  readonly format: typeof HASHES_FORMAT;
  readonly folder: string;
  readonly files: Record<string, [number, number, number, number, string, number]>;
}

function sameFile(known: KnownHash, info: Stats): boolean {
  return info.size === known.size && info.mtimeMs === known.mtimeMs && info.ctimeMs === known.ctimeMs && info.ino === known.ino;
}

function statOrUndefined(file: string): Stats | undefined {
  try {
    return statSync(file);
  } catch {
    return undefined;
  }
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
 * Nothing here holds pixels beyond the call that returns them. A hit reads its entry
 * synchronously: an entry is small and, read again every epoch, in the page cache, where a
 * synchronous read costs about a third of an asynchronous one (whose open, stat, read and close
 * each go through the libuv pool).
 *
 * A hit needs the file's content hash, not its bytes: hashes are remembered with the file's size,
 * times and inode, and saveHashes() writes them under hashes/ (one small JSON file per source
 * folder, loaded when a file of that folder is first read), so a later process does not read
 * and hash every image again either. They are only a shortcut: a file whose size, times or inode
 * differ is hashed again (the change time cannot be set back, as the modification time can), the
 * hash of a file read less than RACY_MS after it changed is not saved, and a lost or damaged
 * hashes file costs one more hashing. A single index for the whole cache would be rewritten by
 * every run of every dataset and grow with all of them; one per folder is read only by the runs
 * that read that folder.
 */
export class PixelCache {
  /** Reads answered from disk and reads that decoded, since construction. */
  hits = 0;
  misses = 0;
  /** Source files read to hash them, since construction (not those whose hash was remembered or saved). */
  hashed = 0;
  private readonly dir: string;
  private readonly log: Logger;
  private readonly decode: ImageDecoder;
  /** Content hashes by path, valid while the file's size, times and inode stay the same: a hit reads no source image. */
  private readonly hashes = new Map<string, KnownHash>();
  /** Saved hashes by absolute source folder, each loaded once. */
  private readonly saved = new Map<string, Promise<Map<string, KnownHash>>>();
  /** Source folders with hashes that saveHashes has not written yet. */
  private readonly unsaved = new Set<string>();
  /** Shard folders made (or found) by this cache: one mkdir each, not one per entry. */
  private readonly shards = new Set<string>();
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
    let hash = this.knownHash(file) ?? (await this.savedHash(file));
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

  /** The hash remembered in this process, if the file still looks the same (a stat, synchronous: a few µs). */
  private knownHash(file: string): string | undefined {
    const known = this.hashes.get(file);
    if (known === undefined) return undefined;
    const info = statOrUndefined(file);
    return info !== undefined && sameFile(known, info) ? known.hash : undefined;
  }

  /** The hash a process saved (saveHashes), if the file still looks the same; remembered from then on. */
  private async savedHash(file: string): Promise<string | undefined> {
    const path = resolve(file);
    const known = (await this.savedFolder(dirname(path))).get(basename(path));
    if (known === undefined) return undefined;
    const info = statOrUndefined(file);
    if (info === undefined || !sameFile(known, info)) return undefined;
    this.hashes.set(file, known);
    return known.hash;
  }

  private savedFolder(folder: string): Promise<Map<string, KnownHash>> {
    let loaded = this.saved.get(folder);
    if (loaded === undefined) {
      loaded = readSavedHashes(this.hashesFile(folder), folder);
      this.saved.set(folder, loaded);
    }
    return loaded;
  }

  private hashesFile(folder: string): string {
    return join(this.dir, HASHES_FOLDER, `${sha256(folder).slice(0, 32)}.json`);
  }

  /** Reads and hashes the file, remembering the hash with the file's state from before the read. */
  private async hashFile(file: string): Promise<{ bytes: Uint8Array; hash: string }> {
    const hashedAt = Date.now();
    const info = await stat(file).catch(() => undefined);
    const bytes = await readSource(file);
    const hash = sha256(bytes);
    this.hashed++;
    if (info) {
      const known = { size: info.size, mtimeMs: info.mtimeMs, ctimeMs: info.ctimeMs, ino: info.ino, hash, hashedAt };
      this.hashes.set(file, known);
      const path = resolve(file);
      (await this.savedFolder(dirname(path))).set(basename(path), known);
      this.unsaved.add(dirname(path));
    } else {
      this.hashes.delete(file);
    }
    return { bytes, hash };
  }

  /**
   * Writes the hashes computed since the last call, one file per source folder (merged with what
   * other processes wrote there since, written to a temporary file and renamed), so that later
   * PixelCaches, in this process or another, find them without reading the images. Hashes of
   * files changed too shortly before they were read are left out. A folder that cannot be
   * written is warned about once (with the entries' warning, if any); nothing else comes of it.
   */
  async saveHashes(): Promise<void> {
    const folders = [...this.unsaved];
    this.unsaved.clear();
    for (const folder of folders) {
      const file = this.hashesFile(folder);
      const ours = await this.savedFolder(folder);
      // What is on disk now (another process may have added to it), each file's newest hash kept.
      const merged = await readSavedHashes(file, folder);
      for (const [name, known] of ours) {
        const other = merged.get(name);
        if (other === undefined || known.hashedAt >= other.hashedAt) merged.set(name, known);
      }
      const files: SavedHashes['files'] = {};
      for (const [name, known] of merged) {
        if (Math.max(known.mtimeMs, known.ctimeMs) > known.hashedAt - RACY_MS) continue;
        files[name] = [known.size, known.mtimeMs, known.ctimeMs, known.ino, known.hash, known.hashedAt];
      }
      const saved: SavedHashes = { format: HASHES_FORMAT, folder, files };
      const temp = `${file}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
      try {
        await mkdir(dirname(file), { recursive: true });
        await writeFile(temp, JSON.stringify(saved));
        await rename(temp, file);
      } catch (error) {
        await rm(temp, { force: true }).catch(() => undefined);
        this.warnOnce(`pixel cache: cannot write into ${this.dir} (${messageOf(error)}); images will be hashed again by the next run`);
      }
    }
  }

  private async write(entry: string, pixels: ImagePixels): Promise<void> {
    const header = Buffer.alloc(HEADER_BYTES);
    header.write(MAGIC, 0, 'latin1');
    header.writeUInt32LE(pixels.height, 8);
    header.writeUInt32LE(pixels.width, 12);
    header.writeUInt32LE(pixels.channels, 16);
    header.writeUInt32LE(crc32(pixels.data), 20);
    const temp = `${entry}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
    const shard = dirname(entry);
    const bytes = Buffer.concat([header, pixels.data]);
    try {
      if (!this.shards.has(shard)) {
        await mkdir(shard, { recursive: true });
        this.shards.add(shard);
      }
      try {
        await writeFile(temp, bytes);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        // The shard was removed since this cache made it (the cache was cleaned): made again.
        await mkdir(shard, { recursive: true });
        await writeFile(temp, bytes);
      }
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

/** A folder's saved hashes; none when the file is missing, damaged or of another format or folder. */
async function readSavedHashes(file: string, folder: string): Promise<Map<string, KnownHash>> {
  const hashes = new Map<string, KnownHash>();
  let saved: unknown;
  try {
    saved = JSON.parse(await readFile(file, 'utf8'));
  } catch {
    return hashes;
  }
  if (typeof saved !== 'object' || saved === null) return hashes;
  const { format, folder: savedFolder, files } = saved as Partial<SavedHashes>;
  if (format !== HASHES_FORMAT || savedFolder !== folder || typeof files !== 'object' || files === null) return hashes;
  for (const [name, fields] of Object.entries(files)) {
    if (!Array.isArray(fields) || fields.length !== 6) continue;
    const [size, mtimeMs, ctimeMs, ino, hash, hashedAt] = fields;
    if (
      ![size, mtimeMs, ctimeMs, ino, hashedAt].every((n) => typeof n === 'number') ||
      typeof hash !== 'string' ||
      !/^[0-9a-f]{64}$/.test(hash)
    ) {
      continue;
    }
    hashes.set(name, { size, mtimeMs, ctimeMs, ino, hash, hashedAt });
  }
  return hashes;
}

async function readEntry(entry: string, options: ResolvedDecodeOptions): Promise<EntryRead> {
  const [height, width] = options.size;
  const channels = options.colorMode === 'grayscale' ? 1 : 3;
  const expected = height * width * channels;
  let bytes: Buffer;
  try {
    bytes = HEADER_BYTES + expected <= SYNC_READ_BYTES ? readFileSync(entry) : await readFile(entry);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // ENOTDIR: the folder is in fact a file; writing will say so.
    if (code === 'ENOENT' || code === 'ENOTDIR') return { missing: true };
    return { unreadable: messageOf(error) };
  }
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
