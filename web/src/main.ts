// The Safeguard moderation console: sign-in, queue, case, dashboard, with
// hash routing (#/queue, #/case/ID, #/dashboard).

import './style.css';
import { api, ApiError, setCsrfToken, setUnauthorizedHandler } from './api';
import { dialogOpen, h, isTyping, mount } from './dom';
import { roleName } from './format';
import type { Session } from './types';
import { caseView } from './views/case';
import { dashboardView } from './views/dashboard';
import { reportsView } from './views/reports';
import { queueView } from './views/queue';
import { signInView } from './views/signin';
import type { AppContext, View } from './view';

const root = document.getElementById('app') as HTMLElement;
let session: Session | null = null;
let view: View | null = null;

const statusLine = h('div', { class: 'global-status', role: 'status', 'aria-live': 'polite', 'data-testid': 'global-status' });

function announce(message: string, kind: 'info' | 'error' = 'info'): void {
  statusLine.textContent = message;
  statusLine.className = `global-status ${kind}`;
  statusLine.setAttribute('role', kind === 'error' ? 'alert' : 'status');
}

function navigate(hash: string): void {
  if (location.hash === hash) route();
  else location.hash = hash;
}

const ctx = (): AppContext => ({
  session: session as Session,
  navigate,
  announce,
});

// ---- shortcut help ----

const SHORTCUTS: Array<[string, string, string]> = [
  ['Anywhere', '?', 'Show this help'],
  ['Anywhere', 'g then q', 'Go to the queue'],
  ['Anywhere', 'g then d', 'Go to the dashboard'],
  ['Queue', 'j / k', 'Next / previous case'],
  ['Queue', 'Enter', 'Open the selected case'],
  ['Case', 'u', 'Unblur (or blur again) the first evidence item'],
  ['Case', 'c', 'Confirm & report'],
  ['Case', 'r', 'Remove'],
  ['Case', 's', 'Restore'],
  ['Case', 'e', 'Escalate'],
  ['Case', 'i', 'Request info'],
  ['Case', 'd', 'Dismiss'],
  ['Case', 'Esc / b', 'Back to the queue'],
];

const helpDialog = h(
  'dialog',
  { class: 'help', 'aria-labelledby': 'help-title', 'data-testid': 'shortcut-help' },
  h('h2', { id: 'help-title' }, 'Keyboard shortcuts'),
  h(
    'p',
    { class: 'muted small' },
    'Shortcuts are off while you type in a field. Actions that close a case ask for confirmation.',
  ),
  h(
    'table',
    { class: 'data compact' },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Where'), h('th', { scope: 'col' }, 'Keys'), h('th', { scope: 'col' }, 'Does'))),
    h(
      'tbody',
      {},
      SHORTCUTS.map(([where, keys, what]) =>
        h('tr', {}, h('td', {}, where), h('td', {}, keys.split(' ').map((k) => (['/', 'then'].includes(k) ? ` ${k} ` : h('kbd', {}, k)))), h('td', {}, what)),
      ),
    ),
  ),
  h('form', { method: 'dialog', class: 'dialog-buttons' }, h('button', { type: 'submit', class: 'btn btn-secondary' }, 'Close')),
);

// ---- layout ----

function header(s: Session): HTMLElement {
  const signOut = h('button', { type: 'button', class: 'btn btn-ghost', 'data-testid': 'sign-out' }, 'Sign out');
  signOut.addEventListener('click', () => void doSignOut(signOut));
  const help = h('button', { type: 'button', class: 'btn btn-ghost', 'aria-keyshortcuts': '?', title: 'Keyboard shortcuts (?)' }, h('span', { 'aria-hidden': 'true' }, '?'), h('span', { class: 'visually-hidden' }, 'Keyboard shortcuts'));
  help.addEventListener('click', () => helpDialog.showModal());
  const skip = h('a', { class: 'skip-link', href: '#' }, 'Skip to content');
  skip.addEventListener('click', (e) => {
    e.preventDefault();
    (document.getElementById('page-title') ?? document.getElementById('main'))?.focus();
  });
  return h(
    'header',
    { class: 'topbar' },
    skip,
    h('div', { class: 'brand' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }), 'Safeguard', h('span', { class: 'brand-sub' }, 'Moderation')),
    h(
      'nav',
      { 'aria-label': 'Main' },
      h('a', { href: '#/queue', 'data-nav': 'queue', 'data-testid': 'nav-queue' }, 'Queue'),
      h('a', { href: '#/dashboard', 'data-nav': 'dashboard', 'data-testid': 'nav-dashboard' }, 'Dashboard'),
      h('a', { href: '#/reports', 'data-nav': 'reports', 'data-testid': 'nav-reports' }, 'Reports'),
    ),
    h(
      'div',
      { class: 'user' },
      h(
        'span',
        { class: 'user-name', 'data-testid': 'current-user' },
        s.user.username,
        ' ',
        h('span', { class: 'badge role', 'data-testid': 'current-role', 'data-role': s.user.role }, roleName(s.user.role)),
      ),
      help,
      signOut,
    ),
  );
}

