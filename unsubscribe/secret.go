package unsubscribe

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

// KeyFile is where LoadSecret keeps the key in the data directory.
const KeyFile = "unsubscribe.key"

// secretName is the key's name among the database's shared secrets.
const secretName = "unsubscribe"

// SecretStore is the store's share of keeping the key (*sqlstore.Store).
type SecretStore interface {
	// SharedSecret returns the secret stored under name, storing fresh()
	// first when there is none; PostgreSQL only.
	SharedSecret(ctx context.Context, name string, fresh func() (string, error)) (string, error)
	Postgres() bool
}

// LoadSecret returns the key of the tokens when the operator set none. On
// PostgreSQL it lives in the database: every replica must verify the links
// any replica made, so the first replica to start stores a fresh key and
// the others read it. Else it is a file in the data directory, readable by
// its owner only, made on first use and kept: a new key would break every
// link already sent.
func LoadSecret(ctx context.Context, store SecretStore, dataDir string) (string, error) {
	fresh := make([]byte, 32)
	if _, err := rand.Read(fresh); err != nil {
		return "", fmt.Errorf("make an unsubscribe key: %w", err)
	}
	if store.Postgres() {
		s, err := store.SharedSecret(ctx, secretName, func() (string, error) { return hex.EncodeToString(fresh), nil })
		if err != nil {
			return "", fmt.Errorf("unsubscribe key: %w", err)
		}
		return s, nil
	}
	return loadSecretFile(filepath.Join(dataDir, KeyFile), hex.EncodeToString(fresh), nil)
}

// loadSecretFile reads the key file, or creates it holding fresh. A file
// that appears meanwhile (beforeCreate stands in for that in tests) is
// kept and read: created whole or not at all, it is the key of whoever
// made it first.
func loadSecretFile(path, fresh string, beforeCreate func()) (string, error) {
	for try := 0; ; try++ {
		b, err := os.ReadFile(path)
		switch {
		case err == nil:
			s := strings.TrimSpace(string(b))
			if len(s) < MinSecretLen {
				return "", fmt.Errorf("%s holds %d characters, want at least %d: remove it to make a new one (old links stop working)", path, len(s), MinSecretLen)
			}
			return s, nil
		case !errors.Is(err, fs.ErrNotExist) || try > 0:
			return "", fmt.Errorf("read the unsubscribe key: %w", err)
		}
		if beforeCreate != nil {
			beforeCreate()
		}
		err = atomicfile.WriteNew(path, []byte(fresh+"\n"), 0o600)
		if err == nil {
			return fresh, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("create the unsubscribe key: %w", err)
		}
	}
}
