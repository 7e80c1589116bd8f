import posthog, { type PostHog } from 'posthog-js'

// Where events go. With VITE_POSTHOG_KEY and VITE_POSTHOG_HOST set at build
// time the app sends to PostHog Cloud, as the original did, and hogpipe
// sees the events through the HTTP Webhook destination. Without them it
// sends to hogpipe itself, at the page's own origin.
export type Mode =
  | { kind: 'cloud'; key: string; host: string }
  | { kind: 'local'; key: string; host: string }

export function cloudMode(env: Record<string, string | undefined>): Mode | null {
  const key = env.VITE_POSTHOG_KEY
  const host = env.VITE_POSTHOG_HOST
  return key && host ? { kind: 'cloud', key, host } : null
}

let client: PostHog | null = null

// initPostHog initialises posthog-js once per page; later calls return the
// same client.
export function initPostHog(mode: Mode): PostHog {
  if (client) return client
  posthog.init(mode.key, {
    api_host: mode.host,
    // Send each event at once, so a click shows up in the pipeline at once.
    request_batching: false,
    autocapture: false,
    capture_pageview: true,
    disable_session_recording: true,
    person_profiles: 'always',
  })
  client = posthog
  return client
}
