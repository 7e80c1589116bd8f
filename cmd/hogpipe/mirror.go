package main

import (
	"context"
	"errors"
	"github.com/hogpipe/hogpipe/internal/cli"
	"log/slog"

	"github.com/hogpipe/hogpipe/sqlstore"
	"github.com/hogpipe/hogpipe/trainingfile"
)

// startTrainingWriter starts the training file's writer on store (see
// trainingfile.Writer): the store's leader is its lease, and on PostgreSQL other
// replicas compete for it.
func startTrainingWriter(starting, ctx context.Context, store *sqlstore.Store, path string, log *slog.Logger) (*trainingfile.Writer, <-chan error, error) {
	w := trainingfile.NewWriter(path, store, store, store.Postgres(), log)
	done, err := w.Start(starting, ctx)
	var nj *trainingfile.NotJSONLError
	if errors.As(err, &nj) {
		return nil, nil, cli.Usage(err)
	}
	return w, done, err
}
