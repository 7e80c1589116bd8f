package server

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hogpipe/hogpipe"
)

// TestMemBudget: reservations add up to the budget and no further; a
// request that cannot get room within the wait is refused as transient
// (503), one larger than the whole budget as too large; release gives the
// room back.
func TestMemBudget(t *testing.T) {
	b := newMemBudget(1000)
	b.wait = 10 * time.Millisecond
	a := b.start(context.Background(), "")
	if err := a.reserve(600); err != nil {
		t.Fatal(err)
	}
	c := b.start(context.Background(), "")
	if err := c.reserve(500); !errors.Is(err, errMemoryBudget) {
		t.Fatalf("over the budget: %v, want errMemoryBudget", err)
	}
	if err := c.reserve(400); err != nil {
		t.Fatalf("within the budget: %v", err)
	}
	if err := b.start(context.Background(), "").reserve(1001); hogpipe.ErrorCode(err) != hogpipe.ETooLarge {
		t.Fatalf("larger than the budget: %v", err)
	}
	a.release()
	c.release()
	if err := b.start(context.Background(), "").reserve(1000); err != nil {
		t.Fatalf("after release: %v", err)
	}
}

// TestReadAllBudgeted: a body is reserved as it is read, in steps, and a
// body over the limit is refused without reading it when it says so.
func TestReadAllBudgeted(t *testing.T) {
	b := newMemBudget(10 << 20)
	res := b.start(context.Background(), "")
	body := strings.Repeat("x", 300_000)
	r := httptest.NewRequest("POST", "/", strings.NewReader(body))
	bp, err := readAllBudgeted(httptest.NewRecorder(), r, 1<<20, res, nil)
	if err != nil || string(*bp) != body {
		t.Fatalf("err %v, got %d bytes", err, len(*bp))
	}
	if res.held < int64(len(body)) || res.held > int64(len(body))+1 {
		t.Errorf("reserved %d for a body of %d (Content-Length known)", res.held, len(body))
	}
	res.release()

	r = httptest.NewRequest("POST", "/", strings.NewReader(body))
	r.ContentLength = -1
	res = b.start(context.Background(), "")
	if _, err := readAllBudgeted(httptest.NewRecorder(), r, 1<<20, res, nil); err != nil {
		t.Fatal(err)
	}
	if res.held < int64(len(body)) || res.held > int64(len(body))+bodyChunk {
		t.Errorf("reserved %d for a chunked body of %d", res.held, len(body))
	}
	res.release()

	r = httptest.NewRequest("POST", "/", strings.NewReader(body))
	if _, err := readAllBudgeted(httptest.NewRecorder(), r, 1000, b.start(context.Background(), ""), nil); hogpipe.ErrorCode(err) != hogpipe.ETooLarge {
		t.Errorf("over the limit: %v", err)
	}
	r = httptest.NewRequest("POST", "/", strings.NewReader(body))
	r.ContentLength = -1 // chunked: found out while reading
	if _, err := readAllBudgeted(httptest.NewRecorder(), r, 1000, b.start(context.Background(), ""), nil); hogpipe.ErrorCode(err) != hogpipe.ETooLarge {
		t.Errorf("chunked over the limit: %v", err)
	}
}
