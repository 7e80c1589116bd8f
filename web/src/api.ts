// Typed calls to hogpipe's read API.

export type Stats = {
  events: number
  events_by_name: Record<string, number>
  events_by_source: Record<string, number>
  training_examples: number
  training_file_lag: number
  emails_by_state?: Record<string, number>
}

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

export type EmailOutcome = { state: string; last_error?: string; message_id?: string; attempts?: number }

export type EventOutcome = {
  event: StoredEvent
  training_example?: Record<string, unknown>
  email?: EmailOutcome
}

export type MinuteCount = { minute: string; event: string; count: number }

export type KeyCount = { key: string; count: number }

export type TrainingStats = { total: number; by_reason: KeyCount[]; by_day: KeyCount[]; top_prompts: KeyCount[] }

// The read API is open to requests from the machine hogpipe runs on; from
// anywhere else it wants HOGPIPE_ADMIN_TOKEN, which the dashboard asks for
// once and keeps for the browser tab.
const tokenKey = 'hogpipe-admin-token'

export const adminToken = {
  get: (): string | null => sessionStorage.getItem(tokenKey),
  set: (t: string) => sessionStorage.setItem(tokenKey, t),
}

export class AuthError extends Error {}

function headers(): HeadersInit {
  const t = adminToken.get()
  return t ? { Accept: 'application/json', Authorization: `Bearer ${t}` } : { Accept: 'application/json' }
}

export async function getJSON<T>(path: string, signal?: AbortSignal): Promise<T> {
  const res = await fetch(path, { signal, headers: headers() })
  if (res.status === 401) throw new AuthError('admin token required')
  if (!res.ok) throw new Error(`${path}: ${res.status}`)
  return (await res.json()) as T
}

export const api = {
  config: () => getJSON<{ capture_token: string }>('/api/config'),
  stats: (signal?: AbortSignal) => getJSON<Stats>('/api/stats', signal),
  events: (limit: number, signal?: AbortSignal) =>
    getJSON<{ events: StoredEvent[] }>(`/api/events?limit=${limit}`, signal).then((r) => r.events),
  trainingStats: (signal?: AbortSignal) => getJSON<TrainingStats>('/api/training-stats?top=5', signal),
  perMinute: (signal?: AbortSignal) =>
    getJSON<{ from: string; minutes: MinuteCount[] }>('/api/events-per-minute?minutes=30', signal),
  // Resolves to null while the pipeline has not stored the event yet.
  event: async (id: string, signal?: AbortSignal): Promise<EventOutcome | null> => {
    const res = await fetch(`/api/events/${encodeURIComponent(id)}`, { signal, headers: headers() })
    if (res.status === 404) return null
    if (!res.ok) throw new Error(`event ${id}: ${res.status}`)
    return (await res.json()) as EventOutcome
  },
}

// downloadTrainingData saves the training data export for an admin who
// holds the token: a plain link cannot send the Authorization header, so a
// remote admin would save the 401 answer as the file. The export is
// fetched with the header and handed to the browser as a Blob (the whole
// export is held in memory once; local users keep the streaming link).
export async function downloadTrainingData(
  filename = 'training_data.jsonl',
  doc: Document = document,
): Promise<void> {
  const res = await fetch('/api/training-data', { headers: { ...headers(), Accept: 'application/x-ndjson' } })
  if (res.status === 401) throw new AuthError('admin token required')
  if (!res.ok) throw new Error(`training data: ${res.status}`)
  const blob = await res.blob()
  const url = URL.createObjectURL(blob)
  const a = doc.createElement('a')
  a.href = url
  a.download = filename
  doc.body.appendChild(a)
  try {
    a.click()
  } finally {
    a.remove()
    // The click starts the download; the URL can go once it has.
    setTimeout(() => URL.revokeObjectURL(url), 10_000)
  }
}
