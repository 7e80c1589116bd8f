package secretkey

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var testKey = Key{Secret: "test", File: "test.key", MinLen: 16}

// Processes that start at once on a fresh data directory agree on one key
// (a key that changed would break what the first one made), the file is
// the owner's only, a later start reads the same key, and nothing is left
// aside.
func TestRacingStartsAgreeOnOnePrivateFile(t *testing.T) {
	dir := t.TempDir()
	keys := make([]string, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, err := testKey.Load(context.Background(), nil, dir)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	for _, k := range keys {
		if k != keys[0] || len(k) != 64 {
			t.Fatalf("keys differ or are short: %q", keys)
		}
	}
	path := filepath.Join(dir, testKey.File)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v", err, fi.Mode())
	}
	if k, err := testKey.Load(context.Background(), nil, dir); err != nil || k != keys[0] {
		t.Errorf("read again: %q, %v", k, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}
}

// A key file that appears between the read that found none and the create
// is kept and used: replacing it would break what it made, and failing
// would stop a start that has a perfectly good key.
func TestKeepsAKeyCreatedMeanwhile(t *testing.T) {
	path := filepath.Join(t.TempDir(), testKey.File)
	theirs := strings.Repeat("b", 64)
	got, err := testKey.loadFile(path, strings.Repeat("a", 64), func() {
		if err := os.WriteFile(path, []byte(theirs+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	})
	if err != nil || got != theirs {
		t.Fatalf("got %q, %v; want the key created meanwhile", got, err)
	}
	if b, _ := os.ReadFile(path); strings.TrimSpace(string(b)) != theirs {
		t.Errorf("the file now holds %q", b)
	}
}

// A key file too short to be a key is refused, saying what to do, and left
// alone: removing it is the operator's call.
func TestRefusesAShortKeyFile(t *testing.T) {
	for _, content := range []string{"", "\n", "  too-short  \n", strings.Repeat("k", testKey.MinLen-1) + "\n"} {
		dir := t.TempDir()
		path := filepath.Join(dir, testKey.File)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := testKey.Load(context.Background(), nil, dir)
		if err == nil || !strings.Contains(err.Error(), "16 or more") || !strings.Contains(err.Error(), "remove it") {
			t.Errorf("%q: %v, want a refusal naming the length and saying to remove it", content, err)
		}
		if b, _ := os.ReadFile(path); string(b) != content {
			t.Errorf("%q: file changed to %q", content, b)
		}
	}
}

type sharedSecrets map[string]string

func (m sharedSecrets) SharedSecret(_ context.Context, name string, fresh func() (string, error)) (string, error) {
	if v, ok := m[name]; ok {
		return v, nil
	}
	v, err := fresh()
	m[name] = v
	return v, err
}

// With a shared store the key is the store's, under its name, and no file
// is written.
func TestSharedKeyWritesNoFile(t *testing.T) {
	dir := t.TempDir()
	m := sharedSecrets{}
	k, err := testKey.Load(context.Background(), m, dir)
	if err != nil || len(k) != 64 || m["test"] != k {
		t.Fatalf("got %q, %v; store holds %q", k, err, m)
	}
	if again, _ := testKey.Load(context.Background(), m, dir); again != k {
		t.Errorf("second load %q, want %q", again, k)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files written with a shared store: %v", entries)
	}
}

// A key file that exists but reads as missing (a link to a secret not
// mounted yet) is an error naming the file, at once: not a loop that
// retries the create forever, and nothing is left beside it.
func TestDanglingLinkIsAnError(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, testKey.File)
	if err := os.Symlink(filepath.Join(dir, "not-mounted", "key"), path); err != nil {
		t.Fatal(err)
	}
	k, err := testKey.Load(context.Background(), nil, dir)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("dangling link: key %q, err %v; want an error naming %s", k, err, path)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}
}
