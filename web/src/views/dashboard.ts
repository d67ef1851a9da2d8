// The dashboard: volumes by category and source, time to action against
// the targets, open and overdue counts, for the last 7, 30 or 90 days.

import { api, ApiError } from '../api';
import { groupedBarChartWithTarget, stackedBarChart, type Series } from '../charts';
import { h, mount, s } from '../dom';
import { SOURCE_IDS, categoryName, formatDate, hours, int, sourceName } from '../format';
import type { Dashboard } from '../types';
import { hashParams, type AppContext, type View } from '../view';

const PERIODS = [7, 30, 90];

const SOURCE_COLORS: Record<string, string> = {
  scan_review: '#0072b2',
  guard: '#e69f00',
  ncii_report: '#009e73',
  appeal: '#cc79a7',
};
const SPARE_COLORS = ['#56b4e9', '#d55e00', '#6b7280', '#7c3aed'];

const PERCENTILES: Series[] = [
  { key: 'p50_hours', label: 'p50', color: '#9ecae1' },
  { key: 'p90_hours', label: 'p90', color: '#4292c6' },
  { key: 'p99_hours', label: 'p99', color: '#08519c' },
];

/** A colour key; an SVG square, so no inline style (a strict CSP holds). */
function swatch(color: string): SVGSVGElement {
  return s(
    'svg',
    { class: 'swatch', viewBox: '0 0 12 12', width: 12, height: 12, 'aria-hidden': 'true', focusable: 'false' },
    s('rect', { width: 12, height: 12, rx: 3, fill: color }),
  );
}

function legend(series: Series[]): HTMLElement {
  return h('ul', { class: 'legend' }, series.map((se) => h('li', {}, swatch(se.color), se.label)));
}

function sourcesOf(d: Dashboard): Series[] {
  const keys: string[] = [];
  const add = (k: string) => {
    if (!keys.includes(k)) keys.push(k);
  };
  for (const id of SOURCE_IDS) if (d.volumes.some((v) => v.source === id)) add(id);
  for (const v of d.volumes) add(v.source);
  let spare = 0;
  return keys.map((k) => ({
    key: k,
    label: sourceName(k),
    color: SOURCE_COLORS[k] ?? SPARE_COLORS[spare++ % SPARE_COLORS.length] ?? '#6b7280',
  }));
}

function volumesSection(d: Dashboard): HTMLElement {
  const series = sourcesOf(d);
  const categories: string[] = [];
  for (const v of d.volumes) if (!categories.includes(v.category)) categories.push(v.category);
  const count = (cat: string, src: string) =>
    d.volumes.filter((v) => v.category === cat && v.source === src).reduce((a, v) => a + v.count, 0);
  const total = (cat: string) => d.volumes.filter((v) => v.category === cat).reduce((a, v) => a + v.count, 0);
  categories.sort((a, b) => total(b) - total(a));
  const chart = stackedBarChart({
    title: 'Cases opened by category, stacked by source',
    testid: 'chart-volumes',
    groups: categories.map((c) => ({ key: c, label: categoryName(c) })),
    series,
    value: count,
    unit: 'cases',
  });
  const table = h(
    'table',
    { class: 'data compact' },
    h('caption', {}, 'Cases opened by category and source'),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', { scope: 'col' }, 'Category'),
        series.map((se) => h('th', { scope: 'col', class: 'num' }, se.label)),
        h('th', { scope: 'col', class: 'num' }, 'Total'),
      ),
    ),
    h(
      'tbody',
      {},
      categories.map((c) =>
        h(
          'tr',
          {},
          h('th', { scope: 'row' }, categoryName(c)),
          series.map((se) => h('td', { class: 'num' }, int(count(c, se.key)))),
          h('td', { class: 'num' }, int(total(c))),
        ),
      ),
    ),
  );
  return h(
    'section',
    { class: 'panel chart-panel', 'aria-labelledby': 'vol-title' },
    h('h2', { id: 'vol-title' }, 'Volumes'),
    h('p', { class: 'muted small' }, 'Cases opened in the period, by category, stacked by source.'),
    chart,
    series.length ? legend(series) : null,
    categories.length ? h('details', {}, h('summary', {}, 'Data table'), table) : null,
  );
}

