import { afterEach, describe, expect, it } from 'vitest'
import { api } from './client'
import type { ErrorBody } from './types'

const orig = globalThis.fetch
afterEach(() => {
  globalThis.fetch = orig
})

function answer(status: number, body: string) {
  globalThis.fetch = (async () => new Response(body, { status })) as typeof fetch
}

describe('api errors', () => {
  it("names the server's problem from its error body", async () => {
    const body: ErrorBody = { status: 'error', code: 'bad_parameter', error: 'limit: must be a number from 1 to 1000', field: 'limit' }
    answer(400, JSON.stringify(body))
    await expect(api.events(0)).rejects.toThrow('/api/events?limit=0: limit: must be a number from 1 to 1000 (400)')
  })

  it('falls back to the status when the body is not ours', async () => {
    answer(502, '<html>bad gateway</html>')
    await expect(api.stats()).rejects.toThrow(/^\/api\/stats: 502$/)
  })

  it('reads an event that is not stored yet as null', async () => {
    answer(404, JSON.stringify({ status: 'error', code: 'not_found', error: 'no such event' }))
    await expect(api.event('x')).resolves.toBeNull()
  })
})
