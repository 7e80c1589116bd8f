-- +goose Up
-- Nothing to change on SQLite; the version exists so that both dialects
-- number their schemas alike. SQLite has no timestamp or JSON column types
-- (its type names are affinities, and its date and JSON functions work on
-- TEXT), so its time columns are TEXT in hogpipe's one fixed-width UTC
-- format, YYYY-MM-DDTHH:MM:SS.mmmZ, which sorts as text, and its JSON
-- columns TEXT kept byte for byte. On PostgreSQL, migration 00010 records
-- the same decision in the catalog (docs/schema.md says why).
SELECT 1;

-- +goose Down
SELECT 1;
