package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestSystemdUnitVerifies checks deploy/hogpipe.service with systemd's own
// verifier, pointed at the real binary, and that its ExecStart command line
// is one hogpipe accepts. (systemd itself does not run on the project's
// machines, so the unit is never started here.)
func TestSystemdUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed")
	}
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	unit, err := os.ReadFile("../../deploy/hogpipe.service")
	if err != nil {
		t.Fatal(err)
	}
	exec1 := regexp.MustCompile(`(?m)^ExecStart=/usr/local/bin/hogpipe(.*)$`).FindStringSubmatch(string(unit))
	if exec1 == nil {
		t.Fatal("deploy/hogpipe.service has no ExecStart=/usr/local/bin/hogpipe line")
	}
	if out, err := exec.Command(bin, append(strings.Fields(exec1[1]), "--help")...).CombinedOutput(); err != nil {
		t.Errorf("ExecStart arguments %q: %v\n%s", exec1[1], err, out)
	}

	path := filepath.Join(t.TempDir(), "hogpipe.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/hogpipe", bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", "--man=no", path).CombinedOutput()
	// verify exits 0 on some problems it only warns about; those name the file.
	if err != nil || strings.Contains(string(out), "hogpipe.service") {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
