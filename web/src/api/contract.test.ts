import { describe, expect, it } from 'vitest'
import { contract, type ContractAnswers, type ContractTypes, type FromContract } from './contract'
import type * as T from './types'

// The compile-time half (tsc --noEmit runs in `npm run build` and
// `npm run lint`): every type of types.ts is exactly the contract's shape
// of the same name, field for field, optional for optional.

// Deep flattens intersections so that equal shapes compare equal.
type Deep<X> = X extends object ? { [K in keyof X]: Deep<X[K]> } : X
type Same<A, B> =
  (<X>() => X extends Deep<A> ? 1 : 2) extends <X>() => X extends Deep<B> ? 1 : 2 ? true : false

// Every type of types.ts that the contract names; a name added on one
// side and not the other fails to compile below.
type Named = {
  ErrorBody: T.ErrorBody
  Config: T.Config
  Stats: T.Stats
  StoredEvent: T.StoredEvent
  EventsPage: T.EventsPage
  EmailHistory: T.EmailHistory
  Email: T.Email
  EmailsPage: T.EmailsPage
  EventOutcome: T.EventOutcome
  MinuteCount: T.MinuteCount
  EventsPerMinute: T.EventsPerMinute
  KeyCount: T.KeyCount
  TrainingStats: T.TrainingStats
  Suppression: T.Suppression
  SuppressionsPage: T.SuppressionsPage
  ReplayResult: T.ReplayResult
}

const typesAgree: { [K in keyof ContractTypes]: Same<Named[K], FromContract<K>> } & {
  [K in Exclude<keyof Named, keyof ContractTypes>]: never
} = {
  ErrorBody: true,
  Config: true,
  Stats: true,
  StoredEvent: true,
  EventsPage: true,
  EmailHistory: true,
  Email: true,
  EmailsPage: true,
  EventOutcome: true,
  MinuteCount: true,
  EventsPerMinute: true,
  KeyCount: true,
  TrainingStats: true,
  Suppression: true,
  SuppressionsPage: true,
  ReplayResult: true,
}

// Each request answers with the type the contract names for it.
const answersAgree: { [K in keyof ContractAnswers]: Same<T.Answers[K], FromContract<ContractAnswers[K]>> } & {
  [K in Exclude<keyof T.Answers, keyof ContractAnswers>]: never
} = {
  'GET /api/config': true,
  'GET /api/stats': true,
  'GET /api/events': true,
  'GET /api/events/{id}': true,
  'GET /api/events-per-minute': true,
  'GET /api/training-stats': true,
  'GET /api/emails': true,
  'GET /api/emails/{id}': true,
  'GET /api/suppressions': true,
  'POST /api/emails/replay': true,
}

describe('API contract', () => {
  it('agrees with types.ts for every type and answer', () => {
    // The values restate what the compiler checked; listing them keeps the
    // checks from being optimised away as unused.
    expect(Object.keys(typesAgree).sort()).toEqual(Object.keys(contract.types).sort())
    expect(Object.keys(answersAgree).sort()).toEqual(Object.keys(contract.answers).sort())
  })

  it('names only types it defines', () => {
    const kinds = [
      ...Object.values(contract.types).flatMap((fields) => Object.values(fields) as string[]),
      ...Object.values(contract.answers),
      contract.error,
    ]
    for (const k of kinds) {
      const base = k.replace(/\[\]$/, '').replace(/^map<(.*)>$/, '$1')
      const known = ['string', 'number', 'boolean', 'object'].includes(base) || base.startsWith("'") || base in contract.types
      expect(known, `unknown kind ${k}`).toBe(true)
    }
  })

  // contract.json is what the Go test reads; `npx vitest run -u` rewrites
  // it after a change here.
  it('is written out as contract.json', async () => {
    await expect(JSON.stringify(contract, null, 2) + '\n').toMatchFileSnapshot('./contract.json')
  })
})
