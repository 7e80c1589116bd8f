//go:build rehearsal

package sqlstore

import (
	"context"
	"database/sql"

	"github.com/pressly/goose/v3"
)

// RehearsalMigration is the version of the schema change that only
// binaries built with -tags rehearsal carry: the rolling-upgrade test and
// make deploy-rehearsal build the "new release" this way, so that a real
// schema change happens between the old binary and the new one without one
// ever shipping. It is numbered far above every real migration.
const RehearsalMigration = 90001

// extraMigrations is an expand-only change of the kind docs/deploy.md
// allows in one release: a column with a default (old code, which names
// its columns, never sees it) and an index.
func extraMigrations(string) []*goose.Migration {
	return []*goose.Migration{goose.NewGoMigration(RehearsalMigration,
		&goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
			for _, q := range []string{
				`ALTER TABLE events ADD COLUMN rehearsal_tag TEXT NOT NULL DEFAULT 'rolled'`,
				`CREATE INDEX events_rehearsal_tag ON events (rehearsal_tag)`,
			} {
				if _, err := tx.ExecContext(ctx, q); err != nil {
					return err
				}
			}
			return nil
		}},
		&goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
			for _, q := range []string{`DROP INDEX events_rehearsal_tag`, `ALTER TABLE events DROP COLUMN rehearsal_tag`} {
				if _, err := tx.ExecContext(ctx, q); err != nil {
					return err
				}
			}
			return nil
		}},
	)}
}
