package trainingfile

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/hogpipe/hogpipe"
	"github.com/hogpipe/hogpipe/internal/cli"
	"github.com/hogpipe/hogpipe/redact"
)

// sharedMap is a shared-secret store holding what earlier releases stored.
type sharedMap map[string]string

func (m sharedMap) SharedSecret(_ context.Context, name string, fresh func() (string, error)) (string, error) {
	if v, ok := m[name]; ok {
		return v, nil
	}
	v, err := fresh()
	m[name] = v
	return v, err
}

// An upgrade keeps the pseudonym key earlier releases made, so one user's
// examples keep one pseudonym: the file's name and format and the shared
// secret's name on PostgreSQL are written out here, not taken from the
// code's constants, so renaming either fails this test.
func TestKeyPolicyKeepsAnEarlierReleasesKey(t *testing.T) {
	const earlier = "9d8c7b6a5f4e3d2c1b0a99887766554433221100ffeeddccbbaa998877665544"
	want := redact.NewPseudonymizer([]byte(earlier)).UserID("someone@example.com")
	ctx := context.Background()
	policy := func(t *testing.T, dir string, secrets SharedSecrets, shared bool) string {
		t.Helper()
		var c PolicyConfig
		fs := cli.New("serve", "", func(string) string { return "" }, io.Discard)
		c.Flags(fs)
		if err := fs.Parse(nil); err != nil {
			t.Fatal(err)
		}
		p := &hogpipe.TrainingPolicy{}
		if err := c.KeyPolicy(ctx, p, dir, secrets, shared); err != nil {
			t.Fatal(err)
		}
		return p.UserID("someone@example.com")
	}

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pseudonym.key"), []byte(earlier+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := policy(t, dir, sharedMap{}, false); got != want {
		t.Errorf("SQLite: pseudonym %q, want %q (the data directory's pseudonym.key)", got, want)
	}
	if got := policy(t, t.TempDir(), sharedMap{"pseudonym-key": earlier}, true); got != want {
		t.Errorf("PostgreSQL: pseudonym %q, want %q (the shared secret \"pseudonym-key\")", got, want)
	}
}
