import { useCallback, useState } from 'react'
import { AuthError } from '../api/client'
import { emailApi, loadEmailSnapshot, stateHelp, type EmailSnapshot } from '../api/emails'
import type { Email } from '../api/types'
import { usePoll } from '../usePoll'

const stateColor: Record<string, string> = {
  sent: 'bg-sky-100 text-sky-800',
  delivered: 'bg-emerald-100 text-emerald-800',
  dry_run: 'bg-slate-100 text-slate-700',
  bounced: 'bg-rose-100 text-rose-800',
  complained: 'bg-rose-100 text-rose-800',
  failed: 'bg-rose-100 text-rose-800',
  suppressed: 'bg-amber-100 text-amber-800',
  no_consent: 'bg-amber-100 text-amber-800',
}

const reasons = ['unsubscribed', 'bounced', 'complained', 'manual']

// EmailPanel lists the latest emails with their states, each with its
// delivery history on demand, and counts the suppression list by reason.
export function EmailPanel({
  source = loadEmailSnapshot,
  loadEmail = emailApi.get,
  intervalMs = 2000,
}: {
  source?: (signal: AbortSignal) => Promise<EmailSnapshot>
  loadEmail?: (id: number) => Promise<Email>
  intervalMs?: number
}) {
  const load = useCallback((s: AbortSignal) => source(s), [source])
  const { data, error } = usePoll(load, intervalMs)
  return (
    <section className="rounded-lg border border-slate-200 bg-white p-4 shadow-sm" aria-label="Emails">
      <h2 className="mb-2 text-lg font-semibold">Emails</h2>
      {error != null && !(error instanceof AuthError) && <p className="text-sm text-rose-700">Cannot load emails: {String(error)}</p>}
      {data && (
        <>
          <h3 className="text-sm font-medium">Suppressed recipients by reason</h3>
          <ul className="mb-3 flex flex-wrap gap-3 text-sm" aria-label="Suppressions by reason">
            {reasons.map((r) => (
              <li key={r}>
                {r}: <span data-testid={`suppressed-${r}`}>{data.suppressionCounts[r] ?? 0}</span>
              </li>
            ))}
          </ul>
          <table className="w-full text-left text-xs" aria-label="Latest emails">
            <thead>
              <tr className="text-slate-500">
                <th>#</th>
                <th>recipient</th>
                <th>state</th>
                <th>why / opens·clicks</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {data.emails.length === 0 && (
                <tr>
                  <td colSpan={5} className="text-slate-500">
                    none yet
                  </td>
                </tr>
              )}
              {data.emails.map((m) => (
                <EmailRow key={m.id} email={m} loadEmail={loadEmail} />
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  )
}

function EmailRow({ email, loadEmail }: { email: Email; loadEmail: (id: number) => Promise<Email> }) {
  const [detail, setDetail] = useState<Email | null>(null)
  const [problem, setProblem] = useState<string | null>(null)
  const open = detail != null
  const toggle = () => {
    if (open) {
      setDetail(null)
      return
    }
    loadEmail(email.id)
      .then((d) => {
        setDetail(d)
        setProblem(null)
      })
      .catch((e) => setProblem(String(e)))
  }
  return (
    <>
      <tr className="border-t border-slate-100" data-email-id={email.id}>
        <td>{email.id}</td>
        <td className="max-w-40 truncate">{email.recipient || '—'}</td>
        <td>
          <span className={`rounded px-1.5 py-0.5 ${stateColor[email.state] ?? 'bg-slate-100'}`} title={stateHelp[email.state] ?? email.state} data-testid="email-state">
            {email.state}
          </span>
        </td>
        <td className="max-w-56 truncate" title={email.reason || email.last_error}>
          {email.reason || email.last_error || (email.opens || email.clicks ? `${email.opens ?? 0}·${email.clicks ?? 0}` : '')}
        </td>
        <td className="whitespace-nowrap">
          <button className="text-indigo-700 underline" onClick={toggle} aria-expanded={open}>
            {open ? 'Hide' : 'History'}
          </button>
          {email.state === 'dry_run' && (
            <a className="ml-2 text-indigo-700 underline" href={`/api/emails/${email.id}/preview`} target="_blank" rel="noreferrer">
              Preview
            </a>
          )}
        </td>
      </tr>
      {problem && (
        <tr>
          <td colSpan={5} className="text-rose-700">
            {problem}
          </td>
        </tr>
      )}
      {detail && (
        <tr>
          <td colSpan={5}>
            <p className="text-slate-600">
              opens {detail.opens ?? 0} · clicks {detail.clicks ?? 0}
            </p>
            <ol className="list-disc pl-5" aria-label={`History of email ${email.id}`}>
              {(detail.history ?? []).length === 0 && <li className="text-slate-500">no delivery events yet</li>}
              {(detail.history ?? []).map((h, i) => (
                <li key={i}>
                  <span className="font-mono">{h.at.slice(0, 19).replace('T', ' ')}</span> {h.event}
                  {h.detail && <span className="text-slate-500"> — {h.detail}</span>}
                </li>
              ))}
            </ol>
          </td>
        </tr>
      )}
    </>
  )
}
