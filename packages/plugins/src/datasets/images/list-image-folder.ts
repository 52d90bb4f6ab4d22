import { readdir, realpath, stat } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { ThawError, messageOf } from '@thaw/core';

/** The extensions Keras' image_dataset_from_directory reads, plus WebP; matched case-insensitively. */
export const IMAGE_EXTENSIONS = ['.bmp', '.gif', '.jpeg', '.jpg', '.png', '.webp'] as const;

export function isImageFile(name: string): boolean {
  const lower = name.toLowerCase();
  return IMAGE_EXTENSIONS.some((extension) => lower.endsWith(extension));
}

/** Orders strings by Unicode code point, as Python's sorted() does (JS's default sort compares UTF-16 units). */
export function compareCodePoints(a: string, b: string): number {
  const left = a[Symbol.iterator]();
  const right = b[Symbol.iterator]();
  for (;;) {
    const x = left.next();
    const y = right.next();
    if (x.done || y.done) return x.done && y.done ? 0 : x.done ? -1 : 1;
    const difference = x.value.codePointAt(0)! - y.value.codePointAt(0)!;
    if (difference !== 0) return difference;
  }
}

export interface ImageFile {
  /** Absolute path, through any symbolic links on the way. */
  readonly path: string;
  /** Relative to the listed folder, with forward slashes; starts with the class folder. */
  readonly relativePath: string;
  /** Position of the class in `classNames`. */
  readonly label: number;
}

export interface ImageFolder {
  readonly classNames: readonly string[];
  /** By label, then by relative path in code-point order: the same on every file system. */
  readonly files: readonly ImageFile[];
  /** Files left out: without an image extension, or lying beside the class folders. */
  readonly ignored: number;
}

export interface ListImageFolderOptions {
  /** Picks and orders the classes; by default all sub-folders, sorted. */
  readonly classes?: readonly string[];
  /** Names the classes option in error messages, e.g. 'spec.yaml: data.classes'. */
  readonly where?: string;
}

type EntryKind = 'file' | 'folder' | 'other';

async function kindOf(path: string, entry: { isFile(): boolean; isDirectory(): boolean }): Promise<EntryKind> {
  if (entry.isFile()) return 'file';
  if (entry.isDirectory()) return 'folder';
  // A symbolic link (followed, as when a dataset is assembled from links) or a file system that does not report types.
  let info;
  try {
    info = await stat(path);
  } catch (error) {
    throw new ThawError(`${path}: cannot follow (${messageOf(error)}); expected a file or folder, or a link to one`, { cause: error });
  }
  return info.isFile() ? 'file' : info.isDirectory() ? 'folder' : 'other';
}

async function entriesOf(dir: string) {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (error) {
    throw new ThawError(`${dir}: cannot list (${messageOf(error)})`, { cause: error });
  }
}

/**
 * Collects the images under one class folder, at any depth. `ancestors` holds the real paths of
 * the folders above, so a link back to one of them is reported instead of followed forever.
 */
async function collectImages(dir: string, ancestors: ReadonlySet<string>, images: string[]): Promise<number> {
  const real = await realpath(dir);
  if (ancestors.has(real)) {
    throw new ThawError(`${dir}: a symbolic link loop (it leads back to ${real}); expected a folder tree without cycles`);
  }
  const inside = new Set(ancestors).add(real);
  let ignored = 0;
  for (const entry of await entriesOf(dir)) {
    const path = join(dir, entry.name);
    const kind = await kindOf(path, entry);
    if (kind === 'folder') ignored += await collectImages(path, inside, images);
    else if (kind === 'file' && isImageFile(entry.name)) images.push(path);
    else ignored++;
  }
  return ignored;
}

/**
 * Lists a folder laid out for Keras' image_dataset_from_directory: one sub-folder per class,
 * images at any depth inside it. Class names are sorted as Python sorts them, so labels match a
 * Keras run on the same folder.
 */
export async function listImageFolder(root: string, options: ListImageFolderOptions = {}): Promise<ImageFolder> {
  const dir = resolve(root);
  const expected = 'expected a folder with one sub-folder of images per class';
  let info;
  try {
    info = await stat(dir);
  } catch (error) {
    throw new ThawError(`${dir}: does not exist or cannot be read (${messageOf(error)}); ${expected}`, { cause: error });
  }
  if (!info.isDirectory()) throw new ThawError(`${dir}: is a file; ${expected}`);

  const rootReal = await realpath(dir);
  const available: string[] = [];
  let ignored = 0;
  for (const entry of await entriesOf(dir)) {
    const kind = await kindOf(join(dir, entry.name), entry);
    if (kind === 'folder') available.push(entry.name);
    else ignored++;
  }
  available.sort(compareCodePoints);
  if (available.length === 0) throw new ThawError(`${dir}: holds no sub-folders; ${expected}`);

  const classNames = options.classes ? pickClasses(options.classes, available, dir, options.where ?? 'classes') : available;
  const files: ImageFile[] = [];
  for (const [label, name] of classNames.entries()) {
    const classDir = join(dir, name);
    const images: string[] = [];
    const skipped = await collectImages(classDir, new Set([rootReal]), images);
    if (images.length === 0) {
      throw new ThawError(
        `${classDir}: class ${JSON.stringify(name)} holds no images${skipped > 0 ? ` (${skipped} other files)` : ''}; expected files ending in ${IMAGE_EXTENSIONS.join(', ')}`,
      );
    }
    ignored += skipped;
    const entries = images.map((path) => ({ path, relativePath: relative(dir, path).split(sep).join('/'), label }));
    entries.sort((a, b) => compareCodePoints(a.relativePath, b.relativePath));
    files.push(...entries);
  }
  return { classNames, files, ignored };
}

function pickClasses(classes: readonly string[], available: readonly string[], dir: string, where: string): string[] {
  const list = available.map((name) => JSON.stringify(name)).join(', ');
  if (classes.length === 0) throw new ThawError(`${where}: received an empty list; expected class folders of ${dir}: ${list}`);
  const seen = new Set<string>();
  for (const name of classes) {
    if (!available.includes(name)) {
      throw new ThawError(`${where}: received ${JSON.stringify(name)}, but ${dir} has no such sub-folder; expected one of ${list}`);
    }
    if (seen.has(name)) throw new ThawError(`${where}: received ${JSON.stringify(name)} twice; expected each class once`);
    seen.add(name);
  }
  return [...classes];
}
