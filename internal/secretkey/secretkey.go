// Package secretkey keeps the keys hogpipe makes for itself when the
// operator sets none: the user_id pseudonym key and the unsubscribe key.
// On PostgreSQL a key lives in the database, so that every replica uses
// the one the first replica made; otherwise it is a file in the data
// directory, the owner's only, made once and kept. Either way it never
// changes by itself: a new key would break what the old one made
// (pseudonyms that group a user's examples, links already sent).
package secretkey

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/hogpipe/hogpipe/internal/atomicfile"
)

// Shared keeps secrets every replica shares (sqlstore on PostgreSQL):
// fresh makes the secret when there is none yet.
type Shared interface {
	SharedSecret(ctx context.Context, name string, fresh func() (string, error)) (string, error)
}

// Key is one of hogpipe's own keys.
type Key struct {
	Secret string // its name among the database's shared secrets
	File   string // its file's name in the data directory
	MinLen int    // a shorter key file is refused, not used
}

// Load returns the key: from shared when it is not nil, else from the
// data directory's file, made on first use.
func (k Key) Load(ctx context.Context, shared Shared, dataDir string) (string, error) {
	if shared != nil {
		s, err := shared.SharedSecret(ctx, k.Secret, Fresh)
		if err != nil {
			return "", fmt.Errorf("shared secret %q: %w", k.Secret, err)
		}
		return s, nil
	}
	fresh, err := Fresh()
	if err != nil {
		return "", err
	}
	return k.loadFile(filepath.Join(dataDir, k.File), fresh, nil)
}

// Fresh makes a key: 32 random bytes, hex-encoded.
func Fresh() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make a key: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// loadFile reads the key file, or creates it holding fresh. A file that
// appears meanwhile (another process starting at once; beforeCreate
// stands in for that in tests) is kept and read: written aside and linked
// into place, it is whole or absent, and the first one made wins.
func (k Key) loadFile(path, fresh string, beforeCreate func()) (string, error) {
	for try := 0; ; try++ {
		b, err := os.ReadFile(path)
		switch {
		case err == nil:
			s := strings.TrimSpace(string(b))
			if len(s) < k.MinLen {
				return "", fmt.Errorf("key file %s holds %d characters; it needs %d or more: remove it to make a new one (what the old key made stops matching)", path, len(s), k.MinLen)
			}
			return s, nil
		case !errors.Is(err, fs.ErrNotExist) || try > 0:
			return "", fmt.Errorf("read key file: %w", err)
		}
		if beforeCreate != nil {
			beforeCreate()
		}
		err = atomicfile.WriteNew(path, []byte(fresh+"\n"), 0o600)
		if err == nil {
			return fresh, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("create key file: %w", err)
		}
	}
}
