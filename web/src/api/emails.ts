// Typed calls for the email outbox, its delivery history and the
// suppression list.
import { getJSON } from './client'
import type { Email } from './types'

// EmailSnapshot is what the email panel shows: the latest emails and the
// suppression list's count per reason.
export type EmailSnapshot = { emails: Email[]; suppressionCounts: Record<string, number> }

// What each state means, shown as the state's tooltip.
export const stateHelp: Record<string, string> = {
  queued: 'waiting for a worker',
  sending: 'a worker is sending it',
  sent: 'Mailgun accepted it',
  retrying: 'a send failed transiently; it will be retried',
  failed: 'failed for good or out of attempts; replayable',
  skipped: 'no email address',
  suppressed: 'not sent: frequency cap or suppression list (see reason)',
  dry_run: 'rendered, not sent (Mailgun not configured)',
  no_consent: 'not sent: the person has not consented',
  delivered: "delivered to the recipient's mail server",
  bounced: 'permanent delivery failure; address suppressed',
  complained: 'marked as spam; address suppressed',
}

export const emailApi = {
  list: (limit: number, signal?: AbortSignal) =>
    getJSON('GET /api/emails', `/api/emails?limit=${limit}`, signal).then((r) => r.emails),
  get: (id: number, signal?: AbortSignal) => getJSON('GET /api/emails/{id}', `/api/emails/${id}`, signal),
  suppressions: (signal?: AbortSignal) => getJSON('GET /api/suppressions', '/api/suppressions?limit=20', signal),
}

export const loadEmailSnapshot = async (signal: AbortSignal): Promise<EmailSnapshot> => {
  const [emails, sup] = await Promise.all([emailApi.list(20, signal), emailApi.suppressions(signal)])
  return { emails, suppressionCounts: sup.counts }
}
