import { useCallback, useState } from 'react'
import { AuthError, adminToken, api } from '../api/client'
import type { EventsPerMinute, Stats, StoredEvent, TrainingStats } from '../api/types'
import { usePoll } from '../usePoll'
import { DownloadLink } from './DownloadLink'
import { EventsChart } from './EventsChart'

type Snapshot = {
  stats: Stats
  events: StoredEvent[]
  perMinute: EventsPerMinute
  training?: TrainingStats
}

export type DashboardSource = (signal: AbortSignal) => Promise<Snapshot>

export const loadSnapshot: DashboardSource = async (signal) => {
  const [stats, events, perMinute, training] = await Promise.all([
    api.stats(signal),
    api.events(20, signal),
    api.perMinute(signal),
    api.trainingStats(signal),
  ])
  return { stats, events, perMinute, training }
}

// Dashboard shows what the pipeline received and did, refreshed by short
// polling (every second by default) without reloading the page.
export function Dashboard({ source = loadSnapshot, intervalMs = 1000 }: { source?: DashboardSource; intervalMs?: number }) {
  const load = useCallback((s: AbortSignal) => source(s), [source])
  const { data, error } = usePoll(load, intervalMs)
  return (
    <section className="rounded-lg border border-slate-200 bg-white p-4 shadow-sm" aria-label="Dashboard">
      <div className="mb-3 flex items-center justify-between">
        <h2 className="text-lg font-semibold">Pipeline</h2>
        <DownloadLink />
      </div>
      {error instanceof AuthError ? (
        <AdminTokenForm />
      ) : (
        error != null && <p className="text-sm text-rose-700">Cannot reach hogpipe: {String(error)}</p>
      )}
      {data ? <Body data={data} /> : <p className="text-sm text-slate-500">Loading…</p>}
    </section>
  )
}

function Body({ data }: { data: Snapshot }) {
  const { stats, events, perMinute } = data
  const names = Object.entries(stats.events_by_name).sort((a, b) => b[1] - a[1])
  const emails = Object.entries(stats.emails_by_state)
  return (
    <>
      <dl className="grid grid-cols-2 gap-2 sm:grid-cols-4">
        <Stat label="Events received" value={stats.events} testId="stat-events" />
        <Stat label="Training examples" value={stats.training_examples} testId="stat-training" />
        <Stat label="generation_failed" value={stats.events_by_name['generation_failed'] ?? 0} testId="stat-generation-failed" />
        <Stat label="feature_used" value={stats.events_by_name['feature_used'] ?? 0} testId="stat-feature-used" />
      </dl>
      <div className="mt-3 grid gap-3 sm:grid-cols-2">
        <CountList title="Events by name" counts={names} mono />
        <CountList title="Emails by state" counts={emails} />
      </div>
      {data.training && <TrainingSummary training={data.training} />}
      <div className="mt-3">
        <EventsChart from={perMinute.from} counts={perMinute.minutes} />
      </div>
      <h3 className="mt-3 text-sm font-medium">Latest events</h3>
      <table className="mt-1 w-full text-left text-xs" aria-label="Latest events">
        <thead>
          <tr className="text-slate-500">
            <th>received</th>
            <th>event</th>
            <th>distinct_id</th>
            <th>source</th>
          </tr>
        </thead>
        <tbody>
          {events.map((e) => (
            <tr key={e.id} className="border-t border-slate-100" data-event-id={e.id}>
              <td>{e.received_at.slice(11, 19)}</td>
              <td className="font-mono">{e.event}</td>
              <td className="max-w-40 truncate">{e.distinct_id}</td>
              <td>{e.source}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  )
}

// CountList is a titled list of key: count lines (events per name, emails
// per state, examples per failure reason), labelled by its title.
function CountList({ title, counts, mono = false }: { title: string; counts: [string, number][]; mono?: boolean }) {
  return (
    <div>
      <h3 className="text-sm font-medium">{title}</h3>
      <ul className="text-sm" aria-label={title}>
        {counts.length === 0 && <li className="text-slate-500">none yet</li>}
        {counts.map(([key, count]) => (
          <li key={key}>
            {mono ? <span className="font-mono">{key}</span> : key}: {count}
          </li>
        ))}
      </ul>
    </div>
  )
}

function Stat({ label, value, testId }: { label: string; value: number; testId: string }) {
  return (
    <div className="rounded bg-slate-100 p-2">
      <dt className="text-xs text-slate-500">{label}</dt>
      <dd className="text-xl font-semibold" data-testid={testId}>
        {value}
      </dd>
    </div>
  )
}

// AdminTokenForm asks for HOGPIPE_ADMIN_TOKEN when the dashboard is opened
// from another machine; the next poll uses it.
function AdminTokenForm() {
  const [token, setToken] = useState('')
  return (
    <form
      className="mb-3 flex gap-2 text-sm"
      onSubmit={(e) => {
        e.preventDefault()
        adminToken.set(token.trim())
      }}
    >
      <label className="flex-1">
        Admin token (HOGPIPE_ADMIN_TOKEN)
        <input className="mt-1 w-full rounded border px-2 py-1" type="password" name="admin-token" value={token} onChange={(e) => setToken(e.target.value)} />
      </label>
      <button className="self-end rounded bg-slate-700 px-3 py-1.5 text-white">Use token</button>
    </form>
  )
}

function TrainingSummary({ training }: { training: TrainingStats }) {
  return (
    <div className="mt-3 grid gap-3 sm:grid-cols-2">
      <CountList title="Examples per failure reason" counts={training.by_reason.map((r) => [r.key, r.count])} mono />
      <div>
        <h3 className="text-sm font-medium">Most frequent prompts</h3>
        <ol className="list-decimal pl-5 text-sm" aria-label="Most frequent prompts">
          {training.top_prompts.map((p) => (
            <li key={p.key} className="truncate" title={p.key}>
              {p.key} <span className="text-slate-500">×{p.count}</span>
            </li>
          ))}
        </ol>
      </div>
    </div>
  )
}
