// What each role may do. The server enforces the same rules; the console
// only hides what would be refused.

import type { Action } from './types';

export function canAct(role: string, action: Action): boolean {
  switch (role) {
    case 'senior_moderator':
    case 'admin':
      return true;
    case 'moderator':
      return action !== 'confirm';
    default:
      // compliance (read-only) and any role the console does not know.
      return false;
  }
}

/** True when the role may take at least one action on a case. */
export function canActAtAll(role: string): boolean {
  return role === 'moderator' || role === 'senior_moderator' || role === 'admin';
}
