package sqlstore

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// LockDataDir makes sure one hogpipe serve owns a data directory: two
// would both append to the same training file. Commands that change what
// serve owns (importing or re-keying the live training file) take it too.
// The lock is the process's: it ends with unlock or with the process.
func LockDataDir(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, DirMode); err != nil {
		return nil, fmt.Errorf("create data directory %s: %w", dir, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "hogpipe.lock"), os.O_RDWR|os.O_CREATE, FileMode)
	if err != nil {
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("data directory %s is in use by another hogpipe serve; stop it or use another --data-dir", dir)
	}
	return func() { f.Close() }, nil
}
