// Small inline SVG charts: no chart library. Every chart has a text
// alternative (a title, and a data table next to it in the page).

import { s } from './dom';

export interface Series {
  key: string;
  label: string;
  color: string;
}

/** Ticks from 0 to a round maximum at or above `max`; whole numbers only when `integer` (counts). */
export function niceTicks(max: number, count = 5, integer = false): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  let step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((st) => st >= raw) ?? 10 * mag;
  if (integer) step = Math.max(1, Math.ceil(step));
  const ticks: number[] = [];
  for (let v = 0; v < max + step * 0.999; v += step) ticks.push(Math.round(v * 1e6) / 1e6);
  if (ticks.length < 2) ticks.push(step);
  return ticks;
}

const W = 640;
const H = 300;
const M = { top: 16, right: 16, bottom: 56, left: 52 };

function tickLabel(v: number): string {
  if (v >= 1000) return `${Math.round(v / 100) / 10}k`;
  return String(Math.round(v * 10) / 10);
}

function frame(title: string, testid: string): SVGSVGElement {
  return s(
    'svg',
    {
      viewBox: `0 0 ${W} ${H}`,
      class: 'chart',
      role: 'img',
      'aria-label': title,
      'data-testid': testid,
      preserveAspectRatio: 'xMidYMid meet',
    },
    s('title', {}, title),
  );
}

function yAxis(svg: SVGSVGElement, ticks: number[], y: (v: number) => number, unit: string): void {
  for (const t of ticks) {
    const yy = y(t);
    svg.append(
      s('line', { x1: M.left, x2: W - M.right, y1: yy, y2: yy, class: t === 0 ? 'axis' : 'grid' }),
      s('text', { x: M.left - 8, y: yy, class: 'tick', 'text-anchor': 'end', 'dominant-baseline': 'middle' }, tickLabel(t)),
    );
  }
  if (unit) {
    svg.append(
      s('text', { x: 12, y: M.top + (H - M.top - M.bottom) / 2, class: 'unit', transform: `rotate(-90 12 ${M.top + (H - M.top - M.bottom) / 2})`, 'text-anchor': 'middle' }, unit),
    );
  }
}

function empty(svg: SVGSVGElement, text: string): SVGSVGElement {
  svg.append(
    s('line', { x1: M.left, x2: W - M.right, y1: H - M.bottom, y2: H - M.bottom, class: 'axis' }),
    s('text', { x: W / 2, y: H / 2, class: 'empty-text', 'text-anchor': 'middle' }, text),
  );
  return svg;
}

/** Truncates an axis label to fit its slot. */
function fit(label: string, width: number): string {
  const max = Math.max(3, Math.floor(width / 7));
  return label.length > max ? label.slice(0, max - 1) + '…' : label;
}

/**
 * Bars per group (x), each stacked from the series' values:
 * value(group, series) gives a count.
 */
export function stackedBarChart(opts: {
  title: string;
  testid: string;
  groups: Array<{ key: string; label: string }>;
  series: Series[];
  value: (group: string, series: string) => number;
  unit: string;
}): SVGSVGElement {
  const svg = frame(opts.title, opts.testid);
  const totals = opts.groups.map((g) => opts.series.reduce((sum, se) => sum + opts.value(g.key, se.key), 0));
  const max = Math.max(0, ...totals);
  if (opts.groups.length === 0 || max === 0) return empty(svg, 'No cases in this period');
  const ticks = niceTicks(max, 5, true);
  const top = ticks[ticks.length - 1] ?? max;
  const plotH = H - M.top - M.bottom;
  const y = (v: number) => M.top + plotH - (v / top) * plotH;
  yAxis(svg, ticks, y, opts.unit);
  const slot = (W - M.left - M.right) / opts.groups.length;
  const barW = Math.min(64, slot * 0.6);
  opts.groups.forEach((g, i) => {
    const x = M.left + slot * i + (slot - barW) / 2;
    let base = 0;
    for (const se of opts.series) {
      const v = opts.value(g.key, se.key);
      if (v <= 0) continue;
      const y0 = y(base);
      const y1 = y(base + v);
      svg.append(
        s(
          'rect',
          { x, y: y1, width: barW, height: Math.max(0.5, y0 - y1), fill: se.color, class: 'bar', 'data-series': se.key },
          s('title', {}, `${g.label}, ${se.label}: ${v}`),
        ),
      );
      base += v;
    }
    svg.append(
      s('text', { x: x + barW / 2, y: y(base) - 6, class: 'value', 'text-anchor': 'middle' }, String(totals[i] ?? 0)),
      s('text', { x: x + barW / 2, y: H - M.bottom + 18, class: 'label', 'text-anchor': 'middle' }, fit(g.label, slot)),
    );
  });
  return svg;
}

