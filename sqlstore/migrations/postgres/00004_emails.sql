-- +goose Up
CREATE TABLE emails (
    id              BIGSERIAL PRIMARY KEY,
    event_uuid      TEXT NOT NULL UNIQUE,
    state           TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    template        TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    lease_until     TEXT,
    last_error      TEXT NOT NULL DEFAULT '',
    reason          TEXT NOT NULL DEFAULT '',
    message_id      TEXT NOT NULL DEFAULT '',
    subject         TEXT NOT NULL DEFAULT '',
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX emails_due ON emails (state, next_attempt_at);
CREATE INDEX emails_cap ON emails (recipient, template, created_at);

-- +goose Down
DROP TABLE emails;
