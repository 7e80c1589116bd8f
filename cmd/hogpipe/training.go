package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/hogpipe/hogpipe/internal/cli"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hogpipe/hogpipe"
	"github.com/hogpipe/hogpipe/redact"
	"github.com/hogpipe/hogpipe/sqlstore"
	"github.com/hogpipe/hogpipe/trainingfile"
)

// trainingConfig is how events become training examples.
type trainingConfig struct {
	redact         string
	maxPromptBytes int
	pseudonymize   bool
	pseudonymKey   string
}

func addTrainingFlags(fs *cli.FlagSet, c *trainingConfig) {
	fs.StringVar(&c.redact, "redact", "HOGPIPE_REDACT", "all", "kinds of personal data replaced in prompts: all, none, or a list of "+strings.Join(redact.All, ","))
	fs.IntVar(&c.maxPromptBytes, "max-prompt-bytes", "HOGPIPE_MAX_PROMPT_BYTES", hogpipe.DefaultMaxPromptBytes, "longer prompts are truncated (and marked) in training data; 0: no limit")
	fs.BoolVar(&c.pseudonymize, "pseudonymize-user-id", "HOGPIPE_PSEUDONYMIZE_USER_ID", true, "replace a user_id holding personal data (an email, a phone number) by a keyed hash in training data")
	fs.StringVar(&c.pseudonymKey, "pseudonym-key", "HOGPIPE_PSEUDONYM_KEY", "", "key of the user_id hash (16+ characters); unset: "+pseudonymKeyFile+" in --data-dir, or stored in the database with PostgreSQL")
}

// pseudonymKeyFile holds the pseudonym key of a SQLite deployment, in its
// data directory.
const pseudonymKeyFile = "pseudonym.key"

// keyPolicy completes policy with the user_id pseudonymizer, its key
// taken from the flag, else (PostgreSQL) the database every replica
// shares, else (SQLite) the data directory's key file, made on first use.
// The key must not change: pseudonyms group one user's examples only as
// long as it stays the same.
func (c *trainingConfig) keyPolicy(ctx context.Context, policy *hogpipe.TrainingPolicy, dataDir string, store *sqlstore.Store, pg bool) error {
	if !c.pseudonymize {
		return nil
	}
	key := c.pseudonymKey
	switch {
	case key != "":
		if len(key) < 16 {
			return cli.Usagef("--pseudonym-key is %d characters; use at least 16 (e.g. openssl rand -hex 32)", len(key))
		}
	case pg:
		var err error
		if key, err = store.SharedSecret(ctx, "pseudonym-key", newKey); err != nil {
			return fmt.Errorf("pseudonym key: %w", err)
		}
	default:
		var err error
		if key, err = loadOrCreateKey(filepath.Join(dataDir, pseudonymKeyFile)); err != nil {
			return err
		}
	}
	policy.UserID = redact.NewPseudonymizer([]byte(key)).UserID
	return nil
}

func newKey() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make pseudonym key: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// loadOrCreateKey reads the key file, or creates it (mode 0600, written
// and fsync'd before use) when there is none.
func loadOrCreateKey(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		key := strings.TrimSpace(string(b))
		if len(key) < 16 {
			return "", fmt.Errorf("pseudonym key file %s holds %d characters; it needs 16 or more", path, len(key))
		}
		return key, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read pseudonym key: %w", err)
	}
	key, err := newKey()
	if err != nil {
		return "", err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return "", fmt.Errorf("create pseudonym key: %w", err)
	}
	_, err = f.WriteString(key + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// Link, not rename: a key another process made first is kept.
		err = os.Link(tmp, path)
		os.Remove(tmp)
		if errors.Is(err, os.ErrExist) {
			return loadOrCreateKey(path)
		}
	}
	if err != nil {
		return "", fmt.Errorf("write pseudonym key: %w", err)
	}
	return key, nil
}

func (c *trainingConfig) policy() (*hogpipe.TrainingPolicy, error) {
	kinds, err := redact.ParseKinds(c.redact)
	if err != nil {
		return nil, cli.Usagef("--redact: %v", err)
	}
	if c.maxPromptBytes < 0 {
		return nil, cli.Usagef("--max-prompt-bytes cannot be negative")
	}
	return &hogpipe.TrainingPolicy{Redact: kinds, MaxPromptBytes: c.maxPromptBytes, Redactor: redact.Text, PropertiesRedactor: redact.Properties}, nil
}

func addDatabaseFlag(fs *cli.FlagSet, database *string) {
	fs.StringVar(database, "database", "DATABASE_URL", "", "PostgreSQL URL (postgres://…) shared by replicas; unset: SQLite in --data-dir")
}

// openExisting opens the store a command works on: PostgreSQL when a URL is
// given, else the SQLite database of a data directory that must exist.
func openExisting(ctx context.Context, dataDir, database string, opt sqlstore.Options) (*sqlstore.Store, error) {
	if database != "" {
		return sqlstore.OpenPostgres(ctx, database, opt)
	}
	if _, err := os.Stat(dbPath(dataDir)); err != nil {
		return nil, cli.Usagef("no hogpipe database in %s (set --data-dir or HOGPIPE_DATA_DIR, or DATABASE_URL)", dataDir)
	}
	s, err := sqlstore.OpenSQLite(ctx, dbPath(dataDir), opt)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	return s, nil
}

