-- +goose Up
CREATE TABLE event_counts (
    name   TEXT NOT NULL,
    source TEXT NOT NULL,
    n      BIGINT NOT NULL,
    PRIMARY KEY (name, source)
);
CREATE TABLE event_minutes (
    minute TEXT NOT NULL,
    name   TEXT NOT NULL,
    n      BIGINT NOT NULL,
    PRIMARY KEY (minute, name)
);
CREATE INDEX training_examples_event_uuid ON training_examples (event_uuid);

-- +goose Down
DROP INDEX training_examples_event_uuid;
DROP TABLE event_minutes;
DROP TABLE event_counts;
