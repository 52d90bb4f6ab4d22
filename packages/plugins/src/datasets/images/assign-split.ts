import { createHash } from 'node:crypto';
import { ThawError, describeValue } from '@thaw/core';

export const SPLIT_NAMES = ['train', 'validation', 'test'] as const;
export type SplitName = (typeof SPLIT_NAMES)[number];

/** What identifies a file for the split: its class and its path relative to the dataset's root. */
export interface SplitKey {
  readonly className: string;
  readonly relativePath: string;
}

/** Fractions of all files; the rest is training data. */
export interface SplitFractions {
  readonly validation: number;
  readonly test?: number;
}

/**
 * A number in [0, 1) drawn from SHA-256 of (stream, seed, class, path): the same for a file on
 * every machine and in every run. `stream` keeps independent draws for the same file apart.
 */
export function splitScore(key: SplitKey, seed: number, stream = 'split'): number {
  const digest = createHash('sha256')
    .update(JSON.stringify([stream, seed, key.className, key.relativePath]))
    .digest();
  return digest.readUIntBE(0, 6) / 2 ** 48;
}

function checkFraction(value: number, field: string): void {
  if (typeof value !== 'number' || !(value >= 0 && value < 1)) {
    throw new ThawError(`${field}: received ${describeValue(value)}; expected a fraction in [0, 1)`);
  }
}

/**
 * The split of one file when a single folder is divided (Keras' validation_split, plus an
 * optional test share). Hashed per file, not shuffled by position: a file stays in its split
 * when others are added or removed.
 */
export function assignSplit(key: SplitKey, seed: number, fractions: SplitFractions): SplitName {
  const { validation, test = 0 } = fractions;
  checkFraction(validation, 'validation');
  checkFraction(test, 'test');
  if (validation + test >= 1) {
    throw new ThawError(`validation + test: received ${validation} + ${test}; expected less than 1 together, leaving files to train on`);
  }
  const score = splitScore(key, seed);
  return score < test ? 'test' : score < test + validation ? 'validation' : 'train';
}

/**
 * Whether to hold a file out of its folder's split, e.g. a fifth of a validation folder as test
 * data, as the TensorFlow transfer-learning tutorial does. A draw independent of assignSplit's,
 * and per file, so stable in the same way.
 */
export function holdOut(key: SplitKey, seed: number, fraction: number): boolean {
  checkFraction(fraction, 'hold-out fraction');
  return splitScore(key, seed, 'hold-out') < fraction;
}
