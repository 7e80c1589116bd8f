package redact

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// PseudonymKeyFile names the file that holds the pseudonym key of a
// deployment without a shared database, in its data directory.
const PseudonymKeyFile = "pseudonym.key"

// MinKeyLen is the shortest pseudonym key accepted, in characters.
const MinKeyLen = 16

// NewKey makes a pseudonym key: 32 random bytes, hex-encoded.
func NewKey() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make pseudonym key: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// LoadOrCreateKey reads the key file, or creates it (mode 0600, written
// and fsync'd, its directory too, before use) when there is none. Two processes creating it at
// once agree on one key: the file is linked into place, never renamed over
// a key another process made first.
func LoadOrCreateKey(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		key := strings.TrimSpace(string(b))
		if len(key) < MinKeyLen {
			return "", fmt.Errorf("pseudonym key file %s holds %d characters; it needs %d or more", path, len(key), MinKeyLen)
		}
		return key, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read pseudonym key: %w", err)
	}
	key, err := NewKey()
	if err != nil {
		return "", err
	}
	// A temporary name of its own (CreateTemp: mode 0600), so that two
	// creators never remove each other's file before it is linked.
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("create pseudonym key: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // linked into place, or failed: not needed either way
	_, err = f.WriteString(key + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(tmp, path)
		if errors.Is(err, os.ErrExist) {
			return LoadOrCreateKey(path)
		}
	}
	if err == nil {
		// The link must outlive a crash: pseudonyms already written with
		// this key would not match a new one.
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		return "", fmt.Errorf("write pseudonym key: %w", err)
	}
	return key, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
