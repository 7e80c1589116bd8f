package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/hogpipe/hogpipe"
)

// Training statistics are kept in three counter tables (per failure
// reason, per day, per prompt) with a watermark: every example up to
// training_stats_state.seq is counted. A read first folds in the examples
// committed since (a read of the watermark and max(seq) when there are
// none), so a dashboard poll costs the examples that arrived since the
// last poll, not every example ever stored.
//
// The fold runs on read rather than in each ingest commit: it keeps the
// ingest path as it was, batches many commits' examples into one write,
// and counts examples written by a replica of the previous release too,
// which knows nothing of these tables. Example seqs are assigned in commit
// order (lockWrites), so nothing can appear below the watermark.

// statsFoldChunk bounds one fold transaction, so catching up on a large
// backlog (the first read after the upgrade) never holds the group commit
// for long.
const statsFoldChunk = 5000

const statsWatermark = "examples"

// catchUpTrainingStats folds every committed example into the counters.
func (s *Store) catchUpTrainingStats(ctx context.Context) error {
	for {
		var done, last int64
		err := s.r.QueryRowContext(ctx, `SELECT coalesce((SELECT seq FROM training_stats_state WHERE name = ?), 0),
			(SELECT coalesce(max(seq), 0) FROM training_examples)`, statsWatermark).Scan(&done, &last)
		if err != nil {
			return fmt.Errorf("training stats: %w", err)
		}
		if done >= last {
			return nil
		}
		var more bool
		if err := s.write(ctx, func(t *txn) error {
			var err error
			more, err = t.foldTrainingStats(statsFoldChunk)
			return err
		}); err != nil {
			return err
		}
		if !more {
			return nil
		}
	}
}

type promptCount struct {
	prompt string
	first  int64
	n      int64
}

// foldTrainingStats counts up to limit examples past the watermark and
// moves it. It reads the watermark inside the transaction, so two replicas
// (or two polls) folding at once count each example once.
func (t *txn) foldTrainingStats(limit int) (more bool, err error) {
	var done int64
	err = t.QueryRow(`SELECT seq FROM training_stats_state WHERE name = ?`, statsWatermark).Scan(&done)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, unavailable("read training stats watermark", err)
	}
	rows, err := t.Query(`SELECT seq, failure_reason, substr(timestamp, 1, 10), line FROM training_examples
		WHERE seq > ? ORDER BY seq LIMIT ?`, done, limit)
	if err != nil {
		return false, unavailable("read training examples", err)
	}
	reasons, days := map[string]int64{}, map[string]int64{}
	prompts := map[string]*promptCount{}
	n := 0
	for rows.Next() {
		var seq int64
		var reason, day, line string
		if err := rows.Scan(&seq, &reason, &day, &line); err != nil {
			rows.Close()
			return false, unavailable("read training examples", err)
		}
		var l struct {
			Prompt string `json:"input_prompt"`
		}
		json.Unmarshal([]byte(line), &l) // the store wrote the line: it parses
		// A line stored before U+0000 was refused at the door (or imported)
		// may hold one; PostgreSQL's text cannot, and one such prompt
		// would fail every fold, so the statistics forever. It shows as
		// U+FFFD, as in the SQL reads of lines (pgLineJSON).
		l.Prompt = strings.ReplaceAll(l.Prompt, "\x00", "\uFFFD")
		reasons[reason]++
		days[day]++
		sum := sha256.Sum256([]byte(l.Prompt))
		h := hex.EncodeToString(sum[:])
		if p := prompts[h]; p != nil {
			p.n++
		} else {
			// PostgreSQL's TEXT cannot hold U+0000, which lines written
			// by earlier releases may carry (\u0000): shown as U+FFFD,
			// counted under the hash of the prompt as it is.
			prompts[h] = &promptCount{prompt: strings.ReplaceAll(l.Prompt, "\x00", "\uFFFD"), first: seq, n: 1}
		}
		done = seq
		n++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, unavailable("read training examples", err)
	}
	if n == 0 {
		return false, nil
	}
	for k, c := range reasons {
		if _, err := t.Exec(`INSERT INTO training_reason_counts (reason, n) VALUES (?, ?)
			ON CONFLICT (reason) DO UPDATE SET n = training_reason_counts.n + excluded.n`, k, c); err != nil {
			return false, unavailable("count training examples", err)
		}
	}
	for k, c := range days {
		if _, err := t.Exec(`INSERT INTO training_day_counts (day, n) VALUES (?, ?)
			ON CONFLICT (day) DO UPDATE SET n = training_day_counts.n + excluded.n`, k, c); err != nil {
			return false, unavailable("count training examples", err)
		}
	}
	for h, p := range prompts {
		if _, err := t.Exec(`INSERT INTO training_prompt_counts (hash, prompt, first_seq, n) VALUES (?, ?, ?, ?)
			ON CONFLICT (hash) DO UPDATE SET n = training_prompt_counts.n + excluded.n`, h, p.prompt, p.first, p.n); err != nil {
			return false, unavailable("count training prompts", err)
		}
	}
	if _, err := t.Exec(`INSERT INTO training_stats_state (name, seq) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET seq = excluded.seq`, statsWatermark, done); err != nil {
		return false, unavailable("record training stats watermark", err)
	}
	return n == limit, nil
}

// resetTrainingStats forgets the counters, to be recounted on the next
// read: after examples were rewritten, their reasons and prompts changed.
func (t *txn) resetTrainingStats() error {
	for _, q := range []string{`DELETE FROM training_reason_counts`, `DELETE FROM training_day_counts`,
		`DELETE FROM training_prompt_counts`, `DELETE FROM training_stats_state`} {
		if _, err := t.Exec(q); err != nil {
			return unavailable("reset training stats", err)
		}
	}
	return nil
}

// TrainingStats counts examples per failure reason and per day, and finds
// the most frequent prompts (ties: the prompt seen first), from the
// counters.
func (s *Store) TrainingStats(ctx context.Context, top int) (hogpipe.TrainingStats, error) {
	var st hogpipe.TrainingStats
	if err := s.catchUpTrainingStats(ctx); err != nil {
		return st, err
	}
	count := func(q string, args ...any) ([]hogpipe.KeyCount, error) {
		rows, err := s.r.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, fmt.Errorf("training stats: %w", err)
		}
		defer rows.Close()
		out := []hogpipe.KeyCount{}
		for rows.Next() {
			var kc hogpipe.KeyCount
			if err := rows.Scan(&kc.Key, &kc.Count); err != nil {
				return nil, fmt.Errorf("training stats: %w", err)
			}
			out = append(out, kc)
		}
		return out, rows.Err()
	}
	var err error
	if st.ByReason, err = count(`SELECT reason, n FROM training_reason_counts ORDER BY n DESC, reason`); err != nil {
		return st, err
	}
	for _, c := range st.ByReason {
		st.Total += c.Count
	}
	if st.ByDay, err = count(`SELECT day, n FROM training_day_counts ORDER BY day`); err != nil {
		return st, err
	}
	if st.TopPrompts, err = count(`SELECT prompt, n FROM training_prompt_counts ORDER BY n DESC, first_seq LIMIT ?`, top); err != nil {
		return st, err
	}
	return st, nil
}
