// Package atomicfile writes a file so that its path holds either the old
// contents or the whole new ones, even across a crash: the new contents are
// written beside the path, fsync'd, renamed over it, and the directory is
// fsync'd so the rename itself is on disk.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// File is the new contents of a path, written aside until Commit.
// Write through the embedded *os.File (or by Name, as SQLite's VACUUM
// INTO does); call Abort in a defer to clean up after any failure.
type File struct {
	*os.File
	path string
	done bool
	// syncDir is replaced by tests to see that the directory is fsync'd
	// after the rename.
	syncDir func(dir string) error
}

// Create starts a new version of path, in path's directory (a rename is
// only atomic within one file system). The file has mode perm whatever
// the umask: files hogpipe writes hold personal data, and their modes are
// a documented promise.
func Create(path string, perm fs.FileMode) (*File, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	f := &File{File: tmp, path: path, syncDir: syncDir}
	if err := tmp.Chmod(perm); err != nil {
		f.Abort()
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	return f, nil
}

// Path is where Commit puts the file.
func (f *File) Path() string { return f.path }

// Commit fsyncs the file, closes it, renames it over the path and fsyncs
// the directory. On failure before the rename, the path keeps its old
// contents and the temporary file is removed.
func (f *File) Commit() error {
	if f.done {
		return fmt.Errorf("write %s: already committed or aborted", f.path)
	}
	if err := f.Sync(); err != nil {
		f.Abort()
		return fmt.Errorf("fsync %s: %w", f.path, err)
	}
	if err := f.Close(); err != nil {
		f.Abort()
		return fmt.Errorf("write %s: %w", f.path, err)
	}
	if err := os.Rename(f.Name(), f.path); err != nil {
		f.Abort()
		return fmt.Errorf("move %s into place: %w", f.path, err)
	}
	f.done = true
	if err := f.syncDir(filepath.Dir(f.path)); err != nil {
		return fmt.Errorf("fsync the directory of %s: %w", f.path, err)
	}
	return nil
}

// Abort drops the new contents, leaving the path as it was. It does
// nothing after Commit, so it can always be deferred.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.Close() // may already be closed
	os.Remove(f.Name())
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	// Some file systems cannot fsync a directory (EINVAL); there the
	// rename is as durable as they make it.
	if errors.Is(err, syscall.EINVAL) {
		err = nil
	}
	return errors.Join(err, d.Close())
}
