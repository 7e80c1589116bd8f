package trainingfile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hogpipe/hogpipe"
)

// Adopted is how many lines of an existing file Open adopted as examples.
func (m *Mirror) Adopted() int { return m.adopted }

// adopt takes over a training file that hogpipe did not write: the
// original service's training_data.jsonl found beside a fresh data
// directory. Its lines (from st.Bytes, where the lines already known to the
// store end) become examples with source "import", each keeping its bytes,
// so the file keeps its head unchanged and new examples are appended after
// it; the watermark then covers them.
//
// Nothing changes until the whole file has been read and found to be
// JSONL. A crash at any later moment is recovered by the next start: the
// lines already imported are the next stored examples, so the walk in
// recover passes over them, and the rest is adopted then (ids derived
// from line number and content make the import idempotent).
func (m *Mirror) adopt(ctx context.Context, st hogpipe.MirrorState, size int64) error {
	imp, ok := m.src.(Importer)
	if !ok {
		return fmt.Errorf("training file %s: this store cannot import examples", m.path)
	}
	now := time.Now()
	// From the file's start: line numbers in messages, and the ids of
	// repeated lines, count the lines before st too.
	scan := func(imp Importer) (*importScanner, ImportResult, error) {
		sc := newImportScanner(m.path, io.NewSectionReader(m.f, 0, size), now)
		sc.keepBlank = true
		sc.from = st.Bytes
		res, err := scanInto(ctx, sc, imp)
		return sc, res, err
	}
	sc, res, err := scan(nil)
	if err != nil {
		if errors.Is(err, ErrNotJSONL) {
			return &NotJSONLError{Path: m.path, Err: err}
		}
		return err
	}
	end := size - int64(len(sc.Torn))
	if sc.Torn != nil || res.Lines == 0 {
		cp, err := m.keepCopy()
		if err != nil {
			return err
		}
		what := "its last line is incomplete (no newline, not a whole JSON object): it is dropped from the file, not adopted"
		if res.Lines == 0 {
			what = "it holds no JSON lines, only an incomplete line or blank space: it is emptied"
			end = st.Bytes
		}
		m.log.Warn("training file: "+what+"; a copy of the whole file is kept", "file", m.path, "bytes", size-end, "copy", cp)
		if err := m.truncate(end); err != nil {
			return err
		}
		size = end
	}
	if res.Lines > 0 {
		appended, err := m.endWithNewline(size)
		if err != nil {
			return err
		}
		if appended {
			size++
		}
	}
	// Examples the store holds beyond the file's known lines (another
	// replica stored some before this one adopted, or the file moved) come
	// first in commit order, so the file cannot keep its head: it is
	// rebuilt in the store's order after the import, with a copy kept.
	later, err := m.src.ExamplesAfter(ctx, st.Seq, 1)
	if err != nil {
		return err
	}
	if res.Lines > 0 {
		if _, res, err = scan(imp); err != nil {
			return fmt.Errorf("adopt %s: %w", m.path, err)
		}
		m.adopted = res.Added
	}
	if len(later) == 0 {
		next, _, err := m.walk(ctx, st, size)
		if err != nil {
			return err
		}
		if next.Bytes == size {
			m.st = next
			if err := m.src.SetMirrorState(ctx, m.name, next); err != nil {
				return err
			}
			m.log.Info("training file adopted: its lines are stored as examples (source import) and new examples are appended after them",
				"file", m.path, "lines", res.Lines, "added", res.Added, "bytes", size)
			return nil
		}
	}
	cp, err := m.keepCopy()
	if err != nil {
		return err
	}
	m.log.Warn("training file: its lines are stored as examples, but the store already held examples that are not in it; rewriting it in the store's order, a copy of the file as it was is kept",
		"file", m.path, "lines", res.Lines, "added", res.Added, "copy", cp)
	return m.rebuild(ctx)
}

// endWithNewline appends a newline when the file's last line lacks one,
// so that the next line appended starts on a line of its own.
func (m *Mirror) endWithNewline(size int64) (bool, error) {
	if size == 0 {
		return false, nil
	}
	last := make([]byte, 1)
	if _, err := m.f.ReadAt(last, size-1); err != nil {
		return false, fmt.Errorf("read training file: %w", err)
	}
	if last[0] == '\n' {
		return false, nil
	}
	if _, err := m.f.WriteAt([]byte{'\n'}, size); err != nil {
		return false, fmt.Errorf("write training file: %w", err)
	}
	return true, m.f.Sync()
}

// NotJSONLError refuses to adopt a training file that is not JSONL.
type NotJSONLError struct {
	Path string
	Err  error
}

func (e *NotJSONLError) Error() string {
	return fmt.Sprintf("%v; hogpipe adopts an existing training file only when every line is a JSON object, and has changed nothing: "+
		"move %s away (or point --training-file / HOGPIPE_TRAINING_FILE elsewhere) and start again", e.Err, e.Path)
}

func (e *NotJSONLError) Unwrap() error { return e.Err }
