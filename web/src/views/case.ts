// One case: summary, evidence (blurred previews, unblurred on request and
// audited), details, history and the moderator's actions.

import { api, ApiError, evidencePreviewUrl } from '../api';
import { h, mount } from '../dom';
import {
  actionName,
  bytes,
  categoryName,
  deadlineBadge,
  duration,
  int,
  roleName,
  sourceName,
  stateBadge,
  timeEl,
} from '../format';
import { canAct, canActAtAll } from '../permissions';
import type { Action, CaseDetail, EvidenceItem, HistoryEntry } from '../types';
import { nav, type AppContext, type View } from '../view';

interface ActionDef {
  action: Action;
  label: string;
  key: string;
  /** Closes the case: asks for confirmation first. */
  closes: boolean;
  effect: string;
  done: string;
  danger?: boolean;
}

export const ACTIONS: ActionDef[] = [
  {
    action: 'confirm',
    label: 'Confirm & report',
    key: 'c',
    closes: true,
    danger: true,
    effect:
      'The harm is real. The case closes; the content is reported (CSAM) or removed and its hash listed (intimate image reports), and the platform is told.',
    done: 'confirmed',
  },
  {
    action: 'remove',
    label: 'Remove',
    key: 'r',
    closes: true,
    danger: true,
    effect: 'The case closes and the platform is told to take the content down.',
    done: 'removed',
  },
  {
    action: 'restore',
    label: 'Restore',
    key: 's',
    closes: true,
    effect: 'The case closes and the platform is told to put the content back (an automated action is reversed).',
    done: 'restored',
  },
  {
    action: 'escalate',
    label: 'Escalate',
    key: 'e',
    closes: false,
    effect: 'The case stays in the queue, for a senior moderator.',
    done: 'escalated',
  },
  {
    action: 'request_info',
    label: 'Request info',
    key: 'i',
    closes: false,
    effect: 'The case stays in the queue, waiting for more information.',
    done: 'waiting for more information',
  },
  {
    action: 'dismiss',
    label: 'Dismiss',
    key: 'd',
    closes: true,
    effect: 'Nothing wrong: the case closes and nothing is sent to the platform.',
    done: 'dismissed',
  },
];

function humanKey(k: string): string {
  const t = k.replace(/_/g, ' ');
  return t.charAt(0).toUpperCase() + t.slice(1);
}

const LONG_TOKEN = /^[0-9a-f]{16,}$/i;

