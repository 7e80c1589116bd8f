package main

import (
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// flagSet is a flag.FlagSet whose flags can also be set from environment
// variables (a flag given on the command line wins), and whose help lists
// each flag with its variable and default.
type flagSet struct {
	fs      *flag.FlagSet
	getenv  func(string) string
	env     map[string]string // flag name → environment variable
	summary string
}

func newFlagSet(name, summary string, getenv func(string) string, stderr io.Writer) *flagSet {
	f := &flagSet{fs: flag.NewFlagSet(name, flag.ContinueOnError), getenv: getenv, env: map[string]string{}, summary: summary}
	f.fs.SetOutput(stderr)
	f.fs.Usage = func() { f.usage(stderr) }
	return f
}

func (f *flagSet) bind(name, env string) {
	if env != "" {
		f.env[name] = env
	}
}

func (f *flagSet) String(name, env, def, usage string) *string {
	f.bind(name, env)
	return f.fs.String(name, def, usage)
}

func (f *flagSet) Int(name, env string, def int, usage string) *int {
	f.bind(name, env)
	return f.fs.Int(name, def, usage)
}

func (f *flagSet) Int64(name, env string, def int64, usage string) *int64 {
	f.bind(name, env)
	return f.fs.Int64(name, def, usage)
}

func (f *flagSet) Bool(name, env string, def bool, usage string) *bool {
	f.bind(name, env)
	return f.fs.Bool(name, def, usage)
}

func (f *flagSet) Duration(name, env string, def time.Duration, usage string) *time.Duration {
	f.bind(name, env)
	return f.fs.Duration(name, def, usage)
}

// parse reads args, then fills every flag not given there from its
// environment variable.
func (f *flagSet) parse(args []string) error {
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	given := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	for name, env := range f.env {
		if given[name] {
			continue
		}
		v := f.getenv(env)
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

func (f *flagSet) usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: hogpipe %s [flags]\n\n%s\n\nFlags (each also read from the environment variable shown):\n", f.fs.Name(), f.summary)
	var names []string
	f.fs.VisitAll(func(fl *flag.Flag) { names = append(names, fl.Name) })
	sort.Strings(names)
	for _, n := range names {
		fl := f.fs.Lookup(n)
		typ, usage := flag.UnquoteUsage(fl)
		line := "  --" + n
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
