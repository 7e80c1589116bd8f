import { describe, expect, it } from 'vitest'
import { fireEvent, render, screen, waitFor, within } from '@testing-library/react'
import { EmailPanel } from './EmailPanel'
import type { EmailSnapshot } from '../api/emails'
import type { Email } from '../api/types'

const base = {
  event_id: 'e',
  template: 'feature_used',
  attempts: 1,
  created_at: '2026-11-29T12:00:00Z',
  updated_at: '2026-11-29T12:00:01Z',
}

describe('EmailPanel', () => {
  it('shows the new states, suppression counts by reason and an email history on demand', async () => {
    const emails: Email[] = [
      { ...base, id: 3, state: 'bounced', recipient: 'carol@example.com' },
      { ...base, id: 2, state: 'no_consent', recipient: 'dan@example.com', reason: 'person property marketing_consent is not true' },
      { ...base, id: 1, state: 'delivered', recipient: 'bob@example.com', opens: 2, clicks: 1 },
    ]
    let counts: Record<string, number> = { bounced: 1 }
    const source = async (): Promise<EmailSnapshot> => ({ emails, suppressionCounts: counts })
    const asked: number[] = []
    const loadEmail = async (id: number): Promise<Email> => {
      asked.push(id)
      return {
        ...emails.find((m) => m.id === id)!,
        history: [
          { at: '2026-11-29T12:00:05Z', event: 'delivered', detail: '250 OK' },
          { at: '2026-11-29T12:03:00Z', event: 'opened' },
        ],
      }
    }
    render(<EmailPanel source={source} loadEmail={loadEmail} intervalMs={10} />)
    const table = await screen.findByRole('table', { name: 'Latest emails' })
    const states = within(table).getAllByTestId('email-state').map((s) => s.textContent)
    expect(states).toEqual(['bounced', 'no_consent', 'delivered'])
    expect(within(table).getAllByTestId('email-state')[1].getAttribute('title')).toMatch(/consent/)
    expect(screen.getByText(/marketing_consent is not true/)).toBeTruthy()
    expect(screen.getByTestId('suppressed-bounced').textContent).toBe('1')
    expect(screen.getByTestId('suppressed-unsubscribed').textContent).toBe('0')

    counts = { bounced: 1, unsubscribed: 4 }
    await waitFor(() => expect(screen.getByTestId('suppressed-unsubscribed').textContent).toBe('4'))

    const row = table.querySelector('tr[data-email-id="1"]') as HTMLElement
    fireEvent.click(within(row).getByText('History'))
    const history = await screen.findByRole('list', { name: 'History of email 1' })
    expect(asked).toEqual([1])
    expect(history.textContent).toContain('delivered')
    expect(history.textContent).toContain('250 OK')
    expect(history.textContent).toContain('opened')
    expect(screen.getByText('opens 2 · clicks 1')).toBeTruthy()
    fireEvent.click(within(row).getByText('Hide'))
    await waitFor(() => expect(screen.queryByRole('list', { name: 'History of email 1' })).toBeNull())
  })

  it('links a dry-run email to its preview', async () => {
    const source = async (): Promise<EmailSnapshot> => ({
      emails: [{ ...base, id: 7, state: 'dry_run', recipient: 'kim@example.com' }],
      suppressionCounts: {},
    })
    render(<EmailPanel source={source} loadEmail={async () => Promise.reject(new Error('x'))} intervalMs={10} />)
    const link = await screen.findByText('Preview')
    expect(link.getAttribute('href')).toBe('/api/emails/7/preview')
  })
})
