-- +goose NO TRANSACTION
-- +goose Up
-- Expand only: the previous release keeps working on this schema (it
-- leaves the new columns NULL, and the new code copes with that).
--
-- Not one transaction: replicas of the previous release write to emails
-- while this runs (docs/deploy.md, rolling upgrades), and one transaction
-- would hold the table's exclusive lock from its first ALTER TABLE to its
-- end, through the backfill and the index builds: every commit of every
-- replica would wait. Each statement here commits on its own, holds that
-- lock only for an instant (adding a nullable column is a catalog change)
-- or, for an index build, for the build, and can run again: a replica killed half way leaves the rest to the
-- next one (TestMigration00006Rerun).

ALTER TABLE emails ADD COLUMN IF NOT EXISTS recipient_key TEXT;
-- The send budgets count the emails handed to the provider in the last
-- hour, in all and per recipient domain.
ALTER TABLE emails ADD COLUMN IF NOT EXISTS recipient_domain TEXT;
ALTER TABLE emails ADD COLUMN IF NOT EXISTS attempted_at TEXT;

-- The frequency cap keys on hogpipe.NormalizeAddress(recipient), so case
-- variants of one address count as one recipient. Rows written before
-- (or by a previous release) are folded here as far as SQL can: lower
-- case, no surrounding space, no trailing dot. In batches, each its own
-- transaction, so that no row stays locked for long.
-- +goose StatementBegin
DO $$
DECLARE
    n BIGINT;
BEGIN
    LOOP
        UPDATE emails SET recipient_key = rtrim(lower(trim(recipient)), '.')
        WHERE id IN (SELECT id FROM emails WHERE recipient_key IS NULL LIMIT 5000 FOR UPDATE SKIP LOCKED);
        GET DIAGNOSTICS n = ROW_COUNT;
        COMMIT;
        EXIT WHEN n = 0;
    END LOOP;
    -- Rows a writer held locked meanwhile, now.
    UPDATE emails SET recipient_key = rtrim(lower(trim(recipient)), '.') WHERE recipient_key IS NULL;
END
$$;
-- +goose StatementEnd

-- Each index build blocks writes to emails while it runs (seconds for a
-- million rows), then commits. Not CONCURRENTLY: that waits for every
-- transaction open in the whole database, and can leave an invalid index
-- behind when killed; a plain build is all or nothing.
CREATE INDEX IF NOT EXISTS emails_cap_key ON emails (recipient_key, template, created_at);
CREATE INDEX IF NOT EXISTS emails_attempted ON emails (attempted_at);
CREATE INDEX IF NOT EXISTS emails_domain_attempted ON emails (recipient_domain, attempted_at);

-- Training statistics kept up to date incrementally: every example up to
-- training_stats_state.seq is counted in the three tables below, so a
-- dashboard poll reads a few rows instead of scanning every example.
CREATE TABLE IF NOT EXISTS training_stats_state (
    name TEXT PRIMARY KEY,
    seq  BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS training_reason_counts (
    reason TEXT PRIMARY KEY,
    n      BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS training_day_counts (
    day TEXT PRIMARY KEY,
    n   BIGINT NOT NULL
);
-- Prompts are keyed by their SHA-256 (a prompt can be tens of KiB, too
-- long for an index key); first_seq breaks ties in order of appearance.
CREATE TABLE IF NOT EXISTS training_prompt_counts (
    hash      TEXT PRIMARY KEY,
    prompt    TEXT NOT NULL,
    first_seq BIGINT NOT NULL,
    n         BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS training_prompt_top ON training_prompt_counts (n DESC, first_seq);

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
