/**
 * Metric-key names for class names: MLflow's UI groups charts by the part of a key before a "/",
 * so "T-shirt/top" would open a section of its own. Anything but letters, digits, "_", "-", "."
 * and spaces becomes "_"; names that collide get "_2", "_3" …. The mapping is recorded with the run.
 */
export function classMetricKeys(classNames: readonly string[]): Record<string, string> {
  const used = new Set<string>();
  const keys: Record<string, string> = {};
  for (const name of classNames) {
    const base = name.replace(/[^\p{L}\p{N}_\-. ]/gu, '_').trim() || 'class';
    let key = base;
    for (let n = 2; used.has(key); n++) key = `${base}_${n}`;
    used.add(key);
    keys[name] = key;
  }
  return keys;
}
