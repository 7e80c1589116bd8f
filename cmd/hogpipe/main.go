// Command hogpipe is the PostHog event pipeline: see README.md.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal starts a graceful stop; a second one ends the
	// process at once (the default action, restored here), as an operator
	// pressing Ctrl-C twice expects.
	go func() {
		<-ctx.Done()
		stop()
	}()
	err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "hogpipe:", err)
		os.Exit(exitCode(err))
	}
}
