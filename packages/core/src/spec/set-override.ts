import { parse } from 'yaml';
import { ThawError, describeValue } from '@thaw/contracts';

/** Splits `a.b[0].c` into ['a', 'b', 0, 'c']. */
export function parseSpecPath(path: string): (string | number)[] {
  if (!/^[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*|\[\d+\]|\.\d+)*$/.test(path)) {
    throw new ThawError(`spec path: received ${describeValue(path)}; expected dotted keys such as train.epochs or augment[0].factor`);
  }
  return path
    .replace(/\[(\d+)\]/g, '.$1')
    .split('.')
    .map((part) => (/^\d+$/.test(part) ? Number(part) : part));
}

/**
 * Applies `path=value` to a raw (not yet validated) spec. The value is read as YAML, so
 * `2` is a number, `all` a string and `[1, 2]` a list, as they would be in the file.
 */
export function applySetOverride(raw: Record<string, unknown>, assignment: string): void {
  const equals = assignment.indexOf('=');
  if (equals <= 0) {
    throw new ThawError(`--set: received ${describeValue(assignment)}; expected path=value, e.g. strategy.unfreeze=2`);
  }
  const text = assignment.slice(equals + 1);
  let value: unknown;
  try {
    value = parse(text) as unknown;
  } catch {
    value = text;
  }
  setSpecValue(raw, assignment.slice(0, equals).trim(), value, `--set ${assignment}`);
}

/** Sets the value at a dotted path of a raw spec, creating the objects on the way. */
export function setSpecValue(raw: Record<string, unknown>, path: string, value: unknown, where = path): void {
  const keys = parseSpecPath(path);
  let target: Record<string | number, unknown> = raw;
  keys.slice(0, -1).forEach((key, index) => {
    const next = target[key];
    if (next === undefined || next === null) {
      target[key] = typeof keys[index + 1] === 'number' ? [] : {};
    } else if (typeof next !== 'object') {
      const at = keys.slice(0, index + 1).join('.');
      throw new ThawError(`${where}: ${at} holds ${describeValue(next)}, which has no field ${String(keys[index + 1])}`);
    }
    target = target[key] as Record<string | number, unknown>;
  });
  target[keys[keys.length - 1]!] = value;
}