// runRebuild regenerates training_data.jsonl from the store with the
// current training policy (after changing redaction rules, say): every
// stored example is rendered again from its event, then the file is written
// aside, fsync'd and renamed over the old one.
func runRebuild(ctx context.Context, args []string, env *environment) error {
	fs := env.flags("rebuild-training-file", "Render every training example again from its event and rewrite the training file atomically.")
	var dataDir, trainingFile, database string
	var tc trainingConfig
	addDataFlags(fs, &dataDir, &trainingFile)
	addDatabaseFlag(fs, &database)
	addTrainingFlags(fs, &tc)
	if err := fs.Parse(args); err != nil {
		return err
	}
	policy, err := tc.policy()
	if err != nil {
		return err
	}
	// A running serve appends to the same file: it must not run meanwhile.
	if database == "" {
		unlock, err := sqlstore.LockDataDir(dataDir)
		if err != nil {
			return err
		}
		defer unlock()
	}
	store, err := openExisting(ctx, dataDir, database, sqlstore.Options{})
	if err != nil {
		return err
	}
	defer store.Close()
	if err := tc.keyPolicy(ctx, policy, dataDir, store, database != ""); err != nil {
		return err
	}
	leader, err := store.TryLead(ctx)
	if err != nil {
		return err
	}
	if leader == nil {
		return fmt.Errorf("a hogpipe serve is writing the training file; stop every replica first")
	}
	defer leader.Release()
	n, err := store.RewriteExamples(ctx, policy)
	if err != nil {
		return err
	}
	st, cp, err := trainingfile.Rebuild(ctx, trainingFile, store)
	if cp != "" {
		// The file held bytes hogpipe had not recorded writing.
		fmt.Fprintf(env.stderr, "%s did not match what hogpipe wrote; a copy of it as it was is kept in %s\n", trainingFile, cp)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "rewrote %d examples from their events (imported lines are kept as they are); %s holds %d bytes\n", n, trainingFile, st.Bytes)
	return nil
}

// runStats prints what the training data holds.
func runStats(ctx context.Context, args []string, env *environment) error {
	fs := env.flags("stats", "Show training examples per failure reason, per day, and the most frequent prompts.")
	var dataDir, trainingFile, database string
	addDataFlags(fs, &dataDir, &trainingFile)
	addDatabaseFlag(fs, &database)
	top := fs.Int("top", "HOGPIPE_STATS_TOP", 10, "how many frequent prompts to show")
	asJSON := fs.Bool("json", "HOGPIPE_STATS_JSON", false, "print JSON instead of tables")
	if err := fs.Parse(args); err != nil {
		return err
	}
	store, err := openExisting(ctx, dataDir, database, sqlstore.Options{})
	if err != nil {
		return err
	}
	defer store.Close()
	st, err := store.TrainingStats(ctx, *top)
	if err != nil {
		return err
	}
	if *asJSON {
		b, _ := hogpipe.MarshalLine(st)
		_, err := env.stdout.Write(b)
		return err
	}
	w := env.stdout
	fmt.Fprintf(w, "training examples: %d\n\nper failure reason:\n", st.Total)
	for _, c := range st.ByReason {
		fmt.Fprintf(w, "  %-24s %8d\n", c.Key, c.Count)
	}
	fmt.Fprintf(w, "\nper day (UTC):\n")
	for _, c := range st.ByDay {
		fmt.Fprintf(w, "  %-24s %8d\n", c.Key, c.Count)
	}
	fmt.Fprintf(w, "\nmost frequent prompts:\n")
	for _, c := range st.TopPrompts {
		p := c.Key
		if len(p) > 60 {
			p = p[:57] + "..."
		}
		fmt.Fprintf(w, "  %8d  %q\n", c.Count, p)
	}
	return nil
}

// exportRequest is an export's options as a command line or a query gives them.
type exportRequest struct {
	format, since, until, reasons string
	dedupe                        bool
	split                         float64
}

func (r exportRequest) options() (trainingfile.Options, error) {
	opt := trainingfile.Options{Format: r.format, DedupeContent: r.dedupe}
	var err error
	if opt.Filter.Since, err = parseDay(r.since); err != nil {
		return opt, cli.Usagef("--since %q: %v", r.since, err)
	}
	if opt.Filter.Until, err = parseDay(r.until); err != nil {
		return opt, cli.Usagef("--until %q: %v", r.until, err)
	}
	opt.Filter.Reasons = cli.SplitList(strings.ToLower(r.reasons))
	if !(r.split >= 0 && r.split < 1) { // NaN fails too
		return opt, cli.Usagef("--split %v: give the train share, e.g. 0.9", r.split)
	}
	return opt, nil
}

// parseDay reads 2026-11-28 or a full RFC 3339 time.
func parseDay(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	return time.Parse(time.RFC3339, s)
}

func splitNames(out string) (train, validation string) {
	ext := filepath.Ext(out)
	base := strings.TrimSuffix(out, ext)
	if ext == "" {
		ext = ".jsonl"
	}
	return base + ".train" + ext, base + ".validation" + ext
}
