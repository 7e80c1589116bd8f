-- +goose Up
-- Running counts for the dashboard, kept by the committer once per group
-- commit, so reading them never scans the event log.
CREATE TABLE event_counts (
    name   TEXT NOT NULL,
    source TEXT NOT NULL,
    n      INTEGER NOT NULL,
    PRIMARY KEY (name, source)
) WITHOUT ROWID;

-- Events per minute of arrival (received_at truncated to the minute).
CREATE TABLE event_minutes (
    minute TEXT NOT NULL,
    name   TEXT NOT NULL,
    n      INTEGER NOT NULL,
    PRIMARY KEY (minute, name)
) WITHOUT ROWID;

INSERT INTO event_counts (name, source, n) SELECT name, source, count(*) FROM events GROUP BY name, source;
INSERT INTO event_minutes (minute, name, n) SELECT substr(received_at, 1, 16), name, count(*) FROM events GROUP BY 1, 2;

-- The dashboard asks what became of one event: find its example.
CREATE INDEX training_examples_event_uuid ON training_examples (event_uuid);

-- +goose Down
DROP INDEX training_examples_event_uuid;
DROP TABLE event_minutes;
DROP TABLE event_counts;
