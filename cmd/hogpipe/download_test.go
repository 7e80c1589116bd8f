package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hogpipe/hogpipe"
	"github.com/hogpipe/hogpipe/sqlstore"
)

// TestSlowExportDownloadCompletes: a client reading a large export slowly
// (here ~4 s for the file, against a --write-timeout of 1 s) gets all of
// it; the write deadline is renewed per chunk. Before, the server's write
// timeout cut the download off part way (a truncated file).
func TestSlowExportDownloadCompletes(t *testing.T) {
	dir := t.TempDir()
	ts := &testServer{DataDir: filepath.Join(dir, "data"), TrainingFile: filepath.Join(dir, "training_data.jsonl")}
	const examples = 20_000
	ctx := context.Background()
	store, err := sqlstore.OpenSQLite(ctx, sqlstore.SQLitePath(ts.DataDir), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	prompt := strings.Repeat("a long prompt that makes the export large ", 12)
	now := time.Now().UTC()
	for b := 0; b < examples; b += 1000 {
		evs := make([]hogpipe.Event, 1000)
		for i := range evs {
			evs[i] = hogpipe.Event{UUID: fmt.Sprintf("dl-%d", b+i), Name: hogpipe.EventGenerationFailed, DistinctID: "u",
				Timestamp: now, ReceivedAt: now, Source: hogpipe.SourceWebhook,
				Properties: map[string]any{"input_prompt": prompt, "failure_reason": "timeout"}}
		}
		if _, err := store.Ingest(ctx, evs); err != nil {
			t.Fatal(err)
		}
	}
	store.Close()
	restartServer(t, ts, nil, "--write-timeout", "1s")

	// A small receive buffer, so the kernel does not swallow the file and
	// the server really writes at the reader's pace.
	d := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10) })
	}}
	client := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	resp, err := client.Get(ts.URL + "/api/training-data")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	start := time.Now()
	r := bufio.NewReaderSize(resp.Body, 16<<10)
	lines, size := 0, 0
	for {
		line, err := r.ReadString('\n')
		size += len(line)
		if err != nil {
			if line != "" {
				t.Errorf("last line torn: %q", line[:min(len(line), 80)])
			}
			break
		}
		lines++
		if lines%100 == 0 {
			time.Sleep(20 * time.Millisecond) // a slow reader
		}
	}
	t.Logf("%d lines, %d MiB in %s", lines, size>>20, time.Since(start).Round(time.Millisecond))
	if lines != examples {
		t.Errorf("download ended after %d of %d lines", lines, examples)
	}
}
