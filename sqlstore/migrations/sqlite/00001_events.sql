-- +goose Up
-- The event log: everything that arrived, once per dedupe key.
CREATE TABLE events (
    seq         INTEGER PRIMARY KEY,
    uuid        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    distinct_id TEXT NOT NULL,
    source      TEXT NOT NULL,
    timestamp   TEXT NOT NULL,
    received_at TEXT NOT NULL,
    properties  TEXT NOT NULL,
    person      TEXT
);

-- Training examples in commit order: seq is what the JSONL mirror follows.
-- The rendered line is kept so the mirror and exports copy bytes, not
-- re-render them (and so a line never changes once written). event_uuid
-- has no index or foreign key of its own: events.uuid is unique and the
-- example is written in the same transaction, and every index here costs
-- ingest throughput.
CREATE TABLE training_examples (
    seq            INTEGER PRIMARY KEY,
    event_uuid     TEXT NOT NULL,
    failure_reason TEXT NOT NULL,
    timestamp      TEXT NOT NULL,
    line           TEXT NOT NULL
);

-- Where a file mirror of training_examples has got to: every example up to
-- seq is in the file, and the file's first "bytes" bytes hold exactly those.
CREATE TABLE mirror_state (
    name  TEXT PRIMARY KEY,
    seq   INTEGER NOT NULL,
    bytes INTEGER NOT NULL
);

-- +goose Down
DROP TABLE mirror_state;
DROP TABLE training_examples;
DROP TABLE events;
