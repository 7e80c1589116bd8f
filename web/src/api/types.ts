// Every answer of hogpipe's HTTP API that the web app reads, in one place.
// contract.ts describes the same shapes as data; contract.test.ts proves
// at compile time that the two agree, and cmd/hogpipe/contract_test.go
// checks a real server's answers against contract.json (generated from
// contract.ts). A field the server adds, renames or drops therefore fails
// one of those tests until this file says the same.

// ErrorBody is every 4xx/5xx answer of the JSON API.
export type ErrorBody = { status: 'error'; code: string; error: string; field?: string }

// Config is GET /api/config: how the web app reaches the pipeline.
export type Config = { capture_token: string }

// Stats is GET /api/stats.
export type Stats = {
  events: number
  events_by_name: Record<string, number>
  events_by_source: Record<string, number>
  training_examples: number
  training_file_lag: number
  emails_by_state: Record<string, number>
}

// StoredEvent is one event as hogpipe stored it.
export type StoredEvent = {
  seq: number
  id: string
  event: string
  distinct_id: string
  source: 'webhook' | 'capture'
  timestamp: string
  received_at: string
  properties: Record<string, unknown>
  person?: Record<string, unknown>
}

// EventsPage is GET /api/events: the latest events, newest first.
export type EventsPage = { events: StoredEvent[] }

// EmailHistory is one delivery event Mailgun reported for an email.
export type EmailHistory = { at: string; event: string; detail?: string }

// Email is one email of the outbox: an entry of GET /api/emails, or
// GET /api/emails/{id} with its opens, clicks and history.
export type Email = {
  id: number
  event_id: string
  state: string
  recipient: string
  template: string
  attempts: number
  next_attempt_at?: string
  last_error?: string
  reason?: string
  message_id?: string
  subject?: string
  created_at: string
  updated_at: string
  opens?: number
  clicks?: number
  history?: EmailHistory[]
}

// EmailsPage is GET /api/emails.
export type EmailsPage = { emails: Email[] }

// EventOutcome is GET /api/events/{id}: one event and what became of it.
export type EventOutcome = {
  event: StoredEvent
  training_example?: Record<string, unknown>
  email?: Email
}

// MinuteCount is the number of events of one name in one minute (UTC).
export type MinuteCount = { minute: string; event: string; count: number }

// EventsPerMinute is GET /api/events-per-minute; from is the first minute
// shown ("2026-11-28T12:00", UTC).
export type EventsPerMinute = { from: string; minutes: MinuteCount[] }

export type KeyCount = { key: string; count: number }

// TrainingStats is GET /api/training-stats.
export type TrainingStats = { total: number; by_reason: KeyCount[]; by_day: KeyCount[]; top_prompts: KeyCount[] }

// Suppression is one address on the suppression list.
export type Suppression = { address: string; reason: string; source: string; detail?: string; created_at: string }

// SuppressionsPage is GET /api/suppressions: the latest entries and the
// count of the whole list per reason.
export type SuppressionsPage = { suppressions: Suppression[]; counts: Record<string, number> }

// ReplayResult is POST /api/emails/replay: how many emails were queued again.
export type ReplayResult = { status: 'ok'; requeued: number }

// Answers maps each request the app makes to its answer's type.
export type Answers = {
  'GET /api/config': Config
  'GET /api/stats': Stats
  'GET /api/events': EventsPage
  'GET /api/events/{id}': EventOutcome
  'GET /api/events-per-minute': EventsPerMinute
  'GET /api/training-stats': TrainingStats
  'GET /api/emails': EmailsPage
  'GET /api/emails/{id}': Email
  'GET /api/suppressions': SuppressionsPage
  'POST /api/emails/replay': ReplayResult
}
