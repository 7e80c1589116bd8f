package main

import (
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// commandFlags are the flags one hogpipe command takes, read from its own
// --help (the same text the help goldens pin): name → whether it takes a
// value; and the environment variables it reads.
type commandFlags struct {
	flags map[string]bool
	env   map[string]bool
}

var (
	helpFlagLine = regexp.MustCompile(`(?m)^  --([a-z0-9][a-z0-9-]*)( \S+)?$`)
	helpEnv      = regexp.MustCompile(`\(env ([A-Z][A-Z0-9_]*)`)
)

func flagsOf(bin, command string) (commandFlags, error) {
	out, err := exec.Command(bin, command, "--help").CombinedOutput()
	if err != nil {
		return commandFlags{}, fmt.Errorf("%s --help: %v\n%s", command, err, out)
	}
	cf := commandFlags{flags: map[string]bool{}, env: map[string]bool{}}
	for _, m := range helpFlagLine.FindAllStringSubmatch(string(out), -1) {
		cf.flags[m[1]] = m[2] != ""
	}
	for _, m := range helpEnv.FindAllStringSubmatch(string(out), -1) {
		cf.env[m[1]] = true
	}
	if len(cf.flags) == 0 {
		return cf, fmt.Errorf("%s --help lists no flags:\n%s", command, out)
	}
	return cf, nil
}

// checkCommandLine says what in args (a command and its flags, as in a
// unit's ExecStart) the command would not accept: an unknown flag, a flag
// missing its value, a stray argument. Unlike running the command with
// --help appended, it cannot pass a misspelt flag.
func checkCommandLine(bin string, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("no command")
	}
	cf, err := flagsOf(bin, args[0])
	if err != nil {
		return err
	}
	var problems []string
	for i := 1; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" || a == "--" {
			problems = append(problems, fmt.Sprintf("unexpected argument %q", a))
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		takesValue, ok := cf.flags[name]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("unknown flag --%s", name))
		case takesValue && !hasValue:
			if i+1 >= len(args) {
				problems = append(problems, fmt.Sprintf("--%s needs a value", name))
			}
			i++ // its value
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("hogpipe %s: %s", strings.Join(args, " "), strings.Join(problems, "; "))
	}
	return nil
}

// checkEnvironment says which of names (a unit's Environment= variables)
// the command does not read: a misspelt variable is silently ignored.
func checkEnvironment(bin, command string, names []string) error {
	cf, err := flagsOf(bin, command)
	if err != nil {
		return err
	}
	var unknown []string
	for _, n := range names {
		if !cf.env[n] {
			unknown = append(unknown, n)
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("hogpipe %s reads no %s", command, strings.Join(unknown, ", "))
	}
	return nil
}

// TestCommandLineCheckCatchesMistakes: the checks TestSystemdUnitVerifies
// relies on refuse what hogpipe would refuse (or silently ignore).
func TestCommandLineCheckCatchesMistakes(t *testing.T) {
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args  string
		wrong string // "" when the line is fine
	}{
		{"serve", ""},
		{"serve --addr 127.0.0.1:3000 --data-dir /var/lib/hogpipe/data", ""},
		{"serve --addr=127.0.0.1:3000 -data-dir /x", ""},
		{"serve --data-dirr /var/lib/hogpipe/data", "unknown flag --data-dirr"},
		{"serve --adr 127.0.0.1:3000", "unknown flag --adr"},
		{"serve --addr", "--addr needs a value"},
		{"serve extra", `unexpected argument "extra"`},
		{"serve --help-me", "unknown flag --help-me"},
	} {
		err := checkCommandLine(bin, strings.Fields(c.args))
		switch {
		case c.wrong == "" && err != nil:
			t.Errorf("%q: %v", c.args, err)
		case c.wrong != "" && (err == nil || !strings.Contains(err.Error(), c.wrong)):
			t.Errorf("%q: %v, want an error saying %s", c.args, err, c.wrong)
		}
	}
	if err := checkEnvironment(bin, "serve", []string{"HOGPIPE_DATA_DIR", "HOGPIPE_TRAINING_FILE"}); err != nil {
		t.Error(err)
	}
	if err := checkEnvironment(bin, "serve", []string{"HOGPIPE_DATADIR"}); err == nil || !strings.Contains(err.Error(), "HOGPIPE_DATADIR") {
		t.Errorf("a misspelt variable: %v, want it named", err)
	}
}
