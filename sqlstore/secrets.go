package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hogpipe/hogpipe"
)

// SharedSecret returns the secret stored under name in the PostgreSQL
// database (table shared_secrets, migration 00007), storing fresh() first
// when there is none: replicas starting at once all end up with the value of
// whichever inserted first (the unsubscribe key, the pseudonym key). SQLite
// deployments keep such secrets in a file of their data directory instead
// (one machine), so this is for PostgreSQL only.
func (s *Store) SharedSecret(ctx context.Context, name string, fresh func() (string, error)) (string, error) {
	if !s.d.shared() {
		return "", errors.New("shared secrets live in the database only with PostgreSQL")
	}
	var v string
	err := s.r.QueryRowContext(ctx, `SELECT value FROM shared_secrets WHERE name = ?`, name).Scan(&v)
	if err == nil {
		return v, nil
	}
	nv, ferr := fresh()
	if ferr != nil {
		return "", ferr
	}
	err = s.write(ctx, func(t *txn) error {
		_, err := t.Exec(`INSERT INTO shared_secrets (name, value, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING`,
			name, nv, hogpipe.FormatTime(time.Now()))
		if err != nil {
			return unavailable("store shared secret", err)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	if err := s.r.QueryRowContext(ctx, `SELECT value FROM shared_secrets WHERE name = ?`, name).Scan(&v); err != nil {
		return "", fmt.Errorf("read shared secret %s: %w", name, err)
	}
	return v, nil
}
