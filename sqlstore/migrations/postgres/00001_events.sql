-- +goose Up
-- The event log: everything that arrived, once per dedupe key. The unique
-- key is what makes dedupe exact across replicas.
CREATE TABLE events (
    seq         BIGSERIAL PRIMARY KEY,
    uuid        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    distinct_id TEXT NOT NULL,
    source      TEXT NOT NULL,
    timestamp   TEXT NOT NULL,
    received_at TEXT NOT NULL,
    properties  TEXT NOT NULL,
    person      TEXT
);

-- Training examples in commit order (see lockExampleOrder): seq is what
-- the JSONL mirror follows.
CREATE TABLE training_examples (
    seq            BIGSERIAL PRIMARY KEY,
    event_uuid     TEXT NOT NULL,
    failure_reason TEXT NOT NULL,
    timestamp      TEXT NOT NULL,
    line           TEXT NOT NULL
);

CREATE TABLE mirror_state (
    name  TEXT PRIMARY KEY,
    seq   BIGINT NOT NULL,
    bytes BIGINT NOT NULL
);

-- +goose Down
DROP TABLE mirror_state;
DROP TABLE training_examples;
DROP TABLE events;
