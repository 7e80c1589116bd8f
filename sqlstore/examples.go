package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hogpipe/hogpipe"
	"github.com/hogpipe/hogpipe/trainingfile"
)

func parseTime(s string) (time.Time, error) { return time.Parse(time.RFC3339Nano, s) }

// ExamplesAfter returns up to limit training examples with seq > after, in
// seq (commit) order.
func (s *Store) ExamplesAfter(ctx context.Context, after int64, limit int) ([]hogpipe.ExampleLine, error) {
	return s.ExamplesFiltered(ctx, after, limit, hogpipe.ExampleFilter{})
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

// RewriteExamples renders every training example again from its event
// with policy (after a change of redaction rules, say) and stores the new
// lines, in batches. It returns how many it rewrote. The file mirror must
// be rebuilt afterwards (trainingfile.Rebuild).
func (s *Store) RewriteExamples(ctx context.Context, policy *hogpipe.TrainingPolicy) (int64, error) {
	var after, n int64
	for {
		rows, err := s.r.QueryContext(ctx, `
			SELECT t.seq, e.uuid, e.name, e.distinct_id, e.source, e.timestamp, e.received_at, e.properties
			FROM training_examples t JOIN events e ON e.uuid = t.event_uuid
			WHERE t.seq > ? ORDER BY t.seq LIMIT 2000`, after)
		if err != nil {
			return n, fmt.Errorf("read training examples: %w", err)
		}
		type upd struct {
			seq          int64
			line, reason string
		}
		var batch []upd
		for rows.Next() {
			var seq int64
			var e hogpipe.Event
			var ts, rx, props string
			if err := rows.Scan(&seq, &e.UUID, &e.Name, &e.DistinctID, &e.Source, &ts, &rx, &props); err != nil {
				rows.Close()
				return n, fmt.Errorf("read training examples: %w", err)
			}
			e.Timestamp, _ = parseTime(ts)
			e.ReceivedAt, _ = parseTime(rx)
			// As at ingest, so numbers render the same.
			if err := decodeNumbers(props, &e.Properties); err != nil {
				rows.Close()
				return n, fmt.Errorf("event %s: stored properties do not parse: %w", e.UUID, err)
			}
			ex := trainingfile.NewExample(&e, policy)
			line, err := hogpipe.MarshalLine(ex)
			if err != nil {
				rows.Close()
				return n, err
			}
			batch = append(batch, upd{seq, string(line), ex.FailureReason})
		}
		rows.Close()
		if len(batch) == 0 {
			// Reasons and prompts changed: count them again on the next read.
			return n, s.write(ctx, func(t *txn) error { return t.resetTrainingStats() })
		}
		err = s.write(ctx, func(t *txn) error {
			for _, u := range batch {
				if _, err := t.Exec(`UPDATE training_examples SET line = ?, failure_reason = ? WHERE seq = ?`, u.line, u.reason, u.seq); err != nil {
					return unavailable("rewrite training example", err)
				}
			}
			// In the same transaction, so a rewrite that stops part way
			// (cancelled, killed) cannot leave counters of the old lines.
			return t.resetTrainingStats()
		})
		if err != nil {
			return n, err
		}
		n += int64(len(batch))
		after = batch[len(batch)-1].seq
	}
}

// ExamplesFiltered is ExamplesAfter with a filter applied in SQL.
func (s *Store) ExamplesFiltered(ctx context.Context, after int64, limit int, f hogpipe.ExampleFilter) ([]hogpipe.ExampleLine, error) {
	q, args := filterSQL(`SELECT seq, event_uuid, line, v1_line FROM training_examples WHERE seq > ?`, []any{after}, f)
	q += ` ORDER BY seq LIMIT ?`
	rows, err := s.r.QueryContext(ctx, q, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("read training examples: %w", err)
	}
	defer rows.Close()
	out := make([]hogpipe.ExampleLine, 0, 64)
	for rows.Next() {
		var l hogpipe.ExampleLine
		var line string
		var v1 sql.NullString
		if err := rows.Scan(&l.Seq, &l.ID, &line, &v1); err != nil {
			return nil, fmt.Errorf("read training examples: %w", err)
		}
		l.Line = []byte(line)
		if v1.Valid {
			l.V1 = []byte(v1.String)
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// filterSQL appends an example filter's conditions to a query.
func filterSQL(q string, args []any, f hogpipe.ExampleFilter) (string, []any) {
	if !f.Since.IsZero() {
		q += ` AND timestamp >= ?`
		args = append(args, hogpipe.FormatTime(f.Since))
	}
	if !f.Until.IsZero() {
		q += ` AND timestamp < ?`
		args = append(args, hogpipe.FormatTime(f.Until))
	}
	if len(f.Reasons) > 0 {
		q += ` AND failure_reason IN (?` + strings.Repeat(`, ?`, len(f.Reasons)-1) + `)`
		for _, r := range f.Reasons {
			args = append(args, r)
		}
	}
	return q, args
}

// exportLineSQL is an example's v1 line: imported examples keep their
// original bytes in line and their v1 rendering in v1_line.
const exportLineSQL = `coalesce(v1_line, line)`

// exportExpr builds each format's line inside SQLite, for the formats
// trainingfile defines (sqlstore imports trainingfile, which imports no
// store, so the constants have one home). SQLite's json_object
// escapes as Go's encoder does except U+2028 and U+2029, which Go writes as
// \u2028 and \u2029 (they end lines in JavaScript): the replace makes the
// fast path's bytes those of the portable path (TestExportFastPathsMatchPortable).
func exportExpr(format string) (string, error) {
	const l = exportLineSQL
	var obj string
	switch format {
	case trainingfile.FormatV1:
		return l, nil
	case trainingfile.FormatOriginal:
		obj = `json_object('timestamp', ` + l + ` ->> 'timestamp', 'user_id', ` + l + ` ->> 'user_id', 'failure_reason', failure_reason, 'input_prompt', ` + l + ` ->> 'input_prompt')`
	case trainingfile.FormatClassification:
		obj = `json_object('text', ` + l + ` ->> 'input_prompt', 'label', failure_reason)`
	default:
		// A format with no SQL rendering here takes the portable path
		// (trainingfile.ExportWith checked the name already).
		return "", ErrNoFastPath
	}
	return `replace(replace(` + obj + `, char(8232), '\u2028'), char(8233), '\u2029') || char(10)`, nil
}

// ExportRange renders the examples with lo < seq <= hi in format inside
// SQLite and returns them as one block of lines and their count. Building
// lines in SQL (json_object, group_concat) skips the per-row cost of
// crossing into Go, and ranges let an export use every core.
func (s *Store) ExportRange(ctx context.Context, lo, hi int64, f hogpipe.ExampleFilter, format string) ([]byte, int, error) {
	if !s.d.rendersExports() {
		return nil, 0, ErrNoFastPath
	}
	expr, err := exportExpr(format)
	if err != nil {
		return nil, 0, err
	}
	q, args := filterSQL(`SELECT seq, `+expr+` AS x FROM training_examples WHERE seq > ? AND seq <= ?`, []any{lo, hi}, f)
	q = `SELECT coalesce(group_concat(x, '' ORDER BY seq), ''), count(*) FROM (` + q + `)`
	var chunk string
	var n int
	if err := s.r.QueryRowContext(ctx, q, args...).Scan(&chunk, &n); err != nil {
		return nil, 0, fmt.Errorf("export training examples: %w", err)
	}
	return []byte(chunk), n, nil
}

// DistinctExamples returns, per distinct (prompt, failure reason), the line
// of its first example and how many examples share it, in order of first
// appearance. SQLite does the grouping.
func (s *Store) DistinctExamples(ctx context.Context, f hogpipe.ExampleFilter, each func(line []byte, count int64) error) error {
	if !s.d.rendersExports() {
		return ErrNoFastPath
	}
	q, args := filterSQL(`SELECT min(seq) AS first, count(*) AS n FROM training_examples WHERE 1 = 1`, nil, f)
	q = `SELECT coalesce(t.v1_line, t.line), g.n FROM (` + q + ` GROUP BY ` + exportLineSQL + ` ->> 'input_prompt', failure_reason) g
		JOIN training_examples t ON t.seq = g.first ORDER BY g.first`
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("export training examples: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var line string
		var n int64
		if err := rows.Scan(&line, &n); err != nil {
			return fmt.Errorf("export training examples: %w", err)
		}
		if err := each([]byte(line), n); err != nil {
			return err
		}
	}
	return rows.Err()
}
