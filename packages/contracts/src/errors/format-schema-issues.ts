import type { z } from 'zod';
import { describeValue } from './thaw-error.js';

/** Reads the value at a schema issue's path, so that the message can quote what was received. */
function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let current: unknown = input;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}

function joinPath(prefix: string, path: readonly PropertyKey[]): string {
  const parts = path.map((key) => (typeof key === 'number' ? `[${key}]` : String(key)));
  const tail = parts.reduce((text, part) => (part.startsWith('[') || text === '' ? text + part : `${text}.${part}`), '');
  if (prefix === '') return tail === '' ? '(top level)' : tail;
  if (tail === '') return prefix;
  return tail.startsWith('[') ? prefix + tail : `${prefix}.${tail}`;
}

/**
 * One line per problem: `field: received <value>; <what is expected>`. Unknown keys are listed
 * with the keys that are allowed, because a typo is the usual cause.
 */
export function formatSchemaIssues(
  error: z.ZodError,
  input: unknown,
  prefix = '',
  allowedKeys?: (path: readonly PropertyKey[]) => readonly string[] | undefined,
): string[] {
  return error.issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      const allowed = allowedKeys?.(issue.path);
      return issue.keys
        .map((key) => {
          const field = joinPath(prefix, [...issue.path, key]);
          const value = describeValue(valueAt(input, [...issue.path, key]));
          const hint = allowed && allowed.length > 0 ? `; allowed: ${allowed.join(', ')}` : '';
          return `${field}: unknown option (received ${value})${hint}`;
        })
        .join('\n');
    }
    const field = joinPath(prefix, issue.path);
    return `${field}: received ${describeValue(valueAt(input, issue.path))}; ${issue.message}`;
  });
}