let shell: { main: HTMLElement; header: HTMLElement } | null = null;

function showShell(s: Session): HTMLElement {
  if (!shell) {
    const main = h('main', { id: 'main', tabindex: '-1' });
    const hd = header(s);
    mount(root, hd, statusLine, main, helpDialog);
    shell = { main, header: hd };
  }
  return shell.main;
}

function leaveView(): void {
  view?.destroy?.();
  view = null;
}

function showSignIn(notice = ''): void {
  leaveView();
  session = null;
  shell = null;
  setCsrfToken('');
  document.title = 'Sign in · Safeguard';
  mount(root, signInView(onSignedIn, notice));
}

function onSignedIn(s: Session): void {
  session = s;
  setCsrfToken(s.csrf_token);
  announce('');
  if (!location.hash || location.hash === '#' || location.hash.startsWith('#/signin')) {
    history.replaceState(null, '', '#/queue');
  }
  route();
}

function route(): void {
  if (!session) return;
  const main = showShell(session);
  const hash = location.hash.replace(/^#/, '') || '/queue';
  const path = hash.split('?')[0] ?? '';
  const parts = path.split('/').filter(Boolean);
  leaveView();
  const c = ctx();
  let navKey = '';
  if (parts[0] === 'case' && parts[1]) {
    view = caseView(c, parts[1]);
    navKey = 'queue';
  } else if (parts[0] === 'dashboard') {
    view = dashboardView(c);
    navKey = 'dashboard';
  } else if (parts[0] === 'reports') {
    view = reportsView(c);
    navKey = 'reports';
  } else {
    if (parts[0] !== 'queue') history.replaceState(null, '', '#/queue');
    view = queueView(c);
    navKey = 'queue';
  }
  shell?.header.querySelectorAll<HTMLAnchorElement>('nav a').forEach((a) => {
    if (a.dataset.nav === navKey) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  });
  document.title = `${view.title} · Safeguard`;
  mount(main, view.el);
  window.scrollTo(0, 0);
}

async function doSignOut(button: HTMLButtonElement): Promise<void> {
  button.disabled = true;
  try {
    await api.signOut();
    showSignIn('You are signed out.');
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      showSignIn('You are signed out.');
      return;
    }
    announce(`Could not sign out: ${(e as Error).message}`, 'error');
    button.disabled = false;
  }
}

// ---- keyboard ----

let pendingG = 0;

document.addEventListener('keydown', (e) => {
  if (!session || e.defaultPrevented) return;
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  if (dialogOpen()) return;
  if (isTyping(e.target)) {
    // Escape leaves a text field, so the shortcuts work again.
    if (e.key === 'Escape' && e.target instanceof HTMLElement) e.target.blur();
    return;
  }
  if (e.key === '?') {
    e.preventDefault();
    helpDialog.showModal();
    return;
  }
  if (pendingG && Date.now() - pendingG < 1500) {
    pendingG = 0;
    if (e.key === 'q') {
      e.preventDefault();
      navigate('#/queue');
      return;
    }
    if (e.key === 'd') {
      e.preventDefault();
      navigate('#/dashboard');
      return;
    }
  }
  pendingG = 0;
  if (e.key === 'g') {
    pendingG = Date.now();
    return;
  }
  if (e.shiftKey && e.key !== 'Enter') return;
  if (view?.onKey?.(e)) e.preventDefault();
});

// ---- start ----

setUnauthorizedHandler(() => {
  if (session) showSignIn('Your session has ended. Sign in again.');
});

window.addEventListener('hashchange', route);

async function start(): Promise<void> {
  mount(root, h('main', { id: 'main', class: 'loading' }, h('p', { class: 'muted' }, 'Loading…')));
  try {
    onSignedIn(await api.getSession());
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) showSignIn();
    else showSignIn(`Could not reach the session service: ${(e as Error).message}`);
  }
}

void start();
