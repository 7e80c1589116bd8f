-- +goose Up
-- Examples imported from an existing training file (hogpipe import, or a
-- file adopted on first start) have no event. Their "line" holds the
-- file's original bytes, which the training file keeps byte for byte;
-- v1_line holds their schema-v1 rendering, which exports write. NULL for
-- examples made from events, whose line is already v1. Nullable and added
-- in place: a replica of the previous release keeps working (it mirrors
-- "line", as this one does).
ALTER TABLE training_examples ADD COLUMN v1_line TEXT;

-- +goose Down
ALTER TABLE training_examples DROP COLUMN v1_line;
