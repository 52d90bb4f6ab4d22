import { readFile, stat } from 'node:fs/promises';
import { dirname, relative, resolve, sep } from 'node:path';
import { parse } from 'csv-parse/sync';
import { ThawError, messageOf } from '@thaw/core';
import { SPLIT_NAMES, type SplitName } from './assign-split.js';

export interface ManifestColumns {
  /** 'path' by default. */
  readonly pathColumn?: string;
  /** 'label' by default. */
  readonly labelColumn?: string;
  /** 'split' by default, and then optional; a column named here must exist. */
  readonly splitColumn?: string;
}

export interface ManifestRow {
  readonly path: string;
  /** Relative to the CSV file's folder, with forward slashes. */
  readonly relativePath: string;
  readonly label: string;
  /** Absent when the manifest has no split column or the cell is empty. */
  readonly split?: SplitName;
  /** The line the record starts on, counting the header as line 1. */
  readonly line: number;
}

interface ParsedRecord {
  readonly record: Record<string, string>;
  readonly info: { readonly bytes: number };
}

/** Counts lines by byte offset, forward only: csv-parse's own line count drifts on CRLF files with blank lines. */
function lineCounter(bytes: Uint8Array): (offset: number) => number {
  let at = 0;
  let line = 1;
  return (offset) => {
    for (; at < offset; at++) if (bytes[at] === 0x0a) line++;
    return line;
  };
}

function newlinesIn(record: Record<string, string>): number {
  let count = 0;
  for (const value of Object.values(record)) for (const char of value) if (char === '\n') count++;
  return count;
}

/**
 * Reads a CSV manifest of images: a path and a label per row, optionally a split (train,
 * validation or test). Paths are relative to the CSV file's folder; each must name an existing
 * file. Errors name the CSV file and line.
 */
export async function readManifest(csvFile: string, columns: ManifestColumns = {}): Promise<ManifestRow[]> {
  const file = resolve(csvFile);
  const pathColumn = columns.pathColumn ?? 'path';
  const labelColumn = columns.labelColumn ?? 'label';
  const splitColumn = columns.splitColumn ?? 'split';
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    throw new ThawError(`${file}: cannot read (${messageOf(error)})`, { cause: error });
  }

  let header: string[] = [];
  let records: ParsedRecord[];
  try {
    records = parse(bytes, {
      bom: true,
      skip_empty_lines: true,
      trim: true,
      info: true,
      columns: (names: string[]) => (header = names),
    }) as unknown as ParsedRecord[];
  } catch (error) {
    throw new ThawError(`${file}: not a readable CSV file (${messageOf(error)})`, { cause: error });
  }
  const found = header.length > 0 ? header.map((name) => JSON.stringify(name)).join(', ') : 'no header';
  const required = [pathColumn, labelColumn, ...(columns.splitColumn === undefined ? [] : [splitColumn])];
  for (const name of required) {
    if (!header.includes(name)) throw new ThawError(`${file}: no column ${JSON.stringify(name)} in the header (found ${found})`);
  }
  const hasSplit = header.includes(splitColumn);

  const folder = dirname(file);
  const lineAt = lineCounter(bytes);
  const rows: ManifestRow[] = [];
  for (const { record, info } of records) {
    // info.bytes ends after the record's line break: the line holding its last character, less the breaks inside it.
    const line = lineAt(Math.max(0, info.bytes - 1)) - newlinesIn(record);
    const where = `${file}:${line}`;
    const given = record[pathColumn] ?? '';
    const label = record[labelColumn] ?? '';
    if (given === '') throw new ThawError(`${where}: empty ${pathColumn}; expected the path of an image`);
    if (label === '') throw new ThawError(`${where}: empty ${labelColumn} for ${given}; expected a class name`);
    const splitValue = hasSplit ? (record[splitColumn] ?? '') : '';
    if (splitValue !== '' && !(SPLIT_NAMES as readonly string[]).includes(splitValue)) {
      throw new ThawError(`${where}: ${splitColumn} ${JSON.stringify(splitValue)}; expected one of ${SPLIT_NAMES.join(', ')} (or empty)`);
    }
    const path = resolve(folder, given);
    rows.push({
      path,
      relativePath: relative(folder, path).split(sep).join('/'),
      label,
      ...(splitValue === '' ? {} : { split: splitValue as SplitName }),
      line,
    });
  }
  await checkFilesExist(rows, file);
  return rows;
}

/** Stats the files a few dozen at a time: quick on large manifests without opening thousands of handles at once. */
async function checkFilesExist(rows: readonly ManifestRow[], file: string): Promise<void> {
  const batch = 64;
  for (let start = 0; start < rows.length; start += batch) {
    await Promise.all(
      rows.slice(start, start + batch).map(async (row) => {
        const info = await stat(row.path).catch(() => {
          throw new ThawError(
            `${file}:${row.line}: ${row.path} does not exist; expected an image file (paths are relative to the CSV's folder)`,
          );
        });
        if (!info.isFile()) throw new ThawError(`${file}:${row.line}: ${row.path} is not a file; expected an image file`);
      }),
    );
  }
}
