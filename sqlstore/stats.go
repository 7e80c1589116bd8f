package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/hogpipe/hogpipe"
)

// Stats counts what the store holds, from counters kept at commit time.
func (s *Store) Stats(ctx context.Context) (hogpipe.Stats, error) {
	st := hogpipe.Stats{EventsByName: map[string]int64{}, EventsBySource: map[string]int64{}}
	rows, err := s.r.QueryContext(ctx, `SELECT name, source, n FROM event_counts`)
	if err != nil {
		return st, fmt.Errorf("count events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, source string
		var n int64
		if err := rows.Scan(&name, &source, &n); err != nil {
			return st, fmt.Errorf("count events: %w", err)
		}
		st.EventsByName[name] += n
		st.EventsBySource[source] += n
		st.Events += n
	}
	if err := rows.Err(); err != nil {
		return st, fmt.Errorf("count events: %w", err)
	}
	// seq is a rowid that is never reused or deleted: max is the count.
	if err := s.r.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM training_examples`).Scan(&st.TrainingExamples); err != nil {
		return st, fmt.Errorf("count training examples: %w", err)
	}
	return st, nil
}

// EventsPerMinute returns per-minute event counts since from, oldest first.
func (s *Store) EventsPerMinute(ctx context.Context, from time.Time) ([]hogpipe.MinuteCount, error) {
	rows, err := s.r.QueryContext(ctx,
		`SELECT minute, name, n FROM event_minutes WHERE minute >= ? ORDER BY minute`, hogpipe.FormatTime(from)[:16])
	if err != nil {
		return nil, fmt.Errorf("count events per minute: %w", err)
	}
	defer rows.Close()
	var out []hogpipe.MinuteCount
	for rows.Next() {
		var m hogpipe.MinuteCount
		if err := rows.Scan(&m.Minute, &m.Name, &m.Count); err != nil {
			return nil, fmt.Errorf("count events per minute: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}