/**
 * Groups of bars (one per series) with a dashed target line across each
 * group: value(group, series) may be null (no data).
 */
export function groupedBarChartWithTarget(opts: {
  title: string;
  testid: string;
  groups: Array<{ key: string; label: string; target: number | null; note?: string }>;
  series: Series[];
  value: (group: string, series: string) => number | null;
  unit: string;
  format: (v: number) => string;
}): SVGSVGElement {
  const svg = frame(opts.title, opts.testid);
  let max = 0;
  for (const g of opts.groups) {
    if (g.target !== null && g.target > max) max = g.target;
    for (const se of opts.series) {
      const v = opts.value(g.key, se.key);
      if (v !== null && v > max) max = v;
    }
  }
  if (opts.groups.length === 0 || max === 0) return empty(svg, 'No closed cases in this period');
  const ticks = niceTicks(max * 1.05);
  const top = ticks[ticks.length - 1] ?? max;
  const plotH = H - M.top - M.bottom;
  const y = (v: number) => M.top + plotH - (Math.min(v, top) / top) * plotH;
  yAxis(svg, ticks, y, opts.unit);
  const slot = (W - M.left - M.right) / opts.groups.length;
  const groupW = Math.min(150, slot * 0.75);
  const barW = groupW / opts.series.length;
  opts.groups.forEach((g, i) => {
    const gx = M.left + slot * i + (slot - groupW) / 2;
    opts.series.forEach((se, j) => {
      const v = opts.value(g.key, se.key);
      const x = gx + j * barW + 1;
      if (v === null) {
        svg.append(s('text', { x: x + (barW - 2) / 2, y: y(0) - 6, class: 'na', 'text-anchor': 'middle' }, 'n/a'));
        return;
      }
      const over = g.target !== null && v > g.target;
      svg.append(
        s(
          'rect',
          {
            x,
            y: y(v),
            width: Math.max(1, barW - 2),
            height: Math.max(0.5, y(0) - y(v)),
            fill: se.color,
            class: over ? 'bar over' : 'bar',
            'data-series': se.key,
          },
          s('title', {}, `${g.label}, ${se.label}: ${opts.format(v)}${g.target !== null ? ` (target ${opts.format(g.target)})` : ''}`),
        ),
      );
    });
    if (g.target !== null) {
      const ty = y(g.target);
      svg.append(
        s(
          'line',
          { x1: gx - 6, x2: gx + groupW + 6, y1: ty, y2: ty, class: 'target', 'data-testid': 'target-line' },
          s('title', {}, `${g.label}: target ${opts.format(g.target)}`),
        ),
      );
    }
    svg.append(
      s('text', { x: gx + groupW / 2, y: H - M.bottom + 18, class: 'label', 'text-anchor': 'middle' }, fit(g.label, slot)),
    );
    const subs = [g.note ?? '', g.target !== null ? `target ${opts.format(g.target)}` : ''].filter(Boolean);
    subs.forEach((t, k) => {
      svg.append(
        s('text', { x: gx + groupW / 2, y: H - M.bottom + 33 + k * 14, class: k === 1 ? 'sublabel target-text' : 'sublabel', 'text-anchor': 'middle' }, fit(t, slot * 1.15)),
      );
    });
  });
  return svg;
}
