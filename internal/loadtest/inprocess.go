// Package loadtest is the load generator behind "hogpipe bench": the ingest
// scenario (throughput and latency beside a no-op baseline) and the abuse
// scenario (well-formed traffic beside hostile clients, in separate
// processes). cmd/hogpipe only parses the flags and wires these in.
package loadtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// ServeFunc runs a whole hogpipe command line (argv[0] is the program name)
// until ctx ends, writing its standard output to stdout. cmd/hogpipe passes
// its run function; the package cannot import a main package.
type ServeFunc func(ctx context.Context, argv []string, stdout io.Writer) error

// Server is a "hogpipe serve" run in this process on a free port with a
// throwaway directory.
type Server struct {
	URL, Dir string
	stop     func() error
	stopped  bool
}

// StartInProcess runs "hogpipe serve" through serve with args added to the
// defaults (a free loopback port, data and training file in a new temporary
// directory) and returns once it has printed the address it listens on.
func StartInProcess(ctx context.Context, serve ServeFunc, args ...string) (*Server, error) {
	dir, err := os.MkdirTemp("", "hogpipe-bench-*")
	if err != nil {
		return nil, fmt.Errorf("in-process hogpipe: %w", err)
	}
	sctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	argv := append([]string{"hogpipe", "serve", "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"),
		"--training-file", filepath.Join(dir, "training_data.jsonl")}, args...)
	go func() {
		done <- serve(sctx, argv, pw)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	go io.Copy(io.Discard, pr)
	s := &Server{Dir: dir, stop: func() error { cancel(); return <-done }}
	if err != nil {
		serr := s.Close()
		return nil, errors.Join(errors.New("in-process hogpipe did not start"), serr)
	}
	s.URL = strings.TrimSpace(strings.TrimPrefix(line, "hogpipe listening on "))
	return s, nil
}

// Stop shuts the server down (once) and returns how serve ended.
func (s *Server) Stop() error {
	if s.stopped {
		return nil
	}
	s.stopped = true
	return s.stop()
}

// Close stops the server and removes its directory.
func (s *Server) Close() error {
	err := s.Stop()
	os.RemoveAll(s.Dir)
	return err
}
