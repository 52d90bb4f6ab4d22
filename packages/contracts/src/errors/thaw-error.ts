/**
 * An error caused by what the user gave thaw (a spec, an option, a file, a server address).
 * The CLI prints its message alone, without a stack, and exits with code 2.
 */
export class ThawError extends Error {
  readonly exitCode = 2;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ThawError';
  }
}

/** Renders a received value for an error message: short, and unambiguous about its type. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  try {
    const text = JSON.stringify(value);
    return text.length > 120 ? `${text.slice(0, 117)}...` : text;
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** The message of anything thrown, for wrapping it in a ThawError. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
