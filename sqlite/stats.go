package sqlite

import (
	"context"
	"fmt"

	"github.com/hogpipe/hogpipe"
)

// Stats counts what the store holds, for the dashboard and tests.
func (s *Store) Stats(ctx context.Context) (hogpipe.Stats, error) {
	st := hogpipe.Stats{EventsByName: map[string]int64{}}
	rows, err := s.r.QueryContext(ctx, `SELECT name, count(*) FROM events GROUP BY name`)
	if err != nil {
		return st, fmt.Errorf("count events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var n int64
		if err := rows.Scan(&name, &n); err != nil {
			return st, fmt.Errorf("count events: %w", err)
		}
		st.EventsByName[name] = n
		st.Events += n
	}
	if err := rows.Err(); err != nil {
		return st, fmt.Errorf("count events: %w", err)
	}
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM training_examples`).Scan(&st.TrainingExamples); err != nil {
		return st, fmt.Errorf("count training examples: %w", err)
	}
	return st, nil
}
