package trainingfile

import (
	"context"
	"strings"

	"github.com/hogpipe/hogpipe"
	"github.com/hogpipe/hogpipe/internal/cli"
	"github.com/hogpipe/hogpipe/internal/secretkey"
	"github.com/hogpipe/hogpipe/redact"
)

// PolicyConfig is how events become training examples, as the flags of
// hogpipe serve and rebuild-training-file give it.
type PolicyConfig struct {
	redact         string
	maxPromptBytes int
	pseudonymize   bool
	pseudonymKey   string
}

// Flags registers the policy's flags.
func (c *PolicyConfig) Flags(fs *cli.FlagSet) {
	fs.StringVar(&c.redact, "redact", "HOGPIPE_REDACT", "all", "kinds of personal data replaced in prompts: all, none, or a list of "+strings.Join(redact.All, ","))
	fs.IntVar(&c.maxPromptBytes, "max-prompt-bytes", "HOGPIPE_MAX_PROMPT_BYTES", hogpipe.DefaultMaxPromptBytes, "longer prompts are truncated (and marked) in training data; 0: no limit")
	fs.BoolVar(&c.pseudonymize, "pseudonymize-user-id", "HOGPIPE_PSEUDONYMIZE_USER_ID", true, "replace a user_id holding personal data (an email, a phone number) by a keyed hash in training data")
	fs.StringVar(&c.pseudonymKey, "pseudonym-key", "HOGPIPE_PSEUDONYM_KEY", "", "key of the user_id hash (16+ characters); unset: "+PseudonymKeyFile+" in --data-dir, or stored in the database with PostgreSQL")
}

// Policy checks the flags and builds the policy, without its user_id
// pseudonymizer (KeyPolicy adds it once the store is open).
func (c *PolicyConfig) Policy() (*hogpipe.TrainingPolicy, error) {
	kinds, err := redact.ParseKinds(c.redact)
	if err != nil {
		return nil, cli.Usagef("--redact: %v", err)
	}
	if c.maxPromptBytes < 0 {
		return nil, cli.Usagef("--max-prompt-bytes cannot be negative")
	}
	return &hogpipe.TrainingPolicy{Redact: kinds, MaxPromptBytes: c.maxPromptBytes, Redactor: redact.Text, PropertiesRedactor: redact.Properties}, nil
}

// SharedSecrets keeps secrets every replica shares (sqlstore on
// PostgreSQL).
type SharedSecrets = secretkey.Shared

// PseudonymKeyFile names the file that holds the pseudonym key of a
// deployment without a shared database, in its data directory.
const PseudonymKeyFile = "pseudonym.key"

// MinKeyLen is the shortest pseudonym key accepted, in characters.
const MinKeyLen = 16

// KeyPolicy completes policy with the user_id pseudonymizer, its key
// taken from the flag, else (shared: PostgreSQL) the database every
// replica shares, else (SQLite) the data directory's key file, made on
// first use. The key must not change: pseudonyms group one user's examples
// only as long as it stays the same.
func (c *PolicyConfig) KeyPolicy(ctx context.Context, policy *hogpipe.TrainingPolicy, dataDir string, secrets SharedSecrets, shared bool) error {
	if !c.pseudonymize {
		return nil
	}
	key := c.pseudonymKey
	var err error
	switch {
	case key != "":
		if len(key) < MinKeyLen {
			return cli.Usagef("--pseudonym-key is %d characters; use at least %d (e.g. openssl rand -hex 32)", len(key), MinKeyLen)
		}
	default:
		if !shared {
			secrets = nil // the data directory's file
		}
		k := secretkey.Key{Secret: "pseudonym-key", File: PseudonymKeyFile, MinLen: MinKeyLen}
		if key, err = k.Load(ctx, secrets, dataDir); err != nil {
			return err
		}
	}
	policy.UserID = redact.NewPseudonymizer([]byte(key)).UserID
	return nil
}
