import { describe, expect, it } from 'vitest'
import { fireEvent, render, screen, waitFor, within } from '@testing-library/react'
import { Dashboard, type DashboardSource } from './Dashboard'
import { minutesFrom } from './EventsChart'

function source(): { src: DashboardSource; push: (name: string) => void } {
  const events: { name: string; id: string }[] = []
  const src: DashboardSource = async () => ({
    stats: {
      events: events.length,
      events_by_name: events.reduce<Record<string, number>>((m, e) => ({ ...m, [e.name]: (m[e.name] ?? 0) + 1 }), {}),
      events_by_source: {},
      training_examples: events.filter((e) => e.name === 'generation_failed').length,
      training_file_lag: 0,
      emails_by_state: { dry_run: 2 },
    },
    events: events.map((e, i) => ({
      seq: i,
      id: e.id,
      event: e.name,
      distinct_id: 'd',
      source: 'capture' as const,
      timestamp: '',
      received_at: '2026-11-28T12:00:01.000Z',
      properties: {},
    })),
    perMinute: { from: '2026-11-28T11:31', minutes: [{ minute: '2026-11-28T12:00', event: 'x', count: events.length }] },
    training: { total: 1, by_reason: [{ key: 'timeout', count: 1 }], by_day: [], top_prompts: [{ key: 'draw a cat', count: 1 }] },
  })
  return { src, push: (name) => events.push({ name, id: `id-${events.length}` }) }
}

describe('Dashboard', () => {
  it('updates without a reload as events arrive', async () => {
    const { src, push } = source()
    render(<Dashboard source={src} intervalMs={10} />)
    await waitFor(() => expect(screen.getByTestId('stat-events').textContent).toBe('0'))
    push('generation_failed')
    push('feature_used')
    await waitFor(() => expect(screen.getByTestId('stat-events').textContent).toBe('2'))
    expect(screen.getByTestId('stat-training').textContent).toBe('1')
    const table = screen.getByRole('table', { name: 'Latest events' })
    expect(within(table).getAllByRole('row')).toHaveLength(3)
    expect(screen.getByText('dry_run: 2')).toBeTruthy()
    expect(screen.getByRole('list', { name: 'Most frequent prompts' }).textContent).toContain('draw a cat')
    expect(screen.getByText('Download training_data.jsonl').getAttribute('href')).toBe('/api/training-data')
  })

  it('reports an unreachable server', async () => {
    render(<Dashboard source={async () => Promise.reject(new Error('down'))} intervalMs={10} />)
    await waitFor(() => expect(screen.getByText(/Cannot reach hogpipe/)).toBeTruthy())
  })
})

describe('Dashboard admin token', () => {
  it('asks for the admin token on 401 and sends it afterwards', async () => {
    const seen: (string | null)[] = []
    const fetchMock = async (_url: string, init?: RequestInit) => {
      const auth = (init?.headers as Record<string, string> | undefined)?.Authorization ?? null
      seen.push(auth)
      return new Response('{"status":"error"}', { status: auth === 'Bearer s3cret-token-123456' ? 500 : 401 })
    }
    const orig = globalThis.fetch
    globalThis.fetch = fetchMock as typeof fetch
    try {
      render(<Dashboard intervalMs={10} />)
      const input = await screen.findByLabelText(/Admin token/)
      fireEvent.change(input, { target: { value: 's3cret-token-123456' } })
      fireEvent.click(screen.getByText('Use token'))
      await waitFor(() => expect(seen).toContain('Bearer s3cret-token-123456'))
    } finally {
      globalThis.fetch = orig
      sessionStorage.clear()
    }
  })
})

describe('minutesFrom', () => {
  it('lists consecutive UTC minutes across an hour', () => {
    expect(minutesFrom('2026-11-28T11:58', 3)).toEqual(['2026-11-28T11:58', '2026-11-28T11:59', '2026-11-28T12:00'])
  })
})
