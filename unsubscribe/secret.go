package unsubscribe

import (
	"context"

	"github.com/hogpipe/hogpipe/internal/secretkey"
)

// KeyFile is where LoadSecret keeps the key in the data directory.
const KeyFile = "unsubscribe.key"

// SecretStore is the store's share of keeping the key (*sqlstore.Store).
type SecretStore interface {
	secretkey.Shared
	Postgres() bool
}

// LoadSecret returns the key of the tokens when the operator set none. On
// PostgreSQL it lives in the database: every replica must verify the links
// any replica made, so the first replica to start stores a fresh key and
// the others read it. Else it is a file in the data directory, readable by
// its owner only, made on first use and kept: a new key would break every
// link already sent.
func LoadSecret(ctx context.Context, store SecretStore, dataDir string) (string, error) {
	key := secretkey.Key{Secret: "unsubscribe", File: KeyFile, MinLen: MinSecretLen}
	if store.Postgres() {
		return key.Load(ctx, store, dataDir)
	}
	return key.Load(ctx, nil, dataDir)
}
