package atomicfile

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteNew creates path holding data, only when no file is there yet: the
// data is written aside and fsync'd, then hard-linked into place (a link
// never replaces a file) and the directory fsync'd. So the file at path is
// whole from the moment it appears, and of two writers racing for it one
// wins and the other gets an error wrapping fs.ErrExist, leaving the
// winner's file as it is (and reading it whole). For keys made once and
// kept for good.
func WriteNew(path string, data []byte, perm fs.FileMode) error {
	f, err := Create(path, perm)
	if err != nil {
		return err
	}
	defer f.Abort() // removes the file aside, linked or not
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Link(f.Name(), path); err != nil {
		if os.IsExist(err) {
			return fmt.Errorf("create %s: %w", path, fs.ErrExist)
		}
		return fmt.Errorf("move %s into place: %w", path, err)
	}
	if err := f.syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("fsync the directory of %s: %w", path, err)
	}
	return nil
}
