import { Resvg } from '@resvg/resvg-js';

/** Small SVG charts for run artifacts (learning curves, confusion matrix, sweep plots), and their PNG. */

export interface ChartPoint {
  readonly x: number;
  readonly y: number;
  /** Half-width of a band around y (e.g. the spread over seeds); drawn when > 0. */
  readonly spread?: number;
}

export interface ChartSeries {
  readonly name: string;
  readonly points: readonly ChartPoint[];
  readonly dashed?: boolean;
}

export interface LineChart {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly ChartSeries[];
  /** Names for x positions (categorical axes such as unfreeze depth "0, 1, 2, all"). */
  readonly xTicks?: readonly { readonly x: number; readonly label: string }[];
  /** Vertical markers with a label (e.g. where a phase begins). */
  readonly markers?: readonly { readonly x: number; readonly label: string }[];
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
const WIDTH = 720;
const HEIGHT = 420;
const MARGIN = { left: 70, right: 180, top: 44, bottom: 56 };

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * A title shortened (in the middle, with "…") to fit a width: DejaVu Sans Bold at `size` px runs
 * about 0.62 em per character, so the PNG never clips it.
 */
export function fitTitle(title: string, width: number, size = 15): string {
  const fits = Math.floor(width / (0.62 * size));
  if (title.length <= fits) return title;
  const keep = Math.max(4, fits - 1);
  return `${title.slice(0, Math.ceil(keep / 2))}…${title.slice(title.length - Math.floor(keep / 2))}`;
}

/** Whole-number ticks (epochs, counted from 1): never a half epoch. */
export function integerTicks(min: number, max: number, count = 10): { x: number; label: string }[] {
  const step = Math.max(1, Math.ceil((max - min) / count));
  const ticks: { x: number; label: string }[] = [];
  for (let x = Math.ceil(min); x <= max; x += step) ticks.push({ x, label: String(x) });
  return ticks;
}

function niceTicks(min: number, max: number, count = 5): number[] {
  if (!(max > min)) return [min];
  const raw = (max - min) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw;
  const ticks: number[] = [];
  for (let t = Math.ceil(min / step) * step; t <= max + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

function formatTick(value: number): string {
  return Math.abs(value) >= 1000 || (Math.abs(value) < 0.01 && value !== 0) ? value.toExponential(1) : String(Number(value.toPrecision(4)));
}

export function lineChartSvg(chart: LineChart): string {
  const finite = chart.series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  const xs = finite.map((p) => p.x);
  const ys = finite.flatMap((p) => [p.y - (p.spread ?? 0), p.y + (p.spread ?? 0)]);
  let [xMin, xMax] = xs.length ? [Math.min(...xs), Math.max(...xs)] : [0, 1];
  let [yMin, yMax] = ys.length ? [Math.min(...ys), Math.max(...ys)] : [0, 1];
  if (xMax === xMin) [xMin, xMax] = [xMin - 0.5, xMax + 0.5];
  if (yMax === yMin) [yMin, yMax] = [yMin - 0.5, yMax + 0.5];
  const pad = (yMax - yMin) * 0.05;
  [yMin, yMax] = [yMin - pad, yMax + pad];
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const sx = (x: number) => MARGIN.left + ((x - xMin) / (xMax - xMin)) * plotW;
  const sy = (y: number) => MARGIN.top + (1 - (y - yMin) / (yMax - yMin)) * plotH;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="DejaVu Sans, Arial, sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${escape(fitTitle(chart.title, WIDTH - 20))}</text>`,
  ];
  for (const tick of niceTicks(yMin, yMax)) {
    out.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${sy(tick)}" y2="${sy(tick)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${MARGIN.left - 6}" y="${sy(tick) + 4}" text-anchor="end">${formatTick(tick)}</text>`);
  }
  const xTicks = chart.xTicks ?? niceTicks(xMin, xMax).map((x) => ({ x, label: formatTick(x) }));
  for (const tick of xTicks) {
    out.push(`<line x1="${sx(tick.x)}" x2="${sx(tick.x)}" y1="${MARGIN.top + plotH}" y2="${MARGIN.top + plotH + 5}" stroke="#333"/>`);
    out.push(`<text x="${sx(tick.x)}" y="${MARGIN.top + plotH + 18}" text-anchor="middle">${escape(tick.label)}</text>`);
  }
  for (const marker of chart.markers ?? []) {
    out.push(
      `<line x1="${sx(marker.x)}" x2="${sx(marker.x)}" y1="${MARGIN.top}" y2="${MARGIN.top + plotH}" stroke="#999" stroke-dasharray="4 3"/>`,
    );
    out.push(`<text x="${sx(marker.x) + 4}" y="${MARGIN.top + 12}" fill="#666" font-size="11">${escape(marker.label)}</text>`);
  }
  out.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 14}" text-anchor="middle">${escape(chart.xLabel)}</text>`);
  out.push(
    `<text x="16" y="${MARGIN.top + plotH / 2}" text-anchor="middle" transform="rotate(-90 16 ${MARGIN.top + plotH / 2})">${escape(chart.yLabel)}</text>`,
  );
  chart.series.forEach((series, index) => {
    const color = COLORS[index % COLORS.length]!;
    const points = series.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
    if (points.some((p) => (p.spread ?? 0) > 0)) {
      const upper = points.map((p) => `${sx(p.x)},${sy(p.y + (p.spread ?? 0))}`);
      const lower = [...points].reverse().map((p) => `${sx(p.x)},${sy(p.y - (p.spread ?? 0))}`);
      out.push(`<polygon points="${[...upper, ...lower].join(' ')}" fill="${color}" fill-opacity="0.15" stroke="none"/>`);
    }
    const dash = series.dashed ? ' stroke-dasharray="6 4"' : '';
    out.push(
      `<polyline points="${points.map((p) => `${sx(p.x)},${sy(p.y)}`).join(' ')}" fill="none" stroke="${color}" stroke-width="2"${dash}/>`,
    );
    for (const p of points) out.push(`<circle cx="${sx(p.x)}" cy="${sy(p.y)}" r="3" fill="${color}"/>`);
    const ly = MARGIN.top + 10 + index * 18;
    const lx = MARGIN.left + plotW + 14;
    out.push(`<line x1="${lx}" x2="${lx + 22}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2"${dash}/>`);
    out.push(`<text x="${lx + 28}" y="${ly + 4}">${escape(series.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

/** A confusion matrix as a heat map: rows are true classes, columns predicted ones. */
export function confusionMatrixSvg(title: string, classNames: readonly string[], matrix: readonly (readonly number[])[]): string {
  const n = classNames.length;
  const cell = Math.max(28, Math.min(56, Math.floor(480 / Math.max(1, n))));
  const top = 60;
  // Wide enough for its title (within reason: a longer one is shortened to fit), the matrix centred.
  const matrixWidth = 130 + n * cell + 30;
  const width = Math.max(matrixWidth, Math.min(720, Math.ceil(title.length * 0.62 * 15) + 20));
  const left = 130 + Math.floor((width - matrixWidth) / 2);
  const height = top + n * cell + 120;
  const max = Math.max(1, ...matrix.flat());
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Arial, sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${escape(fitTitle(title, width - 20))}</text>`,
    `<text x="${left + (n * cell) / 2}" y="${top + n * cell + 110}" text-anchor="middle" font-size="12">predicted class</text>`,
    `<text x="14" y="${top + (n * cell) / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 14 ${top + (n * cell) / 2})">true class</text>`,
  ];
  matrix.forEach((row, i) => {
    out.push(`<text x="${left - 6}" y="${top + i * cell + cell / 2 + 4}" text-anchor="end">${escape(classNames[i] ?? String(i))}</text>`);
    row.forEach((count, j) => {
      const shade = count / max;
      const fill = `rgb(${Math.round(255 - 224 * shade)},${Math.round(255 - 136 * shade)},${Math.round(255 - 75 * shade)})`;
      out.push(`<rect x="${left + j * cell}" y="${top + i * cell}" width="${cell}" height="${cell}" fill="${fill}" stroke="#ddd"/>`);
      out.push(
        `<text x="${left + j * cell + cell / 2}" y="${top + i * cell + cell / 2 + 4}" text-anchor="middle" fill="${shade > 0.55 ? 'white' : 'black'}">${count}</text>`,
      );
    });
  });
  classNames.forEach((name, j) => {
    const x = left + j * cell + cell / 2;
    const y = top + n * cell + 8;
    out.push(`<text x="${x}" y="${y}" text-anchor="end" transform="rotate(-45 ${x} ${y})">${escape(name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

/** Renders an SVG to PNG (text in the system's fonts). */
export function svgToPng(svg: string): Uint8Array {
  return new Resvg(svg, { font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' }, background: 'white' }).render().asPng();
}

/** Charts one above the other, as one picture. */
export function stackSvgs(svgs: readonly string[]): string {
  const sizes = svgs.map((svg) => ({
    width: Number(/width="(\d+)"/.exec(svg)?.[1] ?? WIDTH),
    height: Number(/height="(\d+)"/.exec(svg)?.[1] ?? HEIGHT),
  }));
  const width = Math.max(...sizes.map((s) => s.width));
  const height = sizes.reduce((sum, s) => sum + s.height, 0);
  let y = 0;
  const parts = svgs.map((svg, index) => {
    const part = svg.replace('<svg ', `<svg x="0" y="${y}" `);
    y += sizes[index]!.height;
    return part;
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    ...parts,
    '</svg>',
  ].join('\n');
}