function ttaSection(d: Dashboard): HTMLElement {
  const rows = d.time_to_action;
  const value = (src: string, key: string): number | null => {
    const r = rows.find((x) => x.source === src);
    if (!r) return null;
    const v = (r as unknown as Record<string, number | null | undefined>)[key];
    return typeof v === 'number' && Number.isFinite(v) ? v : null;
  };
  const chart = groupedBarChartWithTarget({
    title: 'Time to action by source: p50, p90 and p99 in hours against the target',
    testid: 'chart-tta',
    groups: rows.map((r) => ({
      key: r.source,
      label: sourceName(r.source),
      target: Number.isFinite(r.target_hours) ? r.target_hours : null,
      note: `${int(r.count)} closed`,
    })),
    series: PERCENTILES,
    value,
    unit: 'hours',
    format: hours,
  });
  const over = (v: number | null, target: number) => (v !== null && v > target ? h('span', { class: 'over-target' }, ' over') : null);
  const table = h(
    'table',
    { class: 'data compact' },
    h('caption', {}, 'Time to action by source (hours)'),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', { scope: 'col' }, 'Source'),
        h('th', { scope: 'col', class: 'num' }, 'Closed'),
        h('th', { scope: 'col', class: 'num' }, 'Target'),
        h('th', { scope: 'col', class: 'num' }, 'p50'),
        h('th', { scope: 'col', class: 'num' }, 'p90'),
        h('th', { scope: 'col', class: 'num' }, 'p99'),
      ),
    ),
    h(
      'tbody',
      {},
      rows.map((r) =>
        h(
          'tr',
          {},
          h('th', { scope: 'row' }, sourceName(r.source)),
          h('td', { class: 'num' }, int(r.count)),
          h('td', { class: 'num' }, hours(r.target_hours)),
          h('td', { class: 'num' }, hours(r.p50_hours), over(r.p50_hours, r.target_hours)),
          h('td', { class: 'num' }, hours(r.p90_hours), over(r.p90_hours, r.target_hours)),
          h('td', { class: 'num' }, hours(r.p99_hours), over(r.p99_hours, r.target_hours)),
        ),
      ),
    ),
  );
  return h(
    'section',
    { class: 'panel chart-panel', 'aria-labelledby': 'tta-title' },
    h('h2', { id: 'tta-title' }, 'Time to action'),
    h('p', { class: 'muted small' }, 'Hours from a case opening to its closing action, per source; the dashed line is the target.'),
    chart,
    h(
      'ul',
      { class: 'legend' },
      PERCENTILES.map((se) => h('li', {}, swatch(se.color), se.label)),
      h('li', {}, h('span', { class: 'swatch target-swatch', 'aria-hidden': 'true' }), 'target'),
    ),
    rows.length ? h('details', {}, h('summary', {}, 'Data table'), table) : null,
  );
}

export function dashboardView(ctx: AppContext): View {
  const p = Number(hashParams().get('days'));
  const days = PERIODS.includes(p) ? p : 30;

  const heading = h('h1', { id: 'page-title', tabindex: '-1' }, 'Dashboard');
  const period = h(
    'div',
    { class: 'segmented', role: 'group', 'aria-label': 'Period', 'data-testid': 'period' },
    PERIODS.map((n) => {
      const b = h(
        'button',
        { type: 'button', class: 'seg', 'aria-pressed': n === days ? 'true' : 'false', 'data-days': n },
        `${n} days`,
      );
      b.addEventListener('click', () => ctx.navigate(`#/dashboard?days=${n}`));
      return b;
    }),
  );
  const range = h('p', { class: 'muted count' }, `Last ${days} days`);
  const content = h('div', { class: 'dashboard', 'data-testid': 'dashboard' }, h('p', { class: 'muted' }, 'Loading…'));

  const el = h(
    'section',
    { class: 'view view-dashboard', 'aria-labelledby': 'page-title' },
    h('div', { class: 'page-head' }, h('div', {}, heading, range), h('div', { class: 'toolbar' }, h('span', { class: 'toolbar-label', 'aria-hidden': 'true' }, 'Period'), period)),
    content,
  );

  async function load(): Promise<void> {
    try {
      const d = await api.dashboard(days);
      d.volumes = d.volumes ?? [];
      d.time_to_action = d.time_to_action ?? [];
      range.textContent = `${formatDate(d.from)} – ${formatDate(d.to)}`;
      mount(
        content,
        h(
          'div',
          { class: 'cards' },
          h(
            'div',
            { class: 'card', 'data-testid': 'open-cases' },
            h('div', { class: 'card-label' }, 'Open cases'),
            h('div', { class: 'card-value' }, int(d.open_cases)),
          ),
          h(
            'div',
            { class: `card${d.overdue_cases > 0 ? ' card-alert' : ''}`, 'data-testid': 'overdue-cases' },
            h('div', { class: 'card-label' }, 'Overdue cases'),
            h('div', { class: 'card-value' }, int(d.overdue_cases)),
          ),
          h(
            'div',
            { class: 'card' },
            h('div', { class: 'card-label' }, 'Opened in period'),
            h('div', { class: 'card-value' }, int(d.volumes.reduce((a, v) => a + v.count, 0))),
          ),
        ),
        h('div', { class: 'charts' }, volumesSection(d), ttaSection(d)),
      );
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return;
      mount(content, h('div', { class: 'inline-error', role: 'alert' }, `Could not load the dashboard: ${(e as Error).message}`));
    }
  }
  void load();
  return { el, title: 'Dashboard' };
}
