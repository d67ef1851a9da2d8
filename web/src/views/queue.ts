// The queue: open cases, most urgent first (the server's order).

import { api, ApiError } from '../api';
import { h, mount } from '../dom';
import {
  SOURCE_IDS,
  categoryName,
  compact,
  deadlineBadge,
  duration,
  int,
  parseTime,
  sourceName,
  stateBadge,
} from '../format';
import type { CaseSummary } from '../types';
import { hashParams, nav, type AppContext, type View } from '../view';

/** The case last selected, so coming back from a case keeps the place. */
let lastSelectedId: number | null = null;

export function queueView(ctx: AppContext): View {
  const params = hashParams();
  const source = params.get('source') ?? '';
  nav.queueHash = source ? `#/queue?source=${encodeURIComponent(source)}` : '#/queue';
  let cases: CaseSummary[] = [];
  let selected = -1;
  let loaded = false;

  const heading = h('h1', { id: 'page-title', tabindex: '-1' }, 'Queue');
  const count = h('p', { class: 'muted count', 'aria-live': 'polite', 'data-testid': 'queue-count' }, 'Loading…');
  const sourceSelect = h(
    'select',
    { id: 'queue-source', name: 'source', 'data-testid': 'queue-source' },
    h('option', { value: '' }, 'All sources'),
    SOURCE_IDS.map((id) => h('option', { value: id, selected: id === source }, sourceName(id))),
  );
  sourceSelect.addEventListener('change', () => {
    const v = sourceSelect.value;
    ctx.navigate(v ? `#/queue?source=${encodeURIComponent(v)}` : '#/queue');
  });
  const refresh = h('button', { type: 'button', class: 'btn btn-secondary', 'data-testid': 'queue-refresh' }, 'Refresh');
  refresh.addEventListener('click', () => void load());

  const body = h('div', { class: 'table-wrap' });
  // Tabbing to a row's link selects the row.
  body.addEventListener('focusin', (e) => {
    const tr = (e.target as HTMLElement).closest('tbody tr');
    if (!tr) return;
    const i = Array.from(tr.parentElement?.children ?? []).indexOf(tr);
    if (i >= 0 && i !== selected) select(i);
  });
  const error = h('div', { class: 'inline-error', role: 'alert', hidden: true });

  const el = h(
    'section',
    { class: 'view view-queue', 'aria-labelledby': 'page-title' },
    h(
      'div',
      { class: 'page-head' },
      h('div', {}, heading, count),
      h(
        'div',
        { class: 'toolbar' },
        h('label', { for: 'queue-source' }, 'Source'),
        sourceSelect,
        refresh,
      ),
    ),
    error,
    body,
    h(
      'p',
      { class: 'hint muted' },
      'Keys: ',
      h('kbd', {}, 'j'),
      ' / ',
      h('kbd', {}, 'k'),
      ' move, ',
      h('kbd', {}, 'Enter'),
      ' opens, ',
      h('kbd', {}, '?'),
      ' shows all shortcuts.',
    ),
  );

  function row(c: CaseSummary, i: number, now: number): HTMLTableRowElement {
    const open = () => ctx.navigate(`#/case/${c.id}`);
    const tr = h(
      'tr',
      {
        'data-testid': 'queue-row',
        'data-case-id': c.id,
        'data-selected': i === selected ? 'true' : 'false',
        'aria-current': i === selected ? 'true' : undefined,
        class: i === selected ? 'selected' : undefined,
      },
      h('td', { class: 'num priority' }, c.priority.toFixed(1)),
      h(
        'th',
        { scope: 'row' },
        h('a', { href: `#/case/${c.id}`, 'data-testid': 'case-link' }, `#${c.id}`),
      ),
      h('td', {}, sourceName(c.source)),
      h(
        'td',
        {},
        h('span', { class: 'category' }, categoryName(c.category)),
        ' ',
        h('span', { class: `badge sev sev-${c.severity}`, title: `Severity ${c.severity} (1 is most severe)` }, `S${c.severity}`),
      ),
      h('td', { class: 'subject mono', title: c.subject }, c.subject || '—'),
      h('td', { class: 'num', title: `${int(c.reach)} views and shares` }, compact(c.reach)),
      h('td', { class: 'num' }, duration(now - parseTime(c.created))),
      h('td', {}, deadlineBadge(c.deadline, c.state, now)),
      h('td', {}, c.state === 'open' ? h('span', { class: 'muted' }, 'Open') : stateBadge(c.state)),
      h(
        'td',
        { class: 'center' },
        c.trusted_flagger
          ? h('span', { class: 'badge trusted', title: 'Reported by a trusted flagger', 'data-testid': 'trusted-flagger' }, 'Trusted')
          : h('span', { class: 'visually-hidden' }, 'No'),
      ),
    );
    tr.addEventListener('click', (e) => {
      if ((e.target as HTMLElement).closest('a')) return;
      select(i);
      open();
    });
    return tr;
  }

  function render(): void {
    const now = Date.now();
    if (!loaded) return;
    count.textContent =
      cases.length === 0 ? 'No open cases.' : `${int(cases.length)} open case${cases.length === 1 ? '' : 's'}, most urgent first`;
    if (cases.length === 0) {
      mount(body, h('div', { class: 'empty', 'data-testid': 'queue-empty' }, 'The queue is clear.'));
      return;
    }
    const table = h(
      'table',
      { class: 'data queue', 'data-testid': 'queue-table' },
      h('caption', { class: 'visually-hidden' }, 'Open cases, most urgent first'),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', { scope: 'col', class: 'num' }, 'Priority'),
          h('th', { scope: 'col' }, 'Case'),
          h('th', { scope: 'col' }, 'Source'),
          h('th', { scope: 'col' }, 'Category'),
          h('th', { scope: 'col' }, 'Subject'),
          h('th', { scope: 'col', class: 'num' }, 'Reach'),
          h('th', { scope: 'col', class: 'num' }, 'Age'),
          h('th', { scope: 'col' }, 'Deadline'),
          h('th', { scope: 'col' }, 'State'),
          h('th', { scope: 'col', class: 'center' }, 'Flagger'),
        ),
      ),
      h('tbody', {}, cases.map((c, i) => row(c, i, now))),
    );
    mount(body, table);
  }

  function select(i: number, scroll = false): void {
    if (cases.length === 0) return;
    selected = Math.max(0, Math.min(cases.length - 1, i));
    lastSelectedId = cases[selected]?.id ?? null;
    const rows = body.querySelectorAll<HTMLTableRowElement>('tbody tr');
    rows.forEach((r, j) => {
      r.classList.toggle('selected', j === selected);
      r.dataset.selected = j === selected ? 'true' : 'false';
      if (j === selected) r.setAttribute('aria-current', 'true');
      else r.removeAttribute('aria-current');
    });
    const r = rows[selected];
    if (r && scroll) {
      r.scrollIntoView({ block: 'nearest' });
      r.querySelector('a')?.focus({ preventScroll: true });
    }
  }

  async function load(): Promise<void> {
    error.hidden = true;
    refresh.disabled = true;
    try {
      const list = await api.queue({ source });
      cases = list.cases ?? [];
      loaded = true;
      const keep = cases.findIndex((c) => c.id === lastSelectedId);
      selected = cases.length === 0 ? -1 : keep >= 0 ? keep : 0;
      render();
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return;
      loaded = true;
      count.textContent = '';
      error.hidden = false;
      error.textContent = `Could not load the queue: ${(e as Error).message}`;
      mount(body);
    } finally {
      refresh.disabled = false;
    }
  }

  // Ages and deadlines move with the clock.
  const timer = window.setInterval(render, 30_000);
  void load();

  return {
    el,
    title: 'Queue',
    onKey(e) {
      if (e.key === 'j') {
        select(selected + 1, true);
        return true;
      }
      if (e.key === 'k') {
        select(selected - 1, true);
        return true;
      }
      if (e.key === 'Enter') {
        // A focused link or button does its own thing (the selected row's
        // link is focused by j/k, so Enter opens the same case).
        const t = e.target as HTMLElement | null;
        if (t && t !== document.body && t.closest('a, button')) return false;
        const c = cases[selected];
        if (c) {
          ctx.navigate(`#/case/${c.id}`);
          return true;
        }
      }
      return false;
    },
    destroy() {
      window.clearInterval(timer);
    },
  };
}
