// The API client: same-origin fetches with the session cookie, the CSRF
// token on every request that changes something, and one error type that
// carries the server's {"error": {"code", "message"}}.

import type { Action, CaseDetail, CaseList, CaseSummary, Dashboard, EvidenceList, Session, ReportRecord } from './types';

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

let csrfToken = '';

export function setCsrfToken(token: string): void {
  csrfToken = token;
}

/** Called when a request other than the session's own answers 401. */
let onUnauthorized: () => void = () => {};

export function setUnauthorizedHandler(f: () => void): void {
  onUnauthorized = f;
}

function statusText(status: number): string {
  switch (status) {
    case 400:
      return 'The request was refused as invalid.';
    case 401:
      return 'You are not signed in.';
    case 403:
      return 'You are not allowed to do this.';
    case 404:
      return 'Not found.';
    case 409:
      return 'This conflicts with the current state of the case.';
    case 429:
      return 'Too many requests; wait a moment and try again.';
    case 503:
      return 'The service is not ready; try again shortly.';
    default:
      return `The server answered ${status}.`;
  }
}

/** The ApiError for a failed response, from its JSON body when it has one. */
export async function errorFrom(res: Response): Promise<ApiError> {
  let code = `http_${res.status}`;
  let message = statusText(res.status);
  try {
    const text = await res.text();
    if (text) {
      const body: unknown = JSON.parse(text);
      if (body && typeof body === 'object' && 'error' in body) {
        const e = (body as { error: unknown }).error;
        if (e && typeof e === 'object') {
          const err = e as { code?: unknown; message?: unknown };
          if (typeof err.code === 'string' && err.code) code = err.code;
          if (typeof err.message === 'string' && err.message) message = err.message;
        } else if (typeof e === 'string' && e) {
          message = e;
        }
      }
    }
  } catch {
    // Not JSON: keep the generic message.
  }
  return new ApiError(res.status, code, message);
}

interface RequestOptions {
  body?: unknown;
  /** 401 is an expected answer (the session routes): don't sign out. */
  quiet401?: boolean;
  /** The Accept header; JSON unless told. */
  accept?: string;
}

export async function send(method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { Accept: opts.accept ?? 'application/json' };
  if (method !== 'GET' && method !== 'HEAD') headers['X-CSRF-Token'] = csrfToken;
  let body: string | undefined;
  if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      body,
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch {
    throw new ApiError(0, 'network', 'Cannot reach the Safeguard server. Check your connection and try again.');
  }
  if (!res.ok) {
    const err = await errorFrom(res);
    if (res.status === 401 && !opts.quiet401) onUnauthorized();
    throw err;
  }
  return res;
}

async function json<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
  const res = await send(method, path, opts);
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  if (!text) return undefined as T;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new ApiError(res.status, 'bad_response', 'The server sent an answer the console cannot read.');
  }
}

const enc = encodeURIComponent;

export function evidencePreviewUrl(caseId: number | string, item: string): string {
  return `/v1/cases/${enc(String(caseId))}/evidence/${enc(item)}/preview`;
}

export function evidenceContentUrl(caseId: number | string, item: string): string {
  return `/v1/cases/${enc(String(caseId))}/evidence/${enc(item)}?reason=unblur`;
}

export const api = {
  getSession: () => json<Session>('GET', '/v1/session', { quiet401: true }),
  signIn: (username: string, password: string) =>
    json<Session>('POST', '/v1/session', { body: { username, password }, quiet401: true }),
  signOut: () => json<unknown>('DELETE', '/v1/session', { quiet401: true }),

  queue: (params: { source?: string; limit?: number }) => {
    const q = new URLSearchParams();
    if (params.source) q.set('source', params.source);
    q.set('limit', String(params.limit ?? 500));
    return json<CaseList>('GET', `/v1/cases?${q.toString()}`);
  },
  getCase: (id: number | string) => json<CaseDetail>('GET', `/v1/cases/${enc(String(id))}`),
  act: (id: number | string, action: Action, note: string) =>
    json<CaseSummary>('POST', `/v1/cases/${enc(String(id))}/actions`, { body: { action, note } }),
  evidence: (id: number | string) => json<EvidenceList>('GET', `/v1/cases/${enc(String(id))}/evidence`),
  /** The clear bytes of one item: audited on the server (reason "unblur"). */
  evidenceContent: async (id: number | string, item: string): Promise<Blob> => {
    const res = await send('GET', evidenceContentUrl(id, item), { accept: '*/*' });
    return res.blob();
  },
  dashboard: (days: number) => json<Dashboard>('GET', `/v1/dashboard?days=${days}`),
  reports: (days: number) => json<{ reports: ReportRecord[] }>('GET', `/v1/reports?days=${days}`),
};
