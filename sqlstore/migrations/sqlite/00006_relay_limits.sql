-- +goose Up
-- Expand only: the previous release keeps working on this schema (it
-- leaves the new columns NULL, and the new code copes with that).

-- The frequency cap keys on hogpipe.NormalizeAddress(recipient), so case
-- variants of one address count as one recipient. Rows written before
-- (or by a previous release) are folded here as far as SQL can: lower
-- case, no surrounding space, no trailing dot.
ALTER TABLE emails ADD COLUMN recipient_key TEXT;
UPDATE emails SET recipient_key = rtrim(lower(trim(recipient)), '.');
CREATE INDEX emails_cap_key ON emails (recipient_key, template, created_at);

-- The send budgets count the emails handed to the provider in the last
-- hour, in all and per recipient domain.
ALTER TABLE emails ADD COLUMN recipient_domain TEXT;
ALTER TABLE emails ADD COLUMN attempted_at TEXT;
CREATE INDEX emails_attempted ON emails (attempted_at);
CREATE INDEX emails_domain_attempted ON emails (recipient_domain, attempted_at);

-- Training statistics kept up to date incrementally: every example up to
-- training_stats_state.seq is counted in the three tables below, so a
-- dashboard poll reads a few rows instead of scanning every example.
CREATE TABLE training_stats_state (
    name TEXT PRIMARY KEY,
    seq  INTEGER NOT NULL
);
CREATE TABLE training_reason_counts (
    reason TEXT PRIMARY KEY,
    n      INTEGER NOT NULL
);
CREATE TABLE training_day_counts (
    day TEXT PRIMARY KEY,
    n   INTEGER NOT NULL
);
-- Prompts are keyed by their SHA-256 (a prompt can be tens of KiB, too
-- long for an index key); first_seq breaks ties in order of appearance.
CREATE TABLE training_prompt_counts (
    hash      TEXT PRIMARY KEY,
    prompt    TEXT NOT NULL,
    first_seq INTEGER NOT NULL,
    n         INTEGER NOT NULL
);
CREATE INDEX training_prompt_top ON training_prompt_counts (n DESC, first_seq);

-- +goose Down
DROP TABLE training_prompt_counts;
DROP TABLE training_day_counts;
DROP TABLE training_reason_counts;
DROP TABLE training_stats_state;
DROP INDEX emails_domain_attempted;
DROP INDEX emails_attempted;
DROP INDEX emails_cap_key;
ALTER TABLE emails DROP COLUMN attempted_at;
ALTER TABLE emails DROP COLUMN recipient_domain;
ALTER TABLE emails DROP COLUMN recipient_key;
