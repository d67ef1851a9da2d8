// The shapes of the API answers the console reads (docs/cases.md,
// docs/evidence.md, src/server/case_routes.cc).

export type Role = 'moderator' | 'senior_moderator' | 'compliance' | 'admin';

export interface User {
  username: string;
  role: Role | string;
}

export interface Session {
  user: User;
  csrf_token: string;
}

export type CaseState = 'open' | 'escalated' | 'waiting' | 'closed';

export interface CaseSummary {
  id: number;
  source: string;
  category: string;
  severity: number;
  state: CaseState | string;
  priority: number;
  subject: string;
  content_id: string;
  account_id: string;
  reach: number;
  trusted_flagger: boolean;
  created: string;
  deadline: string;
  outcome?: string;
  closed?: string;
  time_to_action_s?: number;
}

export interface HistoryEntry {
  time: string;
  actor: string;
  action: string;
  note: string;
}

export interface CaseDetail extends CaseSummary {
  details?: unknown;
  history: HistoryEntry[];
}

export interface CaseList {
  cases: CaseSummary[];
}

export interface EvidenceItem {
  id: string;
  media_type: string;
  size: number;
  sha256: string;
  stored: string;
  content_until: string;
  content_erased: boolean;
}

export interface EvidenceList {
  case: number;
  evidence: EvidenceItem[];
}

export interface Volume {
  category: string;
  source: string;
  count: number;
}

export interface TimeToAction {
  source: string;
  target_hours: number;
  count: number;
  p50_hours: number | null;
  p90_hours: number | null;
  p99_hours: number | null;
}

export interface Dashboard {
  from: string;
  to: string;
  volumes: Volume[];
  time_to_action: TimeToAction[];
  open_cases: number;
  overdue_cases: number;
}

/** One row of the report ledger (GET /v1/reports). */
export interface ReportRecord {
  id: number;
  case: number;
  destination: string;
  state: string;
  content_sha256: string;
  created: string;
  priority?: number;
  external_id?: string;
  sent?: string;
  error?: string;
}

export type Action = 'confirm' | 'remove' | 'restore' | 'dismiss' | 'escalate' | 'request_info';
