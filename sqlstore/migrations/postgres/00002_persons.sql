-- +goose Up
CREATE TABLE persons (
    distinct_id TEXT PRIMARY KEY,
    properties  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

-- +goose Down
DROP TABLE persons;
