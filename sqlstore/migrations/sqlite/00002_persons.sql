-- +goose Up
-- What $identify / $set / $set_once said about each distinct_id, attached
-- to later captured events as their person, as PostHog does.
CREATE TABLE persons (
    distinct_id TEXT PRIMARY KEY,
    properties  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

-- +goose Down
DROP TABLE persons;
