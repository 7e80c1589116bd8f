package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hogpipe/hogpipe/internal/proctest"
)

func TestDisplayAddr(t *testing.T) {
	for _, c := range []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{Port: 3000}, "localhost:3000"},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 3000}, "localhost:3000"},
		{&net.TCPAddr{IP: net.IPv6unspecified, Port: 3000}, "localhost:3000"},
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}, "127.0.0.1:8080"},
		{&net.TCPAddr{IP: net.ParseIP("::1"), Port: 80}, "[::1]:80"},
		{&net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 443}, "192.0.2.7:443"},
		{&net.UnixAddr{Name: "/run/hogpipe.sock", Net: "unix"}, "/run/hogpipe.sock"},
	} {
		if got := displayAddr(c.addr); got != c.want {
			t.Errorf("displayAddr(%v) = %q, want %q", c.addr, got, c.want)
		}
	}
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestListenerShutdownOrder: Shutdown drains the server, lets a request in
// flight finish and answers it, and only then runs after (where serve stops
// its workers and closes the store).
func TestListenerShutdownOrder(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var answered atomic.Bool
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		answered.Store(true)
		io.WriteString(w, "done")
	})
	l, err := Listen(Config{Addr: "127.0.0.1:0"}, h, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(l.URL(), "http://127.0.0.1:") || l.URL() == "http://127.0.0.1:0" {
		t.Fatalf("URL %q does not name the bound port", l.URL())
	}
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get(l.URL() + "/slow")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	<-entered

	srv := New(Config{}, Deps{Log: quietLog()})
	var afterSawAnswer, afterRan atomic.Bool
	shut := make(chan error, 1)
	go func() {
		shut <- l.Shutdown(time.Minute, srv, func() error {
			afterRan.Store(true)
			afterSawAnswer.Store(answered.Load())
			return errors.New("store close failed")
		})
	}()
	// The request is let go only once the listener stopped taking new
	// connections, i.e. once shutting down began.
	proctest.Eventually(t, "listener closed", 30*time.Second, func() error {
		c, err := net.Dial("tcp", l.Addr().String())
		if err == nil {
			c.Close()
			return errors.New("still accepting")
		}
		return nil
	})
	if afterRan.Load() {
		t.Error("after ran while a request was in flight")
	}
	if !srv.draining.Load() {
		t.Error("server not drained before the listener closed")
	}
	close(release)
	if body := <-got; body != "done" {
		t.Errorf("request in flight got %q", body)
	}
	err = <-shut
	if err == nil || !strings.Contains(err.Error(), "shut down: store close failed") {
		t.Errorf("Shutdown = %v; want after's error", err)
	}
	if !afterSawAnswer.Load() {
		t.Error("after ran before the request in flight was answered")
	}
}

// TestListenerShutdownGivesUp: past the grace Shutdown returns an error
// saying so, though after is still busy.
func TestListenerShutdownGivesUp(t *testing.T) {
	l, err := Listen(Config{Addr: "127.0.0.1:0"}, http.NotFoundHandler(), quietLog())
	if err != nil {
		t.Fatal(err)
	}
	stuck := make(chan struct{})
	defer close(stuck)
	err = l.Shutdown(10*time.Millisecond, New(Config{}, Deps{Log: quietLog()}), func() error { <-stuck; return nil })
	if err == nil || !strings.Contains(err.Error(), "not finished within --shutdown-grace 10ms") {
		t.Errorf("Shutdown = %v", err)
	}
}

func TestListenAddressInUse(t *testing.T) {
	l, err := Listen(Config{Addr: "127.0.0.1:0"}, http.NotFoundHandler(), quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	addr := l.Addr().String()
	if l2, err := Listen(Config{Addr: addr}, http.NotFoundHandler(), quietLog()); err == nil {
		l2.Close()
		t.Fatal("second listener on the same address")
	} else if !strings.Contains(err.Error(), "listen on "+addr) || !strings.Contains(err.Error(), "set --addr or PORT") {
		t.Errorf("error %v", err)
	}
	l.Close()
	select {
	case err := <-l.Failed():
		if !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Failed() after Close: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Failed() never delivered after Close")
	}
}

func TestRunning(t *testing.T) {
	var up atomic.Bool
	check := Running("email workers", up.Load)
	if err := check(context.Background()); err == nil || err.Error() != "email workers stopped" {
		t.Errorf("stopped: %v", err)
	}
	up.Store(true)
	if err := check(context.Background()); err != nil {
		t.Errorf("running: %v", err)
	}
}
