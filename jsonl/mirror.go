// Package jsonl keeps training_data.jsonl: a crash-safe file mirror of the
// stored training examples, one line per example in commit order, and the
// exports that write the same lines elsewhere.
package jsonl

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hogpipe/hogpipe"
)

// Source is what the mirror reads from and records its progress in.
type Source interface {
	ExamplesAfter(ctx context.Context, after int64, limit int) ([]hogpipe.ExampleLine, error)
	MirrorState(ctx context.Context, name string) (hogpipe.MirrorState, error)
	SetMirrorState(ctx context.Context, name string, st hogpipe.MirrorState) error
}

// batchSize bounds the examples read and written per step.
const batchSize = 4096

// passInterval is the least time between two appends: the most the file
// lags the store under load.
const passInterval = 100 * time.Millisecond

// Mirror appends committed training examples to a file. The file is only
// ever appended to with whole lines, fsync'd before the store's watermark
// moves, so after a crash at any moment Open can tell exactly which of the
// file's lines are good: those up to the watermark, plus any after it that
// match the next stored examples byte for byte. Anything else is a torn
// tail and is cut off.
type Mirror struct {
	path string
	name string // key of this file's watermark in the store
	src  Source
	log  *slog.Logger
	wake chan struct{}

	mu sync.Mutex // held while writing; guards f and st
	f  *os.File
	st hogpipe.MirrorState

	waitMu  sync.Mutex
	waiters []chan struct{}
}

// Open recovers the file at path against the store and returns a mirror
// positioned after the last good line. It does not yet append what is
// missing: CatchUp or Run do.
func Open(ctx context.Context, path string, src Source, log *slog.Logger) (*Mirror, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("training file %s: %w", path, err)
	}
	m := &Mirror{path: abs, name: abs, src: src, log: log, wake: make(chan struct{}, 1)}
	if err := m.recover(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// Path is the mirrored file's absolute path.
func (m *Mirror) Path() string { return m.path }

// Position returns how far the file has got.
func (m *Mirror) Position() hogpipe.MirrorState {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st
}

// Notify wakes the mirror after a commit. It never blocks.
func (m *Mirror) Notify() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Run appends new examples as they are committed, until ctx ends; then it
// appends what is left and closes the file.
func (m *Mirror) Run(ctx context.Context) error {
	// A periodic pass covers writes made by other processes (hogpipe
	// commands, other replicas) that do not notify this one.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			err := m.CatchUp(context.Background())
			return errors.Join(err, m.Close())
		case <-m.wake:
		case <-tick.C:
		}
		if err := m.CatchUp(ctx); err != nil && ctx.Err() == nil {
			m.log.Error("training file mirror behind", "file", m.path, "err", err)
		}
		// Under load commits arrive every millisecond or so; a pass per
		// commit would double the fsyncs. Pausing between passes lets each
		// pass append many commits' examples with one write and one fsync.
		select {
		case <-ctx.Done():
		case <-time.After(passInterval):
		}
	}
}

// Close closes the file.
func (m *Mirror) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.f == nil {
		return nil
	}
	err := m.f.Close()
	m.f = nil
	return err
}

// CatchUp appends every committed example not yet in the file.
func (m *Mirror) CatchUp(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.f == nil {
		return errors.New("training file mirror is closed")
	}
	for {
		batch, err := m.src.ExamplesAfter(ctx, m.st.Seq, batchSize)
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			m.release()
			return nil
		}
		var buf bytes.Buffer
		for _, l := range batch {
			buf.Write(l.Line)
		}
		// At the recorded offset, not O_APPEND: a replica that lost the
		// writer lock (its session killed) may write for a moment before it
		// notices, beside the replica that took over. Both write the same
		// lines at the same offsets, so the file still holds each example
		// once (TestMirrorWriterLosesItsLock).
		if _, err := m.f.WriteAt(buf.Bytes(), m.st.Bytes); err != nil {
			return fmt.Errorf("append to %s: %w", m.path, err)
		}
		if err := m.f.Sync(); err != nil {
			return fmt.Errorf("fsync %s: %w", m.path, err)
		}
		next := hogpipe.MirrorState{Seq: batch[len(batch)-1].Seq, Bytes: m.st.Bytes + int64(buf.Len())}
		// The file is durable now; losing this record in a crash only
		// means the next Open verifies these lines again.
		m.st = next
		if err := m.src.SetMirrorState(ctx, m.name, next); err != nil {
			m.log.Warn("training file watermark not recorded", "err", err)
		}
	}
}

