package trainingfile

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
	"github.com/hogpipe/hogpipe/internal/atomicfile"
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

	adopted int // lines of an existing file Open adopted
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
		if err := m.guardTail(buf.Bytes()); err != nil {
			return err
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

// guardTail checks, before a write at the watermark, that any bytes
// already there are the ones about to be written (a replica that lost the
// writer lock may have written them). Bytes someone else put there (lines
// appended by hand to a running setup) would be overwritten: the file is
// copied aside first and they are dropped.
func (m *Mirror) guardTail(next []byte) error {
	fi, err := m.f.Stat()
	if err != nil {
		return fmt.Errorf("stat %s: %w", m.path, err)
	}
	extra := fi.Size() - m.st.Bytes
	if extra <= 0 {
		return nil
	}
	got := make([]byte, min(extra, int64(len(next))))
	if _, err := m.f.ReadAt(got, m.st.Bytes); err != nil {
		return fmt.Errorf("read %s: %w", m.path, err)
	}
	if bytes.Equal(got, next[:len(got)]) {
		return nil
	}
	cp, err := m.keepCopy()
	if err != nil {
		return err
	}
	m.log.Warn("training file: bytes after the last line hogpipe wrote are not hogpipe's; dropping them from the file, a copy of the whole file is kept (hogpipe import COPY adds its lines as examples)",
		"file", m.path, "bytes", extra, "copy", cp)
	return m.truncate(m.st.Bytes)
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
	size := fi.Size()
	ok, err := m.verifyPrefix(ctx, st, size)
	if err != nil {
		return err
	}
	if !ok {
		// Someone edited, truncated or replaced the file: the watermark no
		// longer describes it, so no line in it can be trusted to be ours.
		// What is there now may be someone's data: it is kept beside.
		attrs := []any{"file", m.path}
		if size > 0 {
			cp, err := m.keepCopy()
			if err != nil {
				return err
			}
			attrs = append(attrs, "copy", cp)
		}
		m.log.Warn("training file does not match the store; rebuilding it from the store", attrs...)
		return m.rebuild(ctx)
	}
	// Nothing of the file is hogpipe's yet: on a first start beside an
	// existing file (the original service's), the file is adopted.
	fresh := st.Bytes == 0
	// Lines after the watermark were written and fsync'd but their
	// watermark not recorded, or torn by a crash mid-write: keep those
	// that are exactly the next examples.
	var lastImported bool
	if st, lastImported, err = m.walk(ctx, st, size); err != nil {
		return err
	}
	// Adopt only a file that is foreign from its start, or whose known
	// lines are adopted ones (an adoption a crash interrupted). After
	// hogpipe's own lines, unknown lines are not adopted: a database
	// restored from a backup is behind the file it wrote, and the file is
	// cut back to it (with a copy kept).
	fresh = fresh && (st.Bytes == 0 || lastImported)
	if size > st.Bytes {
		ours, err := m.tailIsOurs(ctx, st, size)
		if err != nil {
			return err
		}
		switch {
		case ours:
			m.log.Warn("training file: dropping a torn last line (hogpipe stopped mid-write); it is appended again whole", "file", m.path, "bytes", size-st.Bytes)
		case fresh:
			return m.adopt(ctx, st, size)
		default:
			cp, err := m.keepCopy()
			if err != nil {
				return err
			}
			m.log.Warn("training file: bytes after the last line hogpipe wrote are not hogpipe's; dropping them from the file, a copy of the whole file is kept (hogpipe import COPY adds its lines as examples)",
				"file", m.path, "bytes", size-st.Bytes, "copy", cp)
		}
		if err := m.truncate(st.Bytes); err != nil {
			return err
		}
	}
	m.st = st
	return m.src.SetMirrorState(ctx, m.name, st)
}

// walk moves st over the file's lines that are exactly the next stored
// examples, and returns where they end and whether the last of them is an
// imported one.
func (m *Mirror) walk(ctx context.Context, st hogpipe.MirrorState, size int64) (hogpipe.MirrorState, bool, error) {
	r := bufio.NewReaderSize(io.NewSectionReader(m.f, st.Bytes, size-st.Bytes), 1<<20)
	var pending []hogpipe.ExampleLine
	imported := false
	for {
		if len(pending) == 0 {
			var err error
			if pending, err = m.src.ExamplesAfter(ctx, st.Seq, batchSize); err != nil {
				return st, imported, err
			}
			if len(pending) == 0 {
				return st, imported, nil
			}
		}
		// By length, not by newline: an adopted example's line may hold
		// blank lines before it.
		want := pending[0].Line
		got := make([]byte, len(want))
		if _, err := io.ReadFull(r, got); err != nil || !bytes.Equal(got, want) {
			return st, imported, nil
		}
		st = hogpipe.MirrorState{Seq: pending[0].Seq, Bytes: st.Bytes + int64(len(want))}
		imported = pending[0].V1 != nil
		pending = pending[1:]
	}
}

// tailIsOurs tells whether the file's bytes after st are the start of the
// next stored example's line: a write that a crash cut short.
func (m *Mirror) tailIsOurs(ctx context.Context, st hogpipe.MirrorState, size int64) (bool, error) {
	next, err := m.src.ExamplesAfter(ctx, st.Seq, 1)
	if err != nil || len(next) == 0 {
		return false, err
	}
	n := size - st.Bytes
	if n >= int64(len(next[0].Line)) {
		return false, nil
	}
	got := make([]byte, n)
	if _, err := m.f.ReadAt(got, st.Bytes); err != nil {
		return false, fmt.Errorf("read training file: %w", err)
	}
	return bytes.Equal(got, next[0].Line[:n]), nil
}

func (m *Mirror) truncate(n int64) error {
	if err := m.f.Truncate(n); err != nil {
		return fmt.Errorf("truncate training file: %w", err)
	}
	if err := m.f.Sync(); err != nil {
		return fmt.Errorf("fsync training file: %w", err)
	}
	return nil
}

// keepCopy copies the file as it is now beside it, as
// <file>.orig-<UTC time>, before hogpipe drops or replaces bytes it did
// not write, and returns the copy's path.
func (m *Mirror) keepCopy() (string, error) {
	return keepCopy(m.f, m.path)
}

func keepCopy(f *os.File, path string) (string, error) {
	base := path + ".orig-" + time.Now().UTC().Format("20060102T150405Z")
	name := base
	var out *os.File
	for i := 2; ; i++ {
		var err error
		// Personal data: readable by its owner only.
		out, err = os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			break
		}
		if !errors.Is(err, os.ErrExist) || i > 100 {
			return "", fmt.Errorf("keep a copy of %s: %w", path, err)
		}
		name = fmt.Sprintf("%s-%d", base, i)
	}
	fail := func(err error) (string, error) {
		out.Close()
		os.Remove(name)
		return "", fmt.Errorf("keep a copy of %s: %w", path, err)
	}
	if _, err := io.Copy(out, io.NewSectionReader(f, 0, 1<<62)); err != nil {
		return fail(err)
	}
	if err := out.Sync(); err != nil {
		return fail(err)
	}
	if err := out.Close(); err != nil {
		return fail(err)
	}
	syncDir(filepath.Dir(path))
	return name, nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
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
	// A rebuilt file keeps the mode of the file it replaces, so an
	// operator's chmod survives; a new one gets FileMode.
	mode := FileMode
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
	}
	tmp, err := atomicfile.Create(path, mode)
	if err != nil {
		return st, fmt.Errorf("create temporary training file: %w", err)
	}
	defer tmp.Abort() // no-op once committed
	w := bufio.NewWriterSize(tmp, 1<<20)
	for {
		batch, err := src.ExamplesAfter(ctx, st.Seq, batchSize)
		if err != nil {
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
		return st, fmt.Errorf("write training file: %w", err)
	}
	if err := tmp.Commit(); err != nil {
		return st, fmt.Errorf("replace training file: %w", err)
	}
	return st, nil
}

