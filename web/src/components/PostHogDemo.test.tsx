import { describe, expect, it, vi } from 'vitest'
import { fireEvent, render, screen, waitFor } from '@testing-library/react'
import { PostHogDemo, describe as describeOutcome, type Capturer } from './PostHogDemo'
import type { EventOutcome } from '../api/types'

function fakeClient() {
  let n = 0
  const calls: { identify: unknown[][]; capture: unknown[][] } = { identify: [], capture: [] }
  const client: Capturer = {
    identify: (...a) => void calls.identify.push(a),
    capture: (...a) => {
      calls.capture.push(a)
      return { uuid: `uuid-${++n}` }
    },
  }
  return { client, calls }
}

const stored = (id: string, event: string, extra: Partial<EventOutcome> = {}): EventOutcome => ({
  event: { seq: 1, id, event, distinct_id: 'd', source: 'capture', timestamp: '', received_at: '', properties: {} },
  ...extra,
})

describe('PostHogDemo', () => {
  it('identifies the user by email and captures feature_used', () => {
    const { client, calls } = fakeClient()
    render(<PostHogDemo client={client} lookup={async () => null} />)
    fireEvent.change(screen.getByLabelText('Email'), { target: { value: 'ada@example.com' } })
    fireEvent.click(screen.getByText('Simulate Feature Usage'))
    expect(calls.identify).toEqual([['ada@example.com', { email: 'ada@example.com' }]])
    expect(calls.capture).toEqual([['feature_used', { feature: 'export' }, { $set: { email: 'ada@example.com' } }]])
    expect(screen.getByText(/feature_used · uuid-1/)).toBeTruthy()
  })

  it('refuses feature usage without an email address', () => {
    const { client, calls } = fakeClient()
    render(<PostHogDemo client={client} lookup={async () => null} />)
    fireEvent.click(screen.getByText('Simulate Feature Usage'))
    expect(calls.capture).toHaveLength(0)
    expect(screen.getByRole('alert').textContent).toMatch(/email/i)
  })

  it('captures generation_failed with the prompt and reason, then shows the outcome', async () => {
    const { client, calls } = fakeClient()
    const lookup = vi.fn(async (id: string) => (lookup.mock.calls.length < 2 ? null : stored(id, 'generation_failed', { training_example: { id } })))
    render(<PostHogDemo client={client} lookup={lookup} pollMs={5} />)
    fireEvent.change(screen.getByLabelText('Prompt'), { target: { value: 'draw a cat' } })
    fireEvent.change(screen.getByLabelText('Failure reason'), { target: { value: 'rate_limited' } })
    fireEvent.click(screen.getByText('Simulate Generation Failure'))
    expect(calls.capture).toEqual([['generation_failed', { failure_reason: 'rate_limited', input_prompt: 'draw a cat' }]])
    expect(screen.getByTestId('outcome').textContent).toMatch(/waiting/)
    await waitFor(() => expect(screen.getByTestId('outcome').textContent).toBe('stored → training example written'))
    expect(lookup).toHaveBeenCalledWith('uuid-1')
  })

  it('says so when posthog-js drops the event', () => {
    const client: Capturer = { identify: () => {}, capture: () => undefined }
    render(<PostHogDemo client={client} lookup={async () => null} />)
    fireEvent.change(screen.getByLabelText('Prompt'), { target: { value: 'p' } })
    fireEvent.click(screen.getByText('Simulate Generation Failure'))
    expect(screen.getByRole('alert').textContent).toMatch(/did not send/)
  })
})

describe('PostHogDemo heading', () => {
  it('names the panel in words a person reads, not after the component', () => {
    const { client } = fakeClient()
    render(<PostHogDemo client={client} lookup={async () => null} />)
    const heading = screen.getByRole('heading', { level: 2 })
    expect(heading.textContent).toBe('Try it: send events from this page')
    expect(heading.textContent).not.toMatch(/^[A-Z][a-z]+[A-Z]\w*$/)
    expect(screen.getByRole('region', { name: 'Try it: send events from this page' })).toBeTruthy()
  })
})

describe('describe', () => {
  it('names each outcome', () => {
    expect(describeOutcome(stored('a', 'generation_failed'))).toBe('stored')
    expect(describeOutcome(stored('a', 'feature_used'))).toBe('stored → email destination pending')
    const email = {
      id: 1,
      event_id: 'a',
      state: 'failed',
      recipient: 'ada@example.com',
      template: 'feature_used',
      attempts: 3,
      last_error: 'bad address',
      created_at: '2026-11-29T12:00:00Z',
      updated_at: '2026-11-29T12:00:01Z',
    }
    expect(describeOutcome(stored('a', 'feature_used', { email }))).toBe(
      'stored → email failed (bad address)',
    )
  })
})
