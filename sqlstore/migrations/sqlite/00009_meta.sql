-- +goose Up
-- What every replica sharing this schema must agree on, beyond the schema
-- itself. "protocol" versions how replicas coordinate (advisory lock keys,
-- the training file's watermark): replicas of different protocols must not
-- run side by side, and sqlstore/compat.go refuses to let them. Expand-only:
-- older releases ignore the table.
CREATE TABLE IF NOT EXISTS hogpipe_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO hogpipe_meta (key, value) VALUES ('protocol', '1') ON CONFLICT (key) DO NOTHING;

-- +goose Down
DROP TABLE hogpipe_meta;
