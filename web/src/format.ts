// Formatting of times, durations, sizes and the names the API uses.

import { h } from './dom';

/** Milliseconds since the epoch of an API time ("2025-01-02T03:04:05.678Z"). */
export function parseTime(t: string | undefined): number {
  if (!t) return NaN;
  return Date.parse(t);
}

/** "3d 4h", "1h 20m", "45m", "under 1m". */
export function duration(ms: number): string {
  if (!Number.isFinite(ms)) return '—';
  const abs = Math.abs(ms);
  const min = Math.floor(abs / 60000);
  if (min < 1) return 'under 1m';
  const d = Math.floor(min / 1440);
  const hr = Math.floor((min % 1440) / 60);
  const m = min % 60;
  if (d > 0) return hr > 0 ? `${d}d ${hr}h` : `${d}d`;
  if (hr > 0) return m > 0 ? `${hr}h ${m}m` : `${hr}h`;
  return `${m}m`;
}

/** Hours as "12.5 h"; null as "n/a". */
export function hours(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return 'n/a';
  if (v < 10) return `${Math.round(v * 10) / 10} h`;
  return `${Math.round(v)} h`;
}

const dateFmt = new Intl.DateTimeFormat(undefined, {
  year: 'numeric',
  month: 'short',
  day: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
});

/** A <time> in local time, with the exact UTC time as its title. */
export function timeEl(t: string | undefined): HTMLElement {
  const ms = parseTime(t);
  if (!t || !Number.isFinite(ms)) return h('span', { class: 'muted' }, '—');
  return h('time', { datetime: t, title: t }, dateFmt.format(new Date(ms)));
}

export function formatDate(t: string | undefined): string {
  const ms = parseTime(t);
  return Number.isFinite(ms) ? dateFmt.format(new Date(ms)) : '—';
}

const intFmt = new Intl.NumberFormat();
const compactFmt = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 });

export function int(n: number): string {
  return intFmt.format(n);
}

export function compact(n: number): string {
  return n >= 10000 ? compactFmt.format(n) : intFmt.format(n);
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MB`;
}

const SOURCES: Record<string, string> = {
  scan_review: 'Scan review',
  guard: 'Guard',
  ncii_report: 'Intimate image report',
  appeal: 'Appeal',
};

export const SOURCE_IDS = Object.keys(SOURCES);

export function sourceName(s: string): string {
  return SOURCES[s] ?? s;
}

const CATEGORIES: Record<string, string> = {
  csam: 'CSAM',
  ncii: 'NCII',
  terrorism: 'Terrorism',
  other: 'Other',
  guard: 'Guard',
  undecodable: 'Undecodable',
};

export function categoryName(c: string): string {
  return CATEGORIES[c] ?? (c ? c.charAt(0).toUpperCase() + c.slice(1) : '—');
}

const ROLES: Record<string, string> = {
  moderator: 'Moderator',
  senior_moderator: 'Senior moderator',
  compliance: 'Compliance',
  admin: 'Administrator',
};

export function roleName(r: string): string {
  return ROLES[r] ?? r;
}

const ACTION_NAMES: Record<string, string> = {
  open: 'Opened',
  confirm: 'Confirmed',
  remove: 'Removed',
  restore: 'Restored',
  dismiss: 'Dismissed',
  escalate: 'Escalated',
  request_info: 'Requested info',
};

export function actionName(a: string): string {
  return ACTION_NAMES[a] ?? a;
}

export function stateName(s: string): string {
  switch (s) {
    case 'open':
      return 'Open';
    case 'escalated':
      return 'Escalated';
    case 'waiting':
      return 'Waiting for info';
    case 'closed':
      return 'Closed';
    default:
      return s;
  }
}

export function stateBadge(state: string): HTMLElement {
  return h('span', { class: `badge state-${state}`, 'data-testid': 'state-badge' }, stateName(state));
}

export type DeadlineLevel = 'overdue' | 'soon' | 'ok' | 'closed' | 'missed';

export interface DeadlineInfo {
  level: DeadlineLevel;
  text: string;
  title: string;
}

/** Overdue (red), under 2 hours left (amber), or time left (neutral). */
export function deadlineInfo(deadline: string, state: string, now = Date.now(), closed?: string): DeadlineInfo {
  const due = parseTime(deadline);
  const exact = formatDate(deadline);
  if (state === 'closed') {
    const at = parseTime(closed);
    if (Number.isFinite(at) && Number.isFinite(due)) {
      return at <= due
        ? { level: 'closed', text: 'Met', title: `Closed ${duration(due - at)} before the deadline (${exact})` }
        : { level: 'missed', text: 'Missed', title: `Closed ${duration(at - due)} after the deadline (${exact})` };
    }
    return { level: 'closed', text: 'Closed', title: `Deadline was ${exact}` };
  }
  if (!Number.isFinite(due)) return { level: 'ok', text: 'No deadline', title: '' };
  const left = due - now;
  if (left <= 0) return { level: 'overdue', text: 'Overdue', title: `Overdue by ${duration(-left)} (deadline ${exact})` };
  const text = `Due in ${duration(left)}`;
  if (left < 2 * 3600 * 1000) return { level: 'soon', text, title: `Deadline ${exact}` };
  return { level: 'ok', text, title: `Deadline ${exact}` };
}

export function deadlineBadge(deadline: string, state: string, now = Date.now(), closed?: string): HTMLElement {
  const d = deadlineInfo(deadline, state, now, closed);
  return h(
    'span',
    { class: `badge deadline deadline-${d.level}`, title: d.title, 'data-testid': 'deadline-badge', 'data-level': d.level },
    d.text,
  );
}
