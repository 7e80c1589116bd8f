// The API contract as data: every type of types.ts, field by field, and
// the type each request answers with. contract.json is this object as JSON
// (contract.test.ts keeps it in step); the Go test reads it and checks a
// real server's answers against it.
//
// Kinds: string, number, boolean, object (any JSON object), 'a'|'b' (one
// of these strings), map<K> (an object whose values are K), K[] (an array
// of K), or the name of a type below. A field named "x?" may be absent,
// but is never null. A server answer with a field that is not listed here
// fails the Go test.
export const contract = {
  types: {
    ErrorBody: { status: "'error'", code: 'string', error: 'string', 'field?': 'string' },
    Config: { capture_token: 'string' },
    Stats: {
      events: 'number',
      events_by_name: 'map<number>',
      events_by_source: 'map<number>',
      training_examples: 'number',
      training_file_lag: 'number',
      emails_by_state: 'map<number>',
    },
    StoredEvent: {
      seq: 'number',
      id: 'string',
      event: 'string',
      distinct_id: 'string',
      source: "'webhook'|'capture'",
      timestamp: 'string',
      received_at: 'string',
      properties: 'object',
      'person?': 'object',
    },
    EventsPage: { events: 'StoredEvent[]' },
    EmailHistory: { at: 'string', event: 'string', 'detail?': 'string' },
    Email: {
      id: 'number',
      event_id: 'string',
      state: 'string',
      recipient: 'string',
      template: 'string',
      attempts: 'number',
      'next_attempt_at?': 'string',
      'last_error?': 'string',
      'reason?': 'string',
      'message_id?': 'string',
      'subject?': 'string',
      created_at: 'string',
      updated_at: 'string',
      'opens?': 'number',
      'clicks?': 'number',
      'history?': 'EmailHistory[]',
    },
    EmailsPage: { emails: 'Email[]' },
    EventOutcome: { event: 'StoredEvent', 'training_example?': 'object', 'email?': 'Email' },
    MinuteCount: { minute: 'string', event: 'string', count: 'number' },
    EventsPerMinute: { from: 'string', minutes: 'MinuteCount[]' },
    KeyCount: { key: 'string', count: 'number' },
    TrainingStats: { total: 'number', by_reason: 'KeyCount[]', by_day: 'KeyCount[]', top_prompts: 'KeyCount[]' },
    Suppression: { address: 'string', reason: 'string', source: 'string', 'detail?': 'string', created_at: 'string' },
    SuppressionsPage: { suppressions: 'Suppression[]', counts: 'map<number>' },
    ReplayResult: { status: "'ok'", requeued: 'number' },
  },
  answers: {
    'GET /api/config': 'Config',
    'GET /api/stats': 'Stats',
    'GET /api/events': 'EventsPage',
    'GET /api/events/{id}': 'EventOutcome',
    'GET /api/events-per-minute': 'EventsPerMinute',
    'GET /api/training-stats': 'TrainingStats',
    'GET /api/emails': 'EmailsPage',
    'GET /api/emails/{id}': 'Email',
    'GET /api/suppressions': 'SuppressionsPage',
    'POST /api/emails/replay': 'ReplayResult',
  },
  // Every JSON API answer with a 4xx or 5xx status has this shape.
  error: 'ErrorBody',
} as const

type Types = (typeof contract)['types']

// Kind is the TypeScript type a kind string of the contract stands for.
type Kind<K extends string> = K extends 'string'
  ? string
  : K extends 'number'
    ? number
    : K extends 'boolean'
      ? boolean
      : K extends 'object'
        ? Record<string, unknown>
        : K extends `${infer E}[]`
          ? Kind<E>[]
          : K extends `map<${infer E}>`
            ? Record<string, Kind<E>>
            : K extends `'${string}`
              ? Literals<K>
              : K extends keyof Types
                ? Shape<Types[K]>
                : never

type Literals<K extends string> = K extends `'${infer A}'|${infer Rest}`
  ? A | Literals<Rest>
  : K extends `'${infer A}'`
    ? A
    : never

type Required<F> = { -readonly [P in keyof F as P extends `${string}?` ? never : P]: F[P] extends string ? Kind<F[P]> : never }
type Optional<F> = { -readonly [P in keyof F as P extends `${infer N}?` ? N : never]?: F[P] extends string ? Kind<F[P]> : never }

// Shape is the object type a contract type stands for.
export type Shape<F> = Required<F> & Optional<F>

// FromContract is the type the contract describes under name.
export type FromContract<Name extends keyof Types> = Shape<Types[Name]>

export type ContractTypes = Types
export type ContractAnswers = (typeof contract)['answers']
