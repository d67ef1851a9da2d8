import type { Session } from './types';

/** One screen of the console. */
export interface View {
  el: HTMLElement;
  /** The document title's first part. */
  title: string;
  /** A key press outside text fields; true if the view used it. */
  onKey?(e: KeyboardEvent): boolean;
  /** Called when the view is left: timers, blob URLs. */
  destroy?(): void;
}

export interface AppContext {
  session: Session;
  navigate(hash: string): void;
  /** A message in the page's status line. */
  announce(message: string, kind?: 'info' | 'error'): void;
}

/** The query of the hash route (#/queue?source=guard). */
export function hashParams(): URLSearchParams {
  const hash = location.hash;
  const q = hash.indexOf('?');
  return new URLSearchParams(q >= 0 ? hash.slice(q + 1) : '');
}

/** The queue as last shown (with its filter), for "back to queue". */
export const nav = { queueHash: '#/queue' };
