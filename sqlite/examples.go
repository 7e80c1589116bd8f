package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hogpipe/hogpipe"
)

func parseTime(s string) (time.Time, error) { return time.Parse(time.RFC3339Nano, s) }

// ExamplesAfter returns up to limit training examples with seq > after, in
// seq (commit) order.
func (s *Store) ExamplesAfter(ctx context.Context, after int64, limit int) ([]hogpipe.ExampleLine, error) {
	rows, err := s.r.QueryContext(ctx,
		`SELECT seq, event_uuid, line FROM training_examples WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read training examples: %w", err)
	}
	defer rows.Close()
	out := make([]hogpipe.ExampleLine, 0, 64)
	for rows.Next() {
		var l hogpipe.ExampleLine
		var line string
		if err := rows.Scan(&l.Seq, &l.ID, &line); err != nil {
			return nil, fmt.Errorf("read training examples: %w", err)
		}
		l.Line = []byte(line)
		out = append(out, l)
	}
	return out, rows.Err()
}

// LastExampleSeq returns the highest committed training example seq.
func (s *Store) LastExampleSeq(ctx context.Context) (int64, error) {
	var seq int64
	err := s.r.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM training_examples`).Scan(&seq)
	if err != nil {
		return 0, fmt.Errorf("read training examples: %w", err)
	}
	return seq, nil
}

// MirrorState returns the committed watermark of the named file mirror.
func (s *Store) MirrorState(ctx context.Context, name string) (hogpipe.MirrorState, error) {
	var st hogpipe.MirrorState
	err := s.r.QueryRowContext(ctx, `SELECT seq, bytes FROM mirror_state WHERE name = ?`, name).Scan(&st.Seq, &st.Bytes)
	if errors.Is(err, sql.ErrNoRows) {
		return hogpipe.MirrorState{}, nil
	}
	if err != nil {
		return st, fmt.Errorf("read mirror state: %w", err)
	}
	return st, nil
}

// SetMirrorState records that the named file mirror holds exactly the
// examples up to st.Seq in its first st.Bytes bytes.
func (s *Store) SetMirrorState(ctx context.Context, name string, st hogpipe.MirrorState) error {
	return s.write(ctx, func(tx *txn) error {
		_, err := tx.Exec(
			`INSERT INTO mirror_state (name, seq, bytes) VALUES (?, ?, ?)
			 ON CONFLICT (name) DO UPDATE SET seq = excluded.seq, bytes = excluded.bytes`,
			name, st.Seq, st.Bytes)
		if err != nil {
			return unavailable("record mirror state", err)
		}
		return nil
	})
}