// WaitIdle returns once the file holds every example committed before the
// call, or ctx ends. Tests and shutdown use it.
func (m *Mirror) WaitIdle(ctx context.Context) error {
	ch := make(chan struct{})
	m.waitMu.Lock()
	m.waiters = append(m.waiters, ch)
	m.waitMu.Unlock()
	m.Notify()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// release wakes WaitIdle callers; called when a pass found nothing more.
func (m *Mirror) release() {
	m.waitMu.Lock()
	for _, ch := range m.waiters {
		close(ch)
	}
	m.waiters = nil
	m.waitMu.Unlock()
}

// FileMode is the mode of a training file hogpipe creates: owner read and
// write only, since lines hold prompts and user ids (personal data).
const FileMode os.FileMode = 0o600

func (m *Mirror) recover(ctx context.Context) error {
	st, err := m.src.MirrorState(ctx, m.name)
	if err != nil {
		return err
	}
	// Prompts are personal data: a new file is readable by hogpipe's
	// user only (FileMode); an existing one keeps the mode it has.
	f, err := os.OpenFile(m.path, os.O_RDWR|os.O_CREATE, FileMode)
	if err != nil {
		return fmt.Errorf("open training file: %w", err)
	}
	m.f = f
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat training file: %w", err)
	}
	ok, err := m.verifyPrefix(ctx, st, fi.Size())
	if err != nil {
		return err
	}
	if !ok {
		// Someone edited, truncated or replaced the file: the watermark no
		// longer describes it, so no line in it can be trusted to be ours.
		m.log.Warn("training file does not match the store; rebuilding it", "file", m.path)
		return m.rebuild(ctx)
	}
	// Lines after the watermark were written and fsync'd but their
	// watermark not recorded, or torn by a crash mid-write: keep those
	// that are exactly the next examples, cut the rest.
	if _, err := f.Seek(st.Bytes, io.SeekStart); err != nil {
		return fmt.Errorf("seek training file: %w", err)
	}
	r := bufio.NewReaderSize(f, 1<<20)
	pending, err := m.src.ExamplesAfter(ctx, st.Seq, batchSize)
	if err != nil {
		return err
	}
	for {
		line, err := r.ReadBytes('\n')
		if err != nil { // io.EOF: a torn line or nothing
			break
		}
		if len(pending) == 0 {
			if pending, err = m.src.ExamplesAfter(ctx, st.Seq, batchSize); err != nil {
				return err
			}
		}
		if len(pending) == 0 || !bytes.Equal(line, pending[0].Line) {
			break
		}
		st = hogpipe.MirrorState{Seq: pending[0].Seq, Bytes: st.Bytes + int64(len(line))}
		pending = pending[1:]
	}
	if fi.Size() != st.Bytes {
		m.log.Warn("training file: dropping torn or unknown tail", "file", m.path, "bytes", fi.Size()-st.Bytes)
		if err := f.Truncate(st.Bytes); err != nil {
			return fmt.Errorf("truncate training file: %w", err)
		}
		if err := f.Sync(); err != nil {
			return fmt.Errorf("fsync training file: %w", err)
		}
	}
	m.st = st
	return m.src.SetMirrorState(ctx, m.name, st)
}

// verifyPrefix checks that the file is at least as long as the watermark
// says and that its last line before the watermark is the example at st.Seq.
func (m *Mirror) verifyPrefix(ctx context.Context, st hogpipe.MirrorState, size int64) (bool, error) {
	if size < st.Bytes {
		return false, nil
	}
	if st.Seq == 0 {
		return st.Bytes == 0, nil
	}
	last, err := m.src.ExamplesAfter(ctx, st.Seq-1, 1)
	if err != nil {
		return false, err
	}
	if len(last) == 0 || last[0].Seq != st.Seq {
		return false, nil
	}
	want := last[0].Line
	if int64(len(want)) > st.Bytes {
		return false, nil
	}
	got := make([]byte, len(want))
	if _, err := m.f.ReadAt(got, st.Bytes-int64(len(want))); err != nil {
		return false, fmt.Errorf("read training file: %w", err)
	}
	return bytes.Equal(got, want), nil
}

// rebuild writes the whole file anew beside the old one and renames it
// into place, so readers see the old file or the new one, never a mix.
func (m *Mirror) rebuild(ctx context.Context) error {
	if m.f != nil {
		m.f.Close()
		m.f = nil
	}
	st, err := WriteFileAtomic(ctx, m.path, m.src)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(m.path, os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("open training file: %w", err)
	}
	m.f, m.st = f, st
	return m.src.SetMirrorState(ctx, m.name, st)
}

// WriteFileAtomic writes every stored example to path (write aside, fsync,
// rename, fsync the directory) and returns the resulting position.
func WriteFileAtomic(ctx context.Context, path string, src ExampleReader) (hogpipe.MirrorState, error) {
	var st hogpipe.MirrorState
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return st, fmt.Errorf("create temporary training file: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	w := bufio.NewWriterSize(tmp, 1<<20)
	for {
		batch, err := src.ExamplesAfter(ctx, st.Seq, batchSize)
		if err != nil {
			tmp.Close()
			return st, err
		}
		if len(batch) == 0 {
			break
		}
		for _, l := range batch {
			w.Write(l.Line)
			st.Bytes += int64(len(l.Line))
		}
		st.Seq = batch[len(batch)-1].Seq
	}
	if err := w.Flush(); err != nil {
		tmp.Close()
		return st, fmt.Errorf("write training file: %w", err)
	}
	// A rebuilt file keeps the mode of the file it replaces, so an
	// operator's chmod survives; a new one gets FileMode.
	mode := FileMode
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return st, fmt.Errorf("write training file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return st, fmt.Errorf("fsync training file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return st, fmt.Errorf("close training file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return st, fmt.Errorf("replace training file: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return st, nil
}

// Rebuild writes the file at path anew from every stored example and makes
// it the mirror's new starting point. No mirror may be running on it.
func Rebuild(ctx context.Context, path string, src Source) (hogpipe.MirrorState, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return hogpipe.MirrorState{}, fmt.Errorf("training file %s: %w", path, err)
	}
	st, err := WriteFileAtomic(ctx, abs, src)
	if err != nil {
		return st, err
	}
	return st, src.SetMirrorState(ctx, abs, st)
}