// Rebuild writes the file at path anew from every stored example and makes
// it the mirror's new starting point. No mirror may be running on it. When
// the file holds bytes that are not what hogpipe recorded writing, a copy
// of it is kept beside it and its path returned.
func Rebuild(ctx context.Context, path string, src Source) (hogpipe.MirrorState, string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return hogpipe.MirrorState{}, "", fmt.Errorf("training file %s: %w", path, err)
	}
	cp, err := copyIfForeign(ctx, abs, src)
	if err != nil {
		return hogpipe.MirrorState{}, "", err
	}
	st, err := WriteFileAtomic(ctx, abs, src)
	if err != nil {
		return st, cp, err
	}
	return st, cp, src.SetMirrorState(ctx, abs, st)
}

// copyIfForeign keeps a copy of the file at abs unless it is exactly what
// its watermark says hogpipe wrote.
func copyIfForeign(ctx context.Context, abs string, src Source) (string, error) {
	f, err := os.Open(abs)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("open training file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() == 0 {
		return "", err
	}
	st, err := src.MirrorState(ctx, abs)
	if err != nil {
		return "", err
	}
	m := &Mirror{path: abs, src: src, f: f}
	ok, err := m.verifyPrefix(ctx, st, fi.Size())
	if err != nil {
		return "", err
	}
	if ok && fi.Size() == st.Bytes {
		return "", nil
	}
	return keepCopy(f, abs)
}
