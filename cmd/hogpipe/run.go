package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"

	"github.com/hogpipe/hogpipe/internal/cli"
)

// Exit codes, documented in the README.
const (
	exitError = 1 // the command failed
	exitUsage = 2 // bad command line or configuration
)

func exitCode(err error) int {
	if cli.IsUsage(err) {
		return exitUsage
	}
	return exitError
}

// command is one subcommand of hogpipe.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, env *environment) error
}

// environment is what every command gets from the outside world.
type environment struct {
	getenv         func(string) string
	stdout, stderr io.Writer
}

// flags makes a command's flags, read from its arguments, then the
// environment, then a --config file.
func (e *environment) flags(name, summary string) *cli.FlagSet {
	return cli.New(name, summary, e.getenv, e.stdout)
}

func commands() []command {
	return []command{
		{"serve", "Receive PostHog events over HTTP and feed the destinations.", runServe},
		{"export", "Write the stored training examples as JSONL.", runExport},
		{"stats", "Show training examples per failure reason, per day, and the most frequent prompts.", runStats},
		{"import", "Import an existing training file (the original service's) as examples: hogpipe import FILE.", runImport},
		{"rebuild-training-file", "Render the training examples again (new redaction rules) and rewrite the file atomically.", runRebuild},
		{"replay", "Queue failed emails again: hogpipe replay emails --state failed.", runReplay},
		{"suppressions", suppressionsSummary, runSuppressions},
		{"backup", "Copy the SQLite database while hogpipe runs: hogpipe backup -o FILE.", runBackup},
		{"bench", "Measure ingest throughput and latency against a no-op baseline.", runBench},
		{"version", "Print the version.", runVersion},
	}
}

// run is the whole program: main only calls it, and tests call it too.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	env := &environment{getenv: getenv, stdout: stdout, stderr: stderr}
	if len(args) < 2 || args[1] == "-h" || args[1] == "--help" || args[1] == "help" {
		printUsage(stdout)
		if len(args) < 2 {
			return cli.Usagef("no command given")
		}
		return nil
	}
	name := args[1]
	for _, c := range commands() {
		if c.name == name {
			err := c.run(ctx, args[2:], env)
			if errors.Is(err, flag.ErrHelp) {
				return nil
			}
			return err
		}
	}
	return cli.Usagef("unknown command %q; run 'hogpipe --help' for the list", name)
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, "hogpipe turns PostHog events into training data and marketing emails.\n\nUsage: hogpipe <command> [flags]\n\nCommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-22s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\nRun 'hogpipe <command> --help' for a command's flags.\n")
}

func runVersion(ctx context.Context, args []string, env *environment) error {
	fs := env.flags("version", "Print the version.")
	if err := fs.Parse(args); err != nil {
		return err
	}
	fmt.Fprintln(env.stdout, "hogpipe", version())
	return nil
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return bi.Main.Version + " (" + s.Value[:12] + ")"
			}
		}
		return bi.Main.Version
	}
	return "unknown"
}
