-- +goose Up
-- The email outbox, written in the same transaction as the event it comes
-- from: an acknowledged feature_used event always has its row here.
CREATE TABLE emails (
    id              INTEGER PRIMARY KEY,
    event_uuid      TEXT NOT NULL UNIQUE,
    state           TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    template        TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,            -- queued/retrying: when a worker may take it
    lease_until     TEXT,            -- sending: when another worker may take it over
    last_error      TEXT NOT NULL DEFAULT '',
    reason          TEXT NOT NULL DEFAULT '',
    message_id      TEXT NOT NULL DEFAULT '',
    subject         TEXT NOT NULL DEFAULT '',
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
-- Workers look for due work by state and time.
CREATE INDEX emails_due ON emails (state, next_attempt_at);
-- The frequency cap looks for a recent email to the same recipient.
CREATE INDEX emails_cap ON emails (recipient, template, created_at);

-- +goose Down
DROP TABLE emails;
