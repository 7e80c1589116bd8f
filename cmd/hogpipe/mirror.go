package main

import (
	"context"
	"errors"
	"github.com/hogpipe/hogpipe/internal/cli"
	"log/slog"

	"github.com/hogpipe/hogpipe/jsonl"
	"github.com/hogpipe/hogpipe/sqlstore"
)

// startTrainingWriter starts the training file's writer on store (see
// jsonl.Writer): the store's leader is its lease, and on PostgreSQL other
// replicas compete for it.
func startTrainingWriter(starting, ctx context.Context, store *sqlstore.Store, path string, log *slog.Logger) (*jsonl.Writer, <-chan error, error) {
	w := jsonl.NewWriter(path, store, store, store.Postgres(), log)
	done, err := w.Start(starting, ctx)
	var nj *jsonl.NotJSONLError
	if errors.As(err, &nj) {
		return nil, nil, cli.Usage(err)
	}
	return w, done, err
}
