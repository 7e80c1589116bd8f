package main

import (
	"context"
	"io"
	"time"

	"github.com/hogpipe/hogpipe/internal/cli"
	"github.com/hogpipe/hogpipe/internal/loadtest"
)

// runBench is "hogpipe bench": the flags of the load scenarios, which live
// in internal/loadtest.
func runBench(ctx context.Context, args []string, env *environment) error {
	fs := env.flags("bench", "Measure ingest throughput and latency against a no-op baseline.")
	clients := fs.Int("clients", "HOGPIPE_BENCH_CLIENTS", 64, "concurrent keep-alive clients")
	dur := fs.Duration("duration", "HOGPIPE_BENCH_DURATION", 10*time.Second, "how long each measurement runs")
	target := fs.String("url", "HOGPIPE_BENCH_URL", "", "measure this running hogpipe instead of starting one (base URL)")
	logLevel := fs.String("log-level", "HOGPIPE_BENCH_LOG_LEVEL", "info", "log level of the hogpipe started for the run (logs are discarded)")
	cpuProfile := fs.String("cpuprofile", "HOGPIPE_BENCH_CPUPROFILE", "", "write a CPU profile of the hogpipe measurement (with abuse: the well-formed clients' process) to this file")
	scenario := fs.String("scenario", "HOGPIPE_BENCH_SCENARIO", "ingest", "ingest (throughput and latency) or abuse (well-formed traffic beside hostile clients)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *clients < 1 || *dur <= 0 {
		return cli.Usagef("--clients and --duration must be positive")
	}
	switch *scenario {
	case "ingest":
		return loadtest.Ingest{
			Clients: *clients, Duration: *dur, URL: *target, CPUProfile: *cpuProfile,
			Serve: func(ctx context.Context, argv []string, stdout io.Writer) error {
				return run(ctx, argv, env.getenv, stdout, io.Discard)
			},
			ServeArgs: []string{"--log-level", *logLevel},
		}.Run(ctx, env.stdout)
	case "abuse":
		// The abuse scenario starts this binary again as its attackers.
		if env.getenv(loadtest.RoleEnv) == "attack" {
			if *target == "" {
				return cli.Usagef("%s=attack needs --url", loadtest.RoleEnv)
			}
			return loadtest.Attack(ctx, *target, env.getenv("HOGPIPE_WEBHOOK_SECRET"), *dur, env.stdout)
		}
		if *target != "" {
			return cli.Usagef("--scenario abuse starts its own hogpipe (it needs the store afterwards); --url is not used")
		}
		return loadtest.Abuse{Duration: *dur, CPUProfile: *cpuProfile}.Run(ctx, env.stdout)
	default:
		return cli.Usagef("--scenario %q: use ingest or abuse", *scenario)
	}
}
