-- +goose Up
-- Secrets every replica must share, created once by whichever replica
-- starts first (the training data's pseudonym key). Expand-only.
CREATE TABLE shared_secrets (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- +goose Down
DROP TABLE shared_secrets;
