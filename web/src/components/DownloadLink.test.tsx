import { afterEach, describe, expect, it, vi } from 'vitest'
import { fireEvent, render, screen, waitFor } from '@testing-library/react'
import { adminToken } from '../api/client'
import { DownloadLink } from './DownloadLink'

// What the page hands the browser to save: the anchor clicked with a blob
// URL, and the blob behind it.
function captureSaves() {
  const saved: { name: string; blob: Blob }[] = []
  const blobs = new Map<string, Blob>()
  let n = 0
  vi.stubGlobal('URL', {
    ...URL,
    createObjectURL: (b: Blob) => {
      const u = `blob:test/${n++}`
      blobs.set(u, b)
      return u
    },
    revokeObjectURL: () => {},
  })
  const click = vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(function (this: HTMLAnchorElement) {
    const b = blobs.get(this.getAttribute('href') ?? '')
    if (b) saved.push({ name: this.download, blob: b })
  })
  return { saved, click }
}

afterEach(() => {
  vi.unstubAllGlobals()
  vi.restoreAllMocks()
  sessionStorage.clear()
})

describe('DownloadLink', () => {
  it('fetches the export with the admin token and saves it, for a remote admin', async () => {
    adminToken.set('s3cret')
    const body = '{"id":"a"}\n{"id":"b"}\n'
    const fetchMock = vi.fn(async (_url: string, init?: RequestInit) => {
      const auth = new Headers(init?.headers).get('Authorization')
      return auth === 'Bearer s3cret'
        ? new Response(body, { status: 200, headers: { 'Content-Type': 'application/x-ndjson' } })
        : new Response('{"status":"error","code":"unauthorized"}', { status: 401 })
    })
    vi.stubGlobal('fetch', fetchMock)
    const { saved } = captureSaves()
    render(<DownloadLink />)
    fireEvent.click(screen.getByText('Download training_data.jsonl'))
    await waitFor(() => expect(saved).toHaveLength(1))
    expect(fetchMock).toHaveBeenCalledWith('/api/training-data', expect.anything())
    expect(saved[0].name).toBe('training_data.jsonl')
    expect(await saved[0].blob.text()).toBe(body)
  })

  it('saves nothing and says so when the token is refused', async () => {
    adminToken.set('wrong')
    vi.stubGlobal('fetch', vi.fn(async () => new Response('{"status":"error"}', { status: 401 })))
    const { saved } = captureSaves()
    render(<DownloadLink />)
    fireEvent.click(screen.getByText('Download training_data.jsonl'))
    await waitFor(() => expect(screen.getByRole('alert').textContent).toMatch(/token was refused/))
    expect(saved).toHaveLength(0)
  })

  it('leaves the plain streaming link alone on this machine (no token)', () => {
    const fetchMock = vi.fn()
    vi.stubGlobal('fetch', fetchMock)
    render(<DownloadLink />)
    const link = screen.getByText('Download training_data.jsonl')
    link.setAttribute('href', '#') // jsdom cannot navigate to the export
    const notPrevented = link.dispatchEvent(new MouseEvent('click', { bubbles: true, cancelable: true }))
    expect(notPrevented).toBe(true)
    expect(fetchMock).not.toHaveBeenCalled()
  })
})
