package sqlstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/hogpipe/hogpipe"
)

// maxImportBatch bounds the examples one ImportExamples call writes in its
// transaction: PostgreSQL bounds a group commit by --commit-timeout, and
// one huge import must not hold every other write back.
const maxImportBatch = 2000

// importRows is the rows per INSERT statement.
const importRows = 100

// ImportExamples stores lines of an imported training file as examples, in
// the given order, after every example already stored. An example whose id
// (or own id: a line hogpipe wrote) is already stored is left out, so
// importing a file again adds nothing. It returns how many it added.
func (s *Store) ImportExamples(ctx context.Context, ex []hogpipe.ImportedExample) (int, error) {
	added := 0
	for start := 0; start < len(ex); start += maxImportBatch {
		chunk := ex[start:min(start+maxImportBatch, len(ex))]
		var n int
		err := s.write(ctx, func(t *txn) error {
			// The op may run twice (group commit retries with savepoints):
			// count afresh.
			n = 0
			// Seqs follow commit order: every group transaction holds
			// the writes lock (lockWrites) before its ops run.
			known, err := t.storedExampleIDs(chunk)
			if err != nil {
				return unavailable("look up imported examples", err)
			}
			// Multi-row INSERTs in file order (one statement per row costs
			// a round trip each on PostgreSQL); seqs follow the row order.
			args := make([]any, 0, 5*importRows)
			insert := func() error {
				if len(args) == 0 {
					return nil
				}
				q := `INSERT INTO training_examples (event_uuid, failure_reason, timestamp, line, v1_line) VALUES ` +
					strings.TrimSuffix(strings.Repeat(`(?, ?, ?, ?, ?), `, len(args)/5), ", ")
				_, err := t.Exec(q, args...)
				args = args[:0]
				return err
			}
			for _, e := range chunk {
				if known[e.ID] || (e.OwnID != "" && known[e.OwnID]) {
					continue
				}
				known[e.ID] = true // the same line twice in one batch
				args = append(args, e.ID, e.FailureReason, e.Timestamp, string(e.Line), string(e.V1))
				n++
				if len(args) == 5*importRows {
					if err := insert(); err != nil {
						return unavailable("store imported examples", err)
					}
				}
			}
			if err := insert(); err != nil {
				return unavailable("store imported examples", err)
			}
			return nil
		})
		if err != nil {
			return added, err
		}
		added += n
	}
	return added, nil
}

// storedExampleIDs returns which of the chunk's ids and own ids are
// stored examples.
func (t *txn) storedExampleIDs(chunk []hogpipe.ImportedExample) (map[string]bool, error) {
	ids := make([]any, 0, 2*len(chunk))
	for _, e := range chunk {
		ids = append(ids, e.ID)
		if e.OwnID != "" {
			ids = append(ids, e.OwnID)
		}
	}
	known := map[string]bool{}
	// At most 2 × maxImportBatch parameters: within SQLite's and PostgreSQL's limits.
	rows, err := t.Query(`SELECT event_uuid FROM training_examples WHERE event_uuid IN (?`+strings.Repeat(`, ?`, len(ids)-1)+`)`, ids...)
	if err != nil {
		return nil, fmt.Errorf("read training examples: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("read training examples: %w", err)
		}
		known[id] = true
	}
	return known, rows.Err()
}
