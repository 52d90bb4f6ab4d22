import { createHash } from 'node:crypto';
import type { ExperimentSpec } from '@thaw/contracts';

/** Dotted keys for every leaf (`strategy.unfreeze`, `augment.0.op`); lists of plain values stay whole, as JSON. */
export function flattenSpec(value: unknown, prefix = ''): Record<string, string> {
  const out: Record<string, string> = {};
  const visit = (node: unknown, path: string) => {
    if (Array.isArray(node) && node.some((item) => item !== null && typeof item === 'object')) {
      node.forEach((item, index) => visit(item, `${path}.${index}`));
    } else if (node !== null && typeof node === 'object' && !Array.isArray(node)) {
      for (const [key, child] of Object.entries(node)) visit(child, path === '' ? key : `${path}.${key}`);
    } else if (node !== undefined) {
      out[path] = typeof node === 'string' ? node : JSON.stringify(node);
    }
  };
  visit(value, prefix);
  return out;
}

/** Hash of what a trial computes: the resolved spec without its name, description, tracking, sweep and cache switch. */
export function configHash(spec: ExperimentSpec): string {
  const { name: _name, description: _description, tracking: _tracking, sweep: _sweep, ...rest } = spec;
  const { cacheFrozen: _cacheFrozen, ...train } = rest.train;
  const canonical = JSON.stringify(sortKeys({ ...rest, train }));
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => [k, sortKeys(v)]),
    );
  }
  return value;
}
