import { lineChartSvg, type ChartSeries } from '../results/charts.js';
import type { SweepRow } from './sweep-runner.js';

/** What a sweep plot needs: the swept paths and the metric. */
export interface SweepShape {
  readonly paths: readonly string[];
  readonly metric: { readonly name: string; readonly goal: 'max' | 'min' };
}

const DEPTH_PATHS = ['strategy.unfreeze', 'strategy.n'];
/** What the x axis says for a depth path. */
const DEPTH_LABELS: Record<string, { title: string; axis: string }> = {
  'strategy.unfreeze': { title: 'unfreeze depth', axis: 'unfrozen units of the base (0 = feature extraction)' },
  'strategy.n': { title: 'units copied (n)', axis: 'units copied from the base, from the input up (transfer-n)' },
};
const REPEAT_PATHS = ['seed'];

function label(value: unknown): string {
  return typeof value === 'string' ? value : (JSON.stringify(value) ?? '');
}

/** Numbers first in order, then words ('all' after the depths). */
export function compareValues(a: unknown, b: unknown): number {
  const x = typeof a === 'number' ? a : Number.NaN;
  const y = typeof b === 'number' ? b : Number.NaN;
  if (!Number.isNaN(x) && !Number.isNaN(y)) return x - y;
  if (!Number.isNaN(x)) return -1;
  if (!Number.isNaN(y)) return 1;
  return label(a).localeCompare(label(b));
}

/**
 * The sweep's metric against unfreeze depth (or the first swept path when depth is not swept):
 * one line per combination of the other swept values, the mean over seeds with a band of ± one
 * standard deviation. Undefined when nothing but seeds is swept.
 */
export function sweepPlotSvg(title: string, shape: SweepShape, rows: readonly SweepRow[]): string | undefined {
  const xPath = shape.paths.find((p) => DEPTH_PATHS.includes(p)) ?? shape.paths.find((p) => !REPEAT_PATHS.includes(p));
  if (xPath === undefined || rows.length === 0) return undefined;
  const xValues = [...new Map(rows.map((row) => [label(row.values[xPath]), row.values[xPath]])).values()].sort(compareValues);
  const position = new Map(xValues.map((value, index) => [label(value), index]));
  const others = shape.paths.filter((p) => p !== xPath && !REPEAT_PATHS.includes(p));
  const groups = new Map<string, SweepRow[]>();
  for (const row of rows) {
    const key = others.map((p) => `${p.split('.').pop()!}=${label(row.values[p])}`).join(', ') || shape.metric.name;
    groups.set(key, [...(groups.get(key) ?? []), row]);
  }
  const series: ChartSeries[] = [...groups].map(([name, members]) => {
    const byX = new Map<number, number[]>();
    for (const row of members) {
      if (!Number.isFinite(row.metric)) continue;
      const x = position.get(label(row.values[xPath]))!;
      byX.set(x, [...(byX.get(x) ?? []), row.metric]);
    }
    const points = [...byX]
      .sort(([a], [b]) => a - b)
      .map(([x, values]) => {
        const mean = values.reduce((sum, v) => sum + v, 0) / values.length;
        const spread = Math.sqrt(values.reduce((sum, v) => sum + (v - mean) ** 2, 0) / values.length);
        return { x, y: mean, spread };
      });
    return { name, points };
  });
  const repeats = shape.paths.some((p) => REPEAT_PATHS.includes(p)) ? ' (mean ± std over seeds)' : '';
  return lineChartSvg({
    title: `${title}: ${shape.metric.name} by ${DEPTH_LABELS[xPath]?.title ?? xPath}`,
    xLabel: DEPTH_LABELS[xPath]?.axis ?? xPath,
    yLabel: `${shape.metric.name}${repeats}`,
    series,
    xTicks: xValues.map((value, index) => ({ x: index, label: label(value) })),
  });
}
