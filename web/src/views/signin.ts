// The sign-in form.

import { api, ApiError } from '../api';
import { h } from '../dom';
import type { Session } from '../types';

export function signInView(onSignedIn: (s: Session) => void, notice = ''): HTMLElement {
  const user = h('input', {
    id: 'signin-username',
    name: 'username',
    type: 'text',
    autocomplete: 'username',
    autocapitalize: 'none',
    spellcheck: 'false',
    required: true,
  });
  const pass = h('input', {
    id: 'signin-password',
    name: 'password',
    type: 'password',
    autocomplete: 'current-password',
    required: true,
  });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block', 'data-testid': 'signin-submit' }, 'Sign in');
  const error = h('p', { class: 'inline-error', role: 'alert', 'data-testid': 'signin-error', hidden: true });
  const info = h('p', { class: 'notice', role: 'status', hidden: !notice }, notice);

  const form = h(
    'form',
    { class: 'signin-form', 'aria-labelledby': 'signin-title', novalidate: true, 'data-testid': 'signin-form' },
    h('h1', { id: 'signin-title' }, 'Sign in'),
    h('p', { class: 'muted' }, 'Safeguard moderation console'),
    info,
    h('div', { class: 'field' }, h('label', { for: 'signin-username' }, 'Username'), user),
    h('div', { class: 'field' }, h('label', { for: 'signin-password' }, 'Password'), pass),
    error,
    submit,
  );

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void (async () => {
      error.hidden = true;
      info.hidden = true;
      if (!user.value.trim() || !pass.value) {
        error.hidden = false;
        error.textContent = 'Enter your username and password.';
        (user.value.trim() ? pass : user).focus();
        return;
      }
      submit.disabled = true;
      submit.textContent = 'Signing in…';
      try {
        const s = await api.signIn(user.value.trim(), pass.value);
        pass.value = '';
        onSignedIn(s);
      } catch (err) {
        error.hidden = false;
        error.textContent =
          err instanceof ApiError && err.status === 401
            ? err.message && err.message !== 'You are not signed in.'
              ? err.message
              : 'Wrong username or password.'
            : (err as Error).message;
        pass.value = '';
        pass.focus();
      } finally {
        submit.disabled = false;
        submit.textContent = 'Sign in';
      }
    })();
  });

  const page = h('main', { id: 'main', class: 'signin-page' }, h('div', { class: 'signin-card' }, h('div', { class: 'brand brand-large' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }), 'Safeguard'), form));
  queueMicrotask(() => user.focus());
  return page;
}
