import { useEffect, useState } from 'react'
import { api } from './api/client'
import { PostHogDemo, type Capturer } from './components/PostHogDemo'
import { Dashboard } from './components/Dashboard'
import { EmailPanel } from './components/EmailPanel'
import { cloudMode, initPostHog, type Mode } from './posthog'

// App picks the posthog-js mode, initialises it once and lays out the demo
// beside the dashboard.
export function App() {
  const [setup, setSetup] = useState<{ mode: Mode; client: Capturer } | null>(null)
  const [problem, setProblem] = useState<string | null>(null)

  useEffect(() => {
    let gone = false
    const cloud = cloudMode(import.meta.env)
    // Local mode: send to this origin with the token hogpipe accepts.
    const mode: Promise<Mode> = cloud
      ? Promise.resolve(cloud)
      : api.config().then((c) => ({ kind: 'local', key: c.capture_token, host: window.location.origin }))
    mode
      .then((m) => {
        if (!gone) setSetup({ mode: m, client: initPostHog(m) })
      })
      .catch((e) => {
        if (!gone) setProblem(`Cannot reach hogpipe: ${e}`)
      })
    return () => {
      gone = true
    }
  }, [])

  const mode = setup?.mode
  return (
    <main className="mx-auto max-w-6xl p-4">
      <header className="mb-4 flex flex-wrap items-baseline justify-between gap-2">
        <h1 className="text-2xl font-bold">hogpipe</h1>
        <p className="text-sm" data-testid="mode">
          {mode?.kind === 'cloud' && <>Sending to PostHog Cloud at {mode.host}; events come back through the HTTP Webhook destination.</>}
          {mode?.kind === 'local' && <>Local mode: posthog-js sends straight to hogpipe at {mode.host}. No PostHog account needed.</>}
        </p>
      </header>
      {problem && <p className="text-rose-700">{problem}</p>}
      <div className="grid gap-4 md:grid-cols-[minmax(0,2fr)_minmax(0,3fr)]">
        {setup ? <PostHogDemo client={setup.client} lookup={api.event} /> : <div />}
        <Dashboard />
      </div>
      <div className="mt-4">
        <EmailPanel />
      </div>
    </main>
  )
}
