// Typed calls to hogpipe's read API; the answers' types are in types.ts.
import type { Answers, ErrorBody, EventOutcome } from './types'

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

// problemOf names what went wrong from an error answer's JSON body
// (ErrorBody), or from its status when the body is not ours (a proxy's page).
async function problemOf(what: string, res: Response): Promise<string> {
  const body = (await res.json().catch(() => null)) as Partial<ErrorBody> | null
  return body && typeof body.error === 'string' ? `${what}: ${body.error} (${res.status})` : `${what}: ${res.status}`
}

// getJSON fetches a read API path and returns its answer, typed by the
// request it answers (types.ts, Answers).
export async function getJSON<R extends keyof Answers>(_request: R, path: string, signal?: AbortSignal): Promise<Answers[R]> {
  const res = await fetch(path, { signal, headers: headers() })
  if (res.status === 401) throw new AuthError('admin token required')
  if (!res.ok) throw new Error(await problemOf(path, res))
  return (await res.json()) as Answers[R]
}

export const api = {
  config: () => getJSON('GET /api/config', '/api/config'),
  stats: (signal?: AbortSignal) => getJSON('GET /api/stats', '/api/stats', signal),
  events: (limit: number, signal?: AbortSignal) =>
    getJSON('GET /api/events', `/api/events?limit=${limit}`, signal).then((r) => r.events),
  trainingStats: (signal?: AbortSignal) => getJSON('GET /api/training-stats', '/api/training-stats?top=5', signal),
  perMinute: (signal?: AbortSignal) => getJSON('GET /api/events-per-minute', '/api/events-per-minute?minutes=30', signal),
  // Resolves to null while the pipeline has not stored the event yet.
  event: async (id: string, signal?: AbortSignal): Promise<EventOutcome | null> => {
    const res = await fetch(`/api/events/${encodeURIComponent(id)}`, { signal, headers: headers() })
    if (res.status === 404) return null
    if (res.status === 401) throw new AuthError('admin token required')
    if (!res.ok) throw new Error(await problemOf(`event ${id}`, res))
    return (await res.json()) as Answers['GET /api/events/{id}']
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
  if (!res.ok) throw new Error(await problemOf('training data', res))
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
