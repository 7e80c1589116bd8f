// Package cli is hogpipe's command-line plumbing: flags that can also be
// set from environment variables or a config file, the help that lists
// them, and the usage errors that make a command exit 2.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
)

// FlagSet is a flag.FlagSet whose flags can also be set from environment
// variables (a flag given on the command line wins), and whose help lists
// each flag with its variable and default.
type FlagSet struct {
	fs      *flag.FlagSet
	getenv  func(string) string
	env     map[string]string // flag name → environment variable
	summary string
	config  string
	stdout  io.Writer
}

// New makes the flags of one command. Every command also takes
// --config FILE (HOGPIPE_CONFIG): NAME=value lines using the environment
// variable names, read after the command line and the environment.
func New(name, summary string, getenv func(string) string, stdout io.Writer) *FlagSet {
	f := &FlagSet{fs: flag.NewFlagSet(name, flag.ContinueOnError), getenv: getenv, env: map[string]string{}, summary: summary, stdout: stdout}
	// parse reports errors itself, once, with a hint.
	f.fs.SetOutput(io.Discard)
	f.fs.StringVar(&f.config, "config", "", "file of NAME=value lines (environment variable names) read after flags and environment")
	f.bind("config", "HOGPIPE_CONFIG")
	return f
}

func (f *FlagSet) bind(name, env string) {
	if env != "" {
		f.env[name] = env
	}
}

// Each flag is bound to its environment variable as it is defined:
// define is the one place that pairs them.
func define[T any](f *FlagSet, def func(*T, string, T, string), p *T, name, env string, value T, usage string) *T {
	f.bind(name, env)
	def(p, name, value, usage)
	return p
}

func (f *FlagSet) String(name, env, def, usage string) *string {
	return define(f, f.fs.StringVar, new(string), name, env, def, usage)
}

func (f *FlagSet) Int(name, env string, def int, usage string) *int {
	return define(f, f.fs.IntVar, new(int), name, env, def, usage)
}

func (f *FlagSet) Bool(name, env string, def bool, usage string) *bool {
	return define(f, f.fs.BoolVar, new(bool), name, env, def, usage)
}

func (f *FlagSet) Duration(name, env string, def time.Duration, usage string) *time.Duration {
	return define(f, f.fs.DurationVar, new(time.Duration), name, env, def, usage)
}

func (f *FlagSet) StringVar(p *string, name, env, def, usage string) {
	define(f, f.fs.StringVar, p, name, env, def, usage)
}

func (f *FlagSet) IntVar(p *int, name, env string, def int, usage string) {
	define(f, f.fs.IntVar, p, name, env, def, usage)
}

func (f *FlagSet) Int64Var(p *int64, name, env string, def int64, usage string) {
	define(f, f.fs.Int64Var, p, name, env, def, usage)
}

func (f *FlagSet) BoolVar(p *bool, name, env string, def bool, usage string) {
	define(f, f.fs.BoolVar, p, name, env, def, usage)
}

func (f *FlagSet) Float64Var(p *float64, name, env string, def float64, usage string) {
	define(f, f.fs.Float64Var, p, name, env, def, usage)
}

func (f *FlagSet) DurationVar(p *time.Duration, name, env string, def time.Duration, usage string) {
	define(f, f.fs.DurationVar, p, name, env, def, usage)
}

// Parse reads args, then fills every flag not given there from its
// environment variable, then from the config file. Its errors are
// UsageErrors; --help answers flag.ErrHelp (wrapped) after printing the
// flags.
func (f *FlagSet) Parse(args []string) error {
	if err := f.parse(args); err != nil {
		return UsageError{err}
	}
	return nil
}

func (f *FlagSet) parse(args []string) error {
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-h" || a == "-help" || a == "--help" {
			f.Usage(f.stdout) // asked for: standard output
			return flag.ErrHelp
		}
	}
	if err := f.fs.Parse(args); err != nil {
		return fmt.Errorf("%w; run 'hogpipe %s --help' for the flags", err, f.fs.Name())
	}
	if f.fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q; run 'hogpipe %s --help' for the flags", f.fs.Arg(0), f.fs.Name())
	}
	given := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	if f.config == "" {
		f.config = f.getenv("HOGPIPE_CONFIG")
	}
	fileVals := map[string]string{}
	if f.config != "" {
		var err error
		if fileVals, err = readConfigFile(f.config); err != nil {
			return err
		}
	}
	for name, env := range f.env {
		if given[name] || name == "config" {
			continue
		}
		v := f.getenv(env)
		if v == "" {
			v = fileVals[env]
		}
		if v == "" {
			continue
		}
		if name == "addr" && env == "PORT" && !strings.Contains(v, ":") {
			v = ":" + v // PORT holds a bare port number, as platforms set it
		}
		if err := f.fs.Set(name, v); err != nil {
			return fmt.Errorf("environment variable %s=%q: %w", env, v, err)
		}
	}
	return nil
}

func (f *FlagSet) Usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: hogpipe %s [flags]\n\n%s\n\nFlags (each also read from the environment variable shown):\n", f.fs.Name(), f.summary)
	var names []string
	f.fs.VisitAll(func(fl *flag.Flag) { names = append(names, fl.Name) })
	sort.Strings(names)
	for _, n := range names {
		fl := f.fs.Lookup(n)
		typ, usage := flag.UnquoteUsage(fl)
		line := "  --" + n
		if len(n) == 1 {
			line = "  -" + n
		}
		if typ != "" {
			line += " " + typ
		}
		fmt.Fprintln(w, line)
		fmt.Fprintf(w, "      %s\n", usage)
		var meta []string
		if env, ok := f.env[n]; ok {
			meta = append(meta, "env "+env)
		}
		if fl.DefValue != "" {
			meta = append(meta, "default "+fl.DefValue)
		}
		if len(meta) > 0 {
			fmt.Fprintf(w, "      (%s)\n", strings.Join(meta, ", "))
		}
	}
}

// readConfigFile reads NAME=value lines; # starts a comment; values may be
// quoted. Names a command does not use are ignored, so one file serves
// every command.
func readConfigFile(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	out := map[string]string{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("config file %s line %d: want NAME=value", path, i+1)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
			v = v[1 : len(v)-1]
		}
		out[k] = v
	}
	return out, nil
}

// Var binds a flag of any flag.Value type to its environment variable.
func (f *FlagSet) Var(v flag.Value, name, env, usage string) {
	f.bind(name, env)
	f.fs.Var(v, name, usage)
}

// Name is the command's name.
func (f *FlagSet) Name() string { return f.fs.Name() }

// UsageError marks errors in what the user typed or configured: the
// command exits 2, as retrying the same command line cannot help.
type UsageError struct{ error }

func (e UsageError) Unwrap() error { return e.error }

// Usagef makes a UsageError.
func Usagef(format string, args ...any) error { return UsageError{fmt.Errorf(format, args...)} }

// IsUsage tells whether err is (or wraps) a usage error or a --help.
func IsUsage(err error) bool {
	var ue UsageError
	return errors.As(err, &ue) || errors.Is(err, flag.ErrHelp)
}

// SplitList reads a comma-separated list, dropping empty items.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Usage marks err as a usage error.
func Usage(err error) error { return UsageError{err} }
