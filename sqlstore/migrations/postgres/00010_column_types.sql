-- +goose Up
-- The time and JSON columns stay TEXT on PostgreSQL (decision and
-- measurements: docs/schema.md). This migration writes the decision into
-- the catalog, where a DBA looks (psql \d+ <table>): each column's format
-- and how to query it as a time or as JSON.
--
-- Why not timestamptz/jsonb now: ALTER COLUMN ... TYPE rewrites the table
-- under an ACCESS EXCLUSIVE lock (2.9 s per million events, for one
-- column, on the 2-core test machine), during which no replica reads or
-- writes it; the previous release, which keeps serving during a rolling
-- upgrade, reads these columns as text (coalesce(next_attempt_at, ''),
-- substr(timestamp, 1, 10)), which a timestamptz column refuses; a type
-- change is a contract step (docs/deploy.md). Event timestamps are the
-- sender's claim, and year 0000, which hogpipe accepts, is out of
-- timestamptz's range: a USING cast would fail the migration. jsonb
-- would reorder keys, drop duplicates and respell numbers of what must
-- stay byte for byte, and refuses \u0000, which old rows may hold.
--
-- COMMENT takes a SHARE UPDATE EXCLUSIVE lock, which blocks neither reads
-- nor writes (TestMigration00010BlocksNoWrites), so old replicas keep
-- serving while this runs.

COMMENT ON COLUMN events.timestamp IS 'UTC time the sender claims for the event, YYYY-MM-DDTHH:MM:SS.mmmZ (fixed width: sorts as text). Years 0000-9999: year 0000 is valid here but not in timestamptz, so cast with care.';
COMMENT ON COLUMN events.received_at IS 'UTC time hogpipe received the event, YYYY-MM-DDTHH:MM:SS.mmmZ (fixed width: sorts as text; received_at::timestamptz casts it).';
COMMENT ON COLUMN events.properties IS 'The event''s properties as JSON text, kept as received (exact numbers, key order). Query with properties::json ->> ''key'' (not ::jsonb: rows stored before U+0000 was refused may hold \u0000).';
COMMENT ON COLUMN events.person IS 'The event''s person as JSON text, kept as received; NULL when none. Query with person::json.';
COMMENT ON COLUMN training_examples.timestamp IS 'The example''s event time (events.timestamp), YYYY-MM-DDTHH:MM:SS.mmmZ UTC; sorts as text.';
COMMENT ON COLUMN training_examples.line IS 'The training file''s line, byte for byte (imported lines keep their original bytes): JSON text that must not be normalized. Query with line::json ->> ''key''.';
COMMENT ON COLUMN training_examples.v1_line IS 'Schema-v1 rendering of an imported line (JSON text); NULL for lines made from events, which are v1 already.';
COMMENT ON COLUMN persons.properties IS 'The person''s properties as JSON text (exact numbers). Query with properties::json.';
COMMENT ON COLUMN persons.updated_at IS 'UTC time of the last $set, YYYY-MM-DDTHH:MM:SS.mmmZ; sorts as text.';
COMMENT ON COLUMN event_minutes.minute IS 'UTC minute bucket, YYYY-MM-DDTHH:MM.';
COMMENT ON COLUMN training_day_counts.day IS 'UTC day bucket of training_examples.timestamp, YYYY-MM-DD.';
COMMENT ON COLUMN emails.next_attempt_at IS 'UTC time of the next send attempt, YYYY-MM-DDTHH:MM:SS.mmmZ; sorts as text.';
COMMENT ON COLUMN emails.lease_until IS 'UTC end of a sending replica''s claim, YYYY-MM-DDTHH:MM:SS.mmmZ; NULL when not claimed.';
COMMENT ON COLUMN emails.attempted_at IS 'UTC time of the latest send attempt, YYYY-MM-DDTHH:MM:SS.mmmZ; the send budgets count from it.';
COMMENT ON COLUMN emails.created_at IS 'UTC time the email was queued, YYYY-MM-DDTHH:MM:SS.mmmZ; sorts as text.';
COMMENT ON COLUMN emails.updated_at IS 'UTC time of the last state change, YYYY-MM-DDTHH:MM:SS.mmmZ; sorts as text.';
COMMENT ON COLUMN suppressions.created_at IS 'UTC time the address was suppressed, YYYY-MM-DDTHH:MM:SS.mmmZ; sorts as text.';
COMMENT ON COLUMN email_history.at IS 'UTC time Mailgun gave for the event, YYYY-MM-DDTHH:MM:SS.mmmZ; sorts as text.';
COMMENT ON COLUMN webhook_tokens.seen_at IS 'UTC time the webhook token was first seen, YYYY-MM-DDTHH:MM:SS.mmmZ; sorts as text.';
COMMENT ON COLUMN shared_secrets.created_at IS 'UTC time the secret was made: RFC 3339 (YYYY-MM-DDTHH:MM:SSZ before this release, with milliseconds since).';

-- +goose Down
COMMENT ON COLUMN events.timestamp IS NULL;
COMMENT ON COLUMN events.received_at IS NULL;
COMMENT ON COLUMN events.properties IS NULL;
COMMENT ON COLUMN events.person IS NULL;
COMMENT ON COLUMN training_examples.timestamp IS NULL;
COMMENT ON COLUMN training_examples.line IS NULL;
COMMENT ON COLUMN training_examples.v1_line IS NULL;
COMMENT ON COLUMN persons.properties IS NULL;
COMMENT ON COLUMN persons.updated_at IS NULL;
COMMENT ON COLUMN event_minutes.minute IS NULL;
COMMENT ON COLUMN training_day_counts.day IS NULL;
COMMENT ON COLUMN emails.next_attempt_at IS NULL;
COMMENT ON COLUMN emails.lease_until IS NULL;
COMMENT ON COLUMN emails.attempted_at IS NULL;
COMMENT ON COLUMN emails.created_at IS NULL;
COMMENT ON COLUMN emails.updated_at IS NULL;
COMMENT ON COLUMN suppressions.created_at IS NULL;
COMMENT ON COLUMN email_history.at IS NULL;
COMMENT ON COLUMN webhook_tokens.seen_at IS NULL;
COMMENT ON COLUMN shared_secrets.created_at IS NULL;
