// The report ledger (GET /v1/reports): every report to the NCA and NCMEC
// made in the period, newest first, with where it stands. For compliance
// officers and senior moderators; read-only.

import { api } from '../api';
import { h, mount } from '../dom';
import { formatDate } from '../format';
import type { ReportRecord } from '../types';
import { hashParams, type AppContext, type View } from '../view';

const PERIODS = [7, 30, 90, 365];

const DESTINATIONS: Record<string, string> = { nca: 'NCA', ncmec: 'NCMEC' };
const STATES: Record<string, string> = {
  pending: 'Pending',
  sent: 'Sent',
  failed: 'Failed',
  retracted: 'Retracted',
};

function stateBadge(state: string): HTMLElement {
  return h('span', { class: `badge report-${state}`, 'data-state': state }, STATES[state] ?? state);
}

function row(r: ReportRecord): HTMLElement {
  return h(
    'tr',
    { 'data-testid': 'report-row', 'data-report': r.id },
    h('td', { class: 'num' }, String(r.id)),
    h('td', {}, h('a', { href: `#/case/${r.case}` }, `#${r.case}`)),
    h('td', {}, DESTINATIONS[r.destination] ?? r.destination),
    h('td', {}, stateBadge(r.state)),
    h('td', { class: 'num' }, r.priority ? String(r.priority) : '–'),
    h('td', { class: 'mono' }, r.external_id ?? '–'),
    h('td', {}, formatDate(r.created)),
    h('td', {}, r.sent ? formatDate(r.sent) : '–'),
    h('td', { class: 'error-text' }, r.error ?? ''),
  );
}

export function reportsView(ctx: AppContext): View {
  const p = Number(hashParams().get('days'));
  const days = PERIODS.includes(p) ? p : 30;
  const heading = h('h1', { id: 'page-title', tabindex: '-1' }, 'Reports');
  const period = h(
    'div',
    { class: 'segmented', role: 'group', 'aria-label': 'Period' },
    PERIODS.map((n) => {
      const b = h(
        'button',
        { type: 'button', class: 'seg', 'aria-pressed': n === days ? 'true' : 'false' },
        `${n} days`,
      );
      b.addEventListener('click', () => ctx.navigate(`#/reports?days=${n}`));
      return b;
    }),
  );
  const summary = h('p', { class: 'muted count' }, 'Loading…');
  const body = h('div', { 'data-testid': 'reports' });
  const el = h(
    'section',
    { class: 'view view-reports', 'aria-labelledby': 'page-title' },
    h('div', { class: 'page-head' }, h('div', {}, heading, summary), h('div', { class: 'toolbar' }, period)),
    body,
  );

  async function load(): Promise<void> {
    try {
      const list = (await api.reports(days)).reports ?? [];
      const failed = list.filter((r) => r.state === 'failed').length;
      summary.textContent =
        `${list.length} report${list.length === 1 ? '' : 's'} in the last ${days} days` +
        (failed > 0 ? `, ${failed} failed: see the reason and report by hand` : '');
      if (list.length === 0) {
        mount(body, h('p', { class: 'empty' }, 'No reports in this period.'));
        return;
      }
      mount(
        body,
        h(
          'div',
          { class: 'table-wrap' },
          h(
          'table',
          { class: 'data' },
          h('caption', {}, 'Reports to the NCA and NCMEC, newest first'),
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ['Report', 'Case', 'To', 'State', 'Priority', 'Reference', 'Made', 'Sent', 'Why it failed'].map((t) =>
                h('th', { scope: 'col' }, t),
              ),
            ),
          ),
          h('tbody', {}, list.map(row)),
        ),
        ),
      );
    } catch (e) {
      summary.textContent = '';
      mount(body, h('p', { class: 'error-text', role: 'alert' }, e instanceof Error ? e.message : String(e)));
    }
  }
  void load();
  return { el, title: 'Reports' };
}