function primitive(v: unknown): HTMLElement {
  if (v === null || v === undefined || v === '') return h('span', { class: 'muted' }, '—');
  if (typeof v === 'boolean') return h('span', {}, v ? 'yes' : 'no');
  if (typeof v === 'number') return h('span', { class: 'num' }, String(v));
  const str = String(v);
  return h('span', { class: LONG_TOKEN.test(str) ? 'mono break' : 'pre-wrap' }, str);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Any JSON value as readable markup: key/value tables, lists, sub-tables. */
export function renderValue(v: unknown, depth = 0): HTMLElement {
  if (Array.isArray(v)) {
    if (v.length === 0) return h('span', { class: 'muted' }, 'none');
    if (v.every(isPlainObject) && depth < 4) {
      const cols: string[] = [];
      for (const o of v) for (const k of Object.keys(o)) if (!cols.includes(k)) cols.push(k);
      const table = h(
        'table',
        { class: 'data sub' },
        h('thead', {}, h('tr', {}, cols.map((c) => h('th', { scope: 'col' }, humanKey(c))))),
        h(
          'tbody',
          {},
          v.map((o) => h('tr', {}, cols.map((c) => h('td', {}, renderValue(o[c], depth + 1))))),
        ),
      );
      return h('div', { class: 'sub-wrap' }, table);
    }
    if (v.every((x) => !isPlainObject(x) && !Array.isArray(x))) {
      return h('ul', { class: 'plain-list' }, v.map((x) => h('li', {}, primitive(x))));
    }
    return h('ol', { class: 'plain-list' }, v.map((x) => h('li', {}, renderValue(x, depth + 1))));
  }
  if (isPlainObject(v)) {
    const keys = Object.keys(v);
    if (keys.length === 0) return h('span', { class: 'muted' }, 'none');
    return h(
      'table',
      { class: 'kv' + (depth > 0 ? ' sub' : ''), 'data-testid': depth === 0 ? 'details-table' : undefined },
      h(
        'tbody',
        {},
        keys.map((k) =>
          h('tr', {}, h('th', { scope: 'row', title: k }, humanKey(k)), h('td', {}, renderValue(v[k], depth + 1))),
        ),
      ),
    );
  }
  return primitive(v);
}

export function caseView(ctx: AppContext, caseId: string): View {
  const role = ctx.session.user.role;
  let current: CaseDetail | null = null;
  let busy = false;
  const blobUrls = new Set<string>();
  const unblurToggles: Array<() => void> = [];

  const heading = h('h1', { id: 'page-title', tabindex: '-1' }, `Case #${caseId}`);
  const headBadges = h('div', { class: 'head-badges' });
  const summary = h('div', { class: 'summary', 'data-testid': 'case-summary' }, h('p', { class: 'muted' }, 'Loading…'));
  const details = h('div', { 'data-testid': 'case-details' });
  const history = h('div', { 'data-testid': 'case-history' });
  const evidence = h('div', { class: 'evidence-list', 'data-testid': 'evidence' }, h('p', { class: 'muted' }, 'Loading…'));
  const status = h('p', { class: 'status-msg', role: 'status', 'data-testid': 'action-status' });
  const error = h('div', { class: 'inline-error', role: 'alert', 'data-testid': 'action-error', hidden: true });
  const loadError = h('div', { class: 'inline-error', role: 'alert', hidden: true });

  const note = h('textarea', {
    id: 'action-note',
    name: 'note',
    rows: 3,
    maxlength: 4000,
    placeholder: 'Why? Seen in the audit log and the case history.',
    'data-testid': 'action-note',
  });
  const buttons = new Map<Action, HTMLButtonElement>();
  for (const a of ACTIONS) {
    const allowed = canAct(role, a.action);
    const b = h(
      'button',
      {
        type: 'button',
        class: `btn ${a.danger ? 'btn-danger' : 'btn-secondary'}`,
        'data-testid': `action-${a.action}`,
        'data-action': a.action,
        'aria-keyshortcuts': a.key,
        title: allowed ? `${a.effect} (key: ${a.key})` : 'Your role cannot take this action.',
      },
      a.label,
      ' ',
      h('kbd', { 'aria-hidden': 'true' }, a.key),
    );
    b.addEventListener('click', () => void requestAction(a));
    buttons.set(a.action, b);
  }
  const actionNote = h('p', { class: 'muted small', 'data-testid': 'actions-note' });
  const actionsBox = canActAtAll(role)
    ? h(
        'section',
        { class: 'panel actions', 'aria-labelledby': 'actions-title', 'data-testid': 'actions' },
        h('h2', { id: 'actions-title' }, 'Actions'),
        h('label', { for: 'action-note' }, 'Note ', h('span', { class: 'muted' }, '(optional)')),
        note,
        h('div', { class: 'action-buttons' }, Array.from(buttons.values())),
        actionNote,
        error,
        status,
      )
    : h(
        'section',
        { class: 'panel actions', 'aria-labelledby': 'actions-title', 'data-testid': 'actions-readonly' },
        h('h2', { id: 'actions-title' }, 'Actions'),
        h('p', { class: 'muted' }, 'Your role is read-only: you can see cases but not act on them.'),
      );

  // The confirmation of an action that closes the case.
  const dialogTitle = h('h2', { id: 'confirm-title' });
  const dialogText = h('p', { id: 'confirm-text' });
  const dialogNote = h('p', { class: 'muted small pre-wrap' });
  const dialogOk = h('button', { type: 'submit', value: 'ok', class: 'btn btn-primary', 'data-testid': 'confirm-ok' }, 'OK');
  const dialog = h(
    'dialog',
    { 'aria-labelledby': 'confirm-title', 'aria-describedby': 'confirm-text', 'data-testid': 'confirm-dialog' },
    h(
      'form',
      { method: 'dialog' },
      dialogTitle,
      dialogText,
      dialogNote,
      h(
        'div',
        { class: 'dialog-buttons' },
        dialogOk,
        h('button', { type: 'submit', value: 'cancel', class: 'btn btn-secondary', 'data-testid': 'confirm-cancel' }, 'Cancel'),
      ),
    ),
  );

  const el = h(
    'section',
    { class: 'view view-case', 'aria-labelledby': 'page-title' },
    h(
      'div',
      { class: 'page-head' },
      h(
        'div',
        {},
        h('a', { href: nav.queueHash, class: 'back', 'data-testid': 'back-to-queue', 'aria-keyshortcuts': 'b' }, '← Queue'),
        h('div', { class: 'title-row' }, heading, headBadges),
      ),
    ),
    loadError,
    h(
      'div',
      { class: 'case-grid' },
      h(
        'div',
        { class: 'case-main' },
        h('section', { class: 'panel', 'aria-labelledby': 'summary-title' }, h('h2', { id: 'summary-title' }, 'Summary'), summary),
        h(
          'section',
          { class: 'panel', 'aria-labelledby': 'evidence-title' },
          h('h2', { id: 'evidence-title' }, 'Evidence'),
          h(
            'p',
            { class: 'notice', 'data-testid': 'unblur-notice' },
            'Previews are blurred. Unblurring is recorded in the audit log with your name.',
          ),
          evidence,
        ),
        h('section', { class: 'panel', 'aria-labelledby': 'details-title' }, h('h2', { id: 'details-title' }, 'Details'), details),
      ),
      h(
        'div',
        { class: 'case-side' },
        actionsBox,
        h('section', { class: 'panel', 'aria-labelledby': 'history-title' }, h('h2', { id: 'history-title' }, 'History'), history),
      ),
    ),
    dialog,
  );

  function renderHeadBadges(c: CaseDetail, now = Date.now()): void {
    mount(headBadges, stateBadge(c.state), c.state === 'closed' ? null : deadlineBadge(c.deadline, c.state, now));
  }

  function summaryRow(label: string, value: Node | string): HTMLElement[] {
    return [h('dt', {}, label), h('dd', {}, value)];
  }

  function renderCase(c: CaseDetail): void {
    const now = Date.now();
    heading.textContent = `Case #${c.id}`;
    renderHeadBadges(c, now);
    mount(
      summary,
      h(
        'dl',
        { class: 'grid-dl' },
        summaryRow('Source', sourceName(c.source)),
        summaryRow('State', h('span', { 'data-testid': 'case-state', 'data-state': c.state }, stateBadge(c.state))),
        c.outcome ? summaryRow('Outcome', h('span', { 'data-testid': 'case-outcome' }, actionName(c.outcome))) : [],
        summaryRow('Category', `${categoryName(c.category)} (severity ${c.severity})`),
        summaryRow('Priority', c.state === 'closed' ? '—' : c.priority.toFixed(1)),
        summaryRow('Deadline', h('span', {}, timeEl(c.deadline), ' ', deadlineBadge(c.deadline, c.state, now, c.closed))),
        summaryRow('Created', timeEl(c.created)),
        c.closed ? summaryRow('Closed', timeEl(c.closed)) : [],
        c.time_to_action_s !== undefined
          ? summaryRow('Time to action', h('span', { 'data-testid': 'time-to-action' }, duration(c.time_to_action_s * 1000)))
          : [],
        summaryRow('Subject', h('span', { class: 'mono break' }, c.subject || '—')),
        summaryRow('Content id', h('span', { class: 'mono break' }, c.content_id || '—')),
        summaryRow('Account id', h('span', { class: 'mono break' }, c.account_id || '—')),
        summaryRow('Reach', `${int(c.reach)} views and shares`),
        summaryRow('Trusted flagger', c.trusted_flagger ? h('span', { class: 'badge trusted' }, 'Yes') : 'No'),
      ),
    );
    mount(
      details,
      c.details === undefined || c.details === null
        ? h('p', { class: 'muted' }, 'No details.')
        : renderValue(c.details),
    );
    renderHistory(c.history ?? []);
    updateActions();
  }

  function renderHistory(entries: HistoryEntry[]): void {
    if (entries.length === 0) {
      mount(history, h('p', { class: 'muted' }, 'No history.'));
      return;
    }
    mount(
      history,
      h(
        'ol',
        { class: 'history', 'data-testid': 'history-list' },
        entries.map((e) =>
          h(
            'li',
            { 'data-testid': 'history-entry', 'data-action': e.action, 'data-actor': e.actor },
            h(
              'div',
              { class: 'history-head' },
              h('span', { class: `badge action action-${e.action}` }, actionName(e.action)),
              h('span', { class: 'actor' }, e.actor),
              timeEl(e.time),
            ),
            e.note ? h('p', { class: 'history-note pre-wrap' }, e.note) : null,
          ),
        ),
      ),
    );
  }

  function updateActions(): void {
    const closed = current?.state === 'closed';
    for (const a of ACTIONS) {
      const b = buttons.get(a.action);
      if (!b) continue;
      b.disabled = busy || !current || closed || !canAct(role, a.action);
      b.hidden = false;
    }
    note.disabled = busy || closed;
    const notes: string[] = [];
    if (closed) notes.push('This case is closed; it takes no more actions.');
    else if (!canAct(role, 'confirm')) notes.push('Confirming needs a senior moderator: escalate the case if the harm is real.');
    actionNote.textContent = notes.join(' ');
  }

  async function load(focus = false): Promise<void> {
    try {
      current = await api.getCase(caseId);
      loadError.hidden = true;
      renderCase(current);
      if (focus) heading.focus({ preventScroll: true });
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return;
      loadError.hidden = false;
      loadError.textContent =
        e instanceof ApiError && e.status === 404 ? `Case ${caseId} was not found.` : `Could not load the case: ${(e as Error).message}`;
      mount(summary);
      updateActions();
    }
  }

  function evidenceCard(item: EvidenceItem, index: number): HTMLElement {
    const isImage = item.media_type.startsWith('image/');
    const isText = item.media_type.startsWith('text/');
    const previewUrl = evidencePreviewUrl(caseId, item.id);
    const frame = h('div', { class: 'evidence-frame' });
    const msg = h('p', { class: 'inline-error small', role: 'alert', hidden: true });
    const label = `Evidence ${index + 1} (${item.media_type})`;
    let img: HTMLImageElement | null = null;
    let text: HTMLPreElement | null = null;
    let clearUrl: string | null = null;

    if (isImage) {
      img = h('img', {
        src: previewUrl,
        alt: `Blurred preview of ${label}`,
        'data-testid': 'evidence-img',
        referrerpolicy: 'no-referrer',
        draggable: 'false',
        decoding: 'async',
      });
      const fallback = h('span', { class: 'frame-text', hidden: true }, 'Preview unavailable');
      img.addEventListener('error', () => {
        if (img && img.getAttribute('src') === previewUrl) fallback.hidden = false;
      });
      img.addEventListener('load', () => {
        fallback.hidden = true;
      });
      frame.append(img, fallback);
    } else {
      frame.append(h('span', { class: 'frame-text' }, `${item.media_type} content hidden`));
    }

    const figure = h(
      'figure',
      { class: 'evidence', 'data-testid': 'evidence-item', 'data-item-id': item.id, 'data-state': 'blurred' },
      frame,
    );
    const button = h(
      'button',
      { type: 'button', class: 'btn btn-secondary', 'data-testid': 'unblur', 'aria-keyshortcuts': index === 0 ? 'u' : undefined },
      'Unblur',
    );

    const blur = () => {
      if (clearUrl) {
        URL.revokeObjectURL(clearUrl);
        blobUrls.delete(clearUrl);
        clearUrl = null;
      }
      if (img) {
        img.src = previewUrl;
        img.alt = `Blurred preview of ${label}`;
      }
      if (text) {
        text.remove();
        text = null;
        frame.hidden = false;
      }
      figure.dataset.state = 'blurred';
      button.textContent = 'Unblur';
    };

    const unblur = async () => {
      button.disabled = true;
      button.textContent = 'Unblurring…';
      msg.hidden = true;
      try {
        const blob = await api.evidenceContent(caseId, item.id);
        if (isText) {
          text = h('pre', { class: 'evidence-text', 'data-testid': 'evidence-text' }, await blob.text());
          frame.hidden = true;
          figure.insertBefore(text, frame.nextSibling);
        } else {
          clearUrl = URL.createObjectURL(blob);
          blobUrls.add(clearUrl);
          if (img) {
            img.src = clearUrl;
            img.alt = label;
          } else {
            frame.replaceChildren(
              h('a', { href: clearUrl, download: `evidence-${item.id}`, class: 'frame-text' }, `Download ${item.media_type}`),
            );
          }
        }
        figure.dataset.state = 'clear';
        button.textContent = 'Blur again';
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) return;
        msg.hidden = false;
        msg.textContent = `Could not unblur: ${(e as Error).message}`;
        button.textContent = 'Unblur';
      } finally {
        button.disabled = false;
      }
    };

    const toggle = () => {
      if (button.disabled) return;
      if (figure.dataset.state === 'clear') blur();
      else void unblur();
    };
    button.addEventListener('click', toggle);
    if (!item.content_erased) unblurToggles.push(toggle);

    figure.append(
      h(
        'figcaption',
        {},
        h(
          'div',
          { class: 'evidence-meta' },
          h('strong', {}, `Item ${index + 1}`),
          h('span', {}, item.media_type),
          h('span', {}, bytes(item.size)),
          h('span', {}, 'stored ', timeEl(item.stored)),
          item.content_erased
            ? h('span', { class: 'badge' }, 'Content erased (retention)')
            : h('span', {}, 'kept until ', timeEl(item.content_until)),
        ),
        h('div', { class: 'mono small break', title: 'SHA-256' }, `SHA-256 ${item.sha256}`),
        item.content_erased ? null : h('div', { class: 'evidence-actions' }, button, index === 0 ? h('kbd', {}, 'u') : null),
        msg,
      ),
    );
    if (item.content_erased) frame.replaceChildren(h('span', { class: 'frame-text' }, 'Content erased'));
    return figure;
  }

  async function loadEvidence(): Promise<void> {
    try {
      const list = await api.evidence(caseId);
      const items = list.evidence ?? [];
      if (items.length === 0) {
        mount(evidence, h('p', { class: 'muted' }, 'No evidence is stored for this case.'));
        return;
      }
      mount(evidence, items.map((it, i) => evidenceCard(it, i)));
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return;
      mount(evidence, h('p', { class: 'inline-error', role: 'alert' }, `Could not load the evidence: ${(e as Error).message}`));
    }
  }

  function confirmAction(a: ActionDef, noteText: string): Promise<boolean> {
    dialogTitle.textContent = `${a.label}: case #${caseId}?`;
    dialogText.textContent = a.effect;
    dialogNote.textContent = noteText ? `Note: ${noteText}` : 'No note.';
    dialogOk.textContent = a.label;
    dialogOk.className = `btn ${a.danger ? 'btn-danger' : 'btn-primary'}`;
    dialog.returnValue = '';
    return new Promise((resolve) => {
      dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
      dialog.showModal();
      dialogOk.focus();
    });
  }

  async function requestAction(a: ActionDef): Promise<void> {
    if (busy || !current) return;
    if (current.state === 'closed' || !canAct(role, a.action)) {
      error.hidden = false;
      error.textContent =
        current.state === 'closed'
          ? 'This case is closed; it takes no more actions.'
          : `Your role (${roleName(role)}) cannot ${a.label.toLowerCase()}.`;
      return;
    }
    const noteText = note.value.trim();
    if (a.closes && !(await confirmAction(a, noteText))) {
      buttons.get(a.action)?.focus();
      return;
    }
    busy = true;
    updateActions();
    error.hidden = true;
    status.textContent = `${a.label}…`;
    try {
      const after = await api.act(caseId, a.action, noteText);
      note.value = '';
      busy = false;
      await load();
      const state = after?.state ?? current?.state;
      status.textContent = `Case #${caseId} ${a.done}.${state === 'closed' ? ' The case is closed.' : ''}`;
    } catch (e) {
      busy = false;
      updateActions();
      status.textContent = '';
      if (e instanceof ApiError && e.status === 401) return;
      error.hidden = false;
      error.textContent =
        e instanceof ApiError && e.status === 403
          ? `Not allowed: ${e.message}`
          : `${a.label} failed: ${(e as Error).message}`;
    }
  }

  void load(true);
  void loadEvidence();
  const timer = window.setInterval(() => {
    if (current) renderHeadBadges(current);
  }, 30_000);

  return {
    el,
    title: `Case #${caseId}`,
    onKey(e) {
      if (e.key === 'Escape' || e.key === 'b') {
        ctx.navigate(nav.queueHash);
        return true;
      }
      if (e.key === 'u') {
        unblurToggles[0]?.();
        return true;
      }
      const a = ACTIONS.find((x) => x.key === e.key);
      if (a && canActAtAll(role)) {
        void requestAction(a);
        return true;
      }
      return false;
    },
    destroy() {
      window.clearInterval(timer);
      for (const u of blobUrls) URL.revokeObjectURL(u);
      blobUrls.clear();
      if (dialog.open) dialog.close();
    },
  };
}
