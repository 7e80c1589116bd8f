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
	// Each flag checked against the command's own (not the command run
	// with --help appended, which passes any flag), and every variable
	// the unit sets must be one the command reads.
	args := strings.Fields(exec1[1])
	if err := checkCommandLine(bin, args); err != nil {
		t.Errorf("ExecStart: %v", err)
	}
	var env []string
	for _, m := range regexp.MustCompile(`(?m)^Environment=([A-Z][A-Z0-9_]*)=`).FindAllStringSubmatch(string(unit), -1) {
		env = append(env, m[1])
	}
	if len(args) > 0 {
		if err := checkEnvironment(bin, args[0], env); err != nil {
			t.Errorf("Environment=: %v", err)
		}
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed")
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
