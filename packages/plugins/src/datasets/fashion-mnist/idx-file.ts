import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { ThawError, messageOf } from '@thaw/core';

/** The contents of an IDX file: unsigned bytes and their dimensions. */
export interface IdxData {
  readonly dims: readonly number[];
  readonly data: Uint8Array;
}

const UNSIGNED_BYTE = 0x08;

/** Decodes an IDX file (gzipped or not) of unsigned bytes, checking its header against its size. */
export function decodeIdx(bytes: Uint8Array, file: string): IdxData {
  let raw = bytes;
  if (raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      raw = gunzipSync(raw);
    } catch (error) {
      throw new ThawError(`${file}: corrupt gzip data (${messageOf(error)}); expected a gzipped IDX file`);
    }
  }
  if (raw.length < 4 || raw[0] !== 0 || raw[1] !== 0 || raw[2] !== UNSIGNED_BYTE) {
    throw new ThawError(
      `${file}: not an IDX file of unsigned bytes (header ${Buffer.from(raw.subarray(0, 4)).toString('hex')}); expected 000008xx`,
    );
  }
  const rank = raw[3]!;
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i, false));
  const offset = 4 + 4 * rank;
  const expected = dims.reduce((a, b) => a * b, 1);
  if (raw.length - offset !== expected) {
    throw new ThawError(
      `${file}: header says ${dims.join('×')} = ${expected} bytes of data but the file holds ${raw.length - offset}; the file is truncated or corrupt`,
    );
  }
  return { dims, data: raw.subarray(offset) };
}

export async function readIdx(file: string): Promise<IdxData> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (error) {
    throw new ThawError(`${file}: cannot read (${messageOf(error)})`);
  }
  return decodeIdx(bytes, file);
}

/** Encodes unsigned bytes as an IDX file (not gzipped). */
export function encodeIdx(dims: readonly number[], data: Uint8Array): Uint8Array {
  const header = new DataView(new ArrayBuffer(4 + 4 * dims.length));
  header.setUint8(2, UNSIGNED_BYTE);
  header.setUint8(3, dims.length);
  dims.forEach((dim, i) => header.setUint32(4 + 4 * i, dim, false));
  return Buffer.concat([new Uint8Array(header.buffer), data]);
}
