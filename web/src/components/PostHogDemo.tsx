import { useEffect, useState } from 'react'
import type { EventOutcome } from '../api/types'

// Capturer is the part of posthog-js the demo uses.
export type Capturer = {
  identify: (distinctId: string, props?: Record<string, unknown>) => void
  capture: (
    event: string,
    props?: Record<string, unknown>,
    options?: { $set?: Record<string, unknown> },
  ) => { uuid: string } | undefined | void
}

type Sent = {
  id: string
  event: string
  properties: Record<string, unknown>
  sentAt: Date
}

export const failureReasons = ['timeout', 'content_policy', 'rate_limited', 'model_error', 'invalid_input']

type Props = {
  client: Capturer
  lookup: (id: string) => Promise<EventOutcome | null>
  pollMs?: number
}

export function PostHogDemo({ client, lookup, pollMs = 500 }: Props) {
  const [email, setEmail] = useState('')
  const [feature, setFeature] = useState('export')
  const [prompt, setPrompt] = useState('')
  const [reason, setReason] = useState(failureReasons[0])
  const [sent, setSent] = useState<Sent[]>([])
  const [problem, setProblem] = useState<string | null>(null)

  const record = (event: string, properties: Record<string, unknown>, result: ReturnType<Capturer['capture']>) => {
    if (!result || !result.uuid) {
      setProblem('posthog-js did not send the event (opted out, or the browser looks like a bot).')
      return
    }
    setProblem(null)
    setSent((s) => [{ id: result.uuid, event, properties, sentAt: new Date() }, ...s].slice(0, 10))
  }

  const simulateFeatureUsage = () => {
    const address = email.trim()
    if (!address.includes('@')) {
      setProblem('Enter an email address first: the marketing email goes there.')
      return
    }
    client.identify(address, { email: address })
    const properties = { feature }
    // $set on the event itself too: posthog-js sends $identify and this
    // event as separate requests, and the email must not depend on which
    // one the pipeline stores first.
    record('feature_used', properties, client.capture('feature_used', properties, { $set: { email: address } }))
  }

  const simulateGenerationFailure = () => {
    if (!prompt.trim()) {
      setProblem('Enter a prompt first: it becomes the training example.')
      return
    }
    const properties = { failure_reason: reason, input_prompt: prompt }
    record('generation_failed', properties, client.capture('generation_failed', properties))
  }

  return (
    <section className="rounded-lg border border-slate-200 bg-white p-4 shadow-sm" aria-labelledby="try-it-heading">
      <h2 id="try-it-heading" className="mb-3 text-lg font-semibold">
        Try it: send events from this page
      </h2>
      <div className="space-y-2">
        <label className="block text-sm">
          Email
          <input
            className="mt-1 w-full rounded border px-2 py-1"
            type="email"
            name="email"
            value={email}
            onChange={(e) => setEmail(e.target.value)}
            placeholder="user@example.com"
          />
        </label>
        <label className="block text-sm">
          Feature
          <input className="mt-1 w-full rounded border px-2 py-1" name="feature" value={feature} onChange={(e) => setFeature(e.target.value)} />
        </label>
        <button className="rounded bg-indigo-600 px-3 py-1.5 text-white hover:bg-indigo-700" onClick={simulateFeatureUsage}>
          Simulate Feature Usage
        </button>
      </div>
      <div className="mt-4 space-y-2">
        <label className="block text-sm">
          Prompt
          <textarea
            className="mt-1 w-full rounded border px-2 py-1"
            name="prompt"
            rows={2}
            value={prompt}
            onChange={(e) => setPrompt(e.target.value)}
            placeholder="Draw a cat riding a bicycle"
          />
        </label>
        <label className="block text-sm">
          Failure reason
          <select className="mt-1 w-full rounded border px-2 py-1" name="reason" value={reason} onChange={(e) => setReason(e.target.value)}>
            {failureReasons.map((r) => (
              <option key={r}>{r}</option>
            ))}
          </select>
        </label>
        <button className="rounded bg-rose-600 px-3 py-1.5 text-white hover:bg-rose-700" onClick={simulateGenerationFailure}>
          Simulate Generation Failure
        </button>
      </div>
      {problem && (
        <p role="alert" className="mt-3 text-sm text-rose-700">
          {problem}
        </p>
      )}
      <ul className="mt-4 space-y-2" aria-label="Sent events">
        {sent.map((s) => (
          <SentItem key={s.id} sent={s} lookup={lookup} pollMs={pollMs} />
        ))}
      </ul>
    </section>
  )
}

// SentItem shows one sent event and polls until the pipeline reports it.
function SentItem({ sent, lookup, pollMs }: { sent: Sent; lookup: Props['lookup']; pollMs: number }) {
  const [outcome, setOutcome] = useState<EventOutcome | null>(null)
  useEffect(() => {
    let stop = false
    let timer: ReturnType<typeof setTimeout>
    const poll = async () => {
      try {
        const o = await lookup(sent.id)
        if (stop) return
        if (o) setOutcome(o)
        const settled = o && (o.event.event !== 'feature_used' || (o.email && !['queued', 'sending', 'retrying'].includes(o.email.state)))
        if (settled) return
      } catch {
        // keep polling: the server may be restarting
      }
      if (!stop) timer = setTimeout(poll, pollMs)
    }
    poll()
    return () => {
      stop = true
      clearTimeout(timer)
    }
  }, [sent.id, lookup, pollMs])

  return (
    <li className="rounded border border-slate-200 p-2 text-sm" data-event-id={sent.id}>
      <div className="font-mono text-xs text-slate-500">
        {sent.event} · {sent.id}
      </div>
      <pre className="mt-1 overflow-x-auto text-xs">{JSON.stringify(sent.properties)}</pre>
      <div className="mt-1" data-testid="outcome">
        {outcome ? describe(outcome) : 'sent; waiting for the pipeline…'}
      </div>
    </li>
  )
}

export function describe(o: EventOutcome): string {
  if (o.event.event === 'generation_failed') {
    return o.training_example ? 'stored → training example written' : 'stored'
  }
  if (o.event.event === 'feature_used') {
    if (!o.email) return 'stored → email destination pending'
    return `stored → email ${o.email.state}${o.email.last_error ? ` (${o.email.last_error})` : ''}`
  }
  return 'stored'
}
