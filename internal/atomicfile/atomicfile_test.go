package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// entries lists dir, so a test can see that no temporary file is left.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

func TestCommitReplacesAndSyncsTheDirectoryAfterTheRename(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.jsonl")
	if err := os.WriteFile(path, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Create(path, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Abort()
	var synced []string
	f.syncDir = func(d string) error {
		// The directory is fsync'd once the new file is in place, so the
		// rename is what reaches the disk.
		b, err := os.ReadFile(path)
		if err != nil || string(b) != "new\n" {
			t.Errorf("directory fsync'd before the rename: %q, %v", b, err)
		}
		synced = append(synced, d)
		return syncDir(d)
	}
	if _, err := f.WriteString("new\n"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "old\n" {
		t.Fatalf("path changed before Commit: %q", b)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if len(synced) != 1 || synced[0] != dir {
		t.Fatalf("directories fsync'd: %q, want [%q]", synced, dir)
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != "new\n" {
		t.Fatalf("after Commit: %q, %v", b, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	if got := entries(t, dir); len(got) != 1 {
		t.Fatalf("directory holds %q, want only out.jsonl", got)
	}
}

func TestModeIgnoresUmask(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	f, err := Create(path, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v, want 0640", fi.Mode().Perm())
	}
}

// TestFailureLeavesTheOldFile: whatever fails, the path keeps its old
// contents and no temporary file is left beside it.
func TestFailureLeavesTheOldFile(t *testing.T) {
	for name, fail := range map[string]func(*File) error{
		"abort": func(f *File) error { f.Abort(); return errors.New("aborted") },
		// Sync fails on a closed file: Commit's first step.
		"fsync": func(f *File) error { f.File.Close(); return f.Commit() },
		// A directory at the path: the rename fails.
		"rename": func(f *File) error { f.path = filepath.Join(filepath.Dir(f.path), "sub"); return f.Commit() },
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "out")
			if err := os.WriteFile(path, []byte("old\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(filepath.Join(dir, "sub"), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "sub", "x"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
			f, err := Create(path, 0o600)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Abort()
			if _, err := f.WriteString("new\n"); err != nil {
				t.Fatal(err)
			}
			if err := fail(f); err == nil {
				t.Fatal("no error")
			}
			if b, err := os.ReadFile(path); err != nil || string(b) != "old\n" {
				t.Fatalf("old file: %q, %v", b, err)
			}
			if got := entries(t, dir); len(got) != 2 {
				t.Fatalf("directory holds %q, want out and sub only", got)
			}
			if err := f.Commit(); err == nil {
				t.Fatal("Commit after a failure succeeded")
			}
		})
	}
}
