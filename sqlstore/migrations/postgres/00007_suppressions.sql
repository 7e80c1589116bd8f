-- +goose Up
-- Expand-only: new tables and defaulted columns, so a replica of the
-- previous release keeps working on this schema.

-- Recipients no email goes to, keyed by hogpipe.NormalizeAddress.
CREATE TABLE suppressions (
    address    TEXT PRIMARY KEY,
    reason     TEXT NOT NULL,   -- unsubscribed, bounced, complained, manual
    source     TEXT NOT NULL,   -- unsubscribe-link, mailgun-webhook, mailgun-sync, api, cli
    detail     TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
CREATE INDEX suppressions_reason ON suppressions (reason, created_at);

-- What Mailgun reported about each sent email. provider_id (Mailgun's
-- event id) makes a redelivered event a no-op.
CREATE TABLE email_history (
    id          BIGSERIAL PRIMARY KEY,
    email_id    BIGINT NOT NULL,
    provider_id TEXT NOT NULL UNIQUE,
    at          TEXT NOT NULL,
    event       TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX email_history_email ON email_history (email_id, at);

-- Signature tokens of Mailgun webhooks already taken, to refuse replays;
-- kept as long as a timestamp is fresh enough to be accepted.
CREATE TABLE webhook_tokens (
    token      TEXT PRIMARY KEY,
    event_id   TEXT NOT NULL,
    seen_at    TEXT NOT NULL
);
CREATE INDEX webhook_tokens_seen ON webhook_tokens (seen_at);

-- Secrets every replica must share (the unsubscribe token key on
-- PostgreSQL; SQLite keeps it in a file in the data directory instead).
CREATE TABLE shared_secrets (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at TEXT NOT NULL
);

ALTER TABLE emails ADD COLUMN opens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE emails ADD COLUMN clicks INTEGER NOT NULL DEFAULT 0;
-- Mailgun's events find an email by its event uuid (unique already).

-- +goose Down
ALTER TABLE emails DROP COLUMN clicks;
ALTER TABLE emails DROP COLUMN opens;
DROP TABLE shared_secrets;
DROP TABLE webhook_tokens;
DROP TABLE email_history;
DROP TABLE suppressions;
