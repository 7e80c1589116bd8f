package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hogpipe/hogpipe/internal/pgtest"
	"github.com/hogpipe/hogpipe/internal/proctest"
	"github.com/hogpipe/hogpipe/sqlstore"
)

// TestPostgresOutage cuts a replica off its database (every connection
// closed, new ones refused) under load, then lets it back. While cut, ingest
// answers 503 + Retry-After and /readyz fails; nothing acknowledged is lost,
// and once the database is back every event the client retried is stored
// once and the training file catches up, as docs/deploy.md says.
func TestPostgresOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a replica")
	}
	// Refused: connections closed, new ones refused (the server is down).
	t.Run("refused", func(t *testing.T) { outage(t, (*tcpProxy).cut) })
	// Stalled: bytes stop flowing and nothing is closed (a network
	// partition); the commit timeout turns the wait into 503s.
	t.Run("stalled", func(t *testing.T) { outage(t, (*tcpProxy).stall) })
}

func outage(t *testing.T, breakIt func(*tcpProxy)) {
	dbURL := pgtest.URL(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	px := startTCPProxy(t, u.Host)
	u.Host = px.addr
	dir := t.TempDir()
	file := filepath.Join(dir, "training_data.jsonl")
	rep := startChild(t, filepath.Join(dir, "data"), file, "DATABASE_URL="+u.String(), "HOGPIPE_COMMIT_TIMEOUT=2s")
	client := &http.Client{Timeout: 10 * time.Second}
	postOnce := func(i int) (int, string) {
		body := fmt.Sprintf(`{"event":{"uuid":"out-%d","event":"generation_failed","properties":{"input_prompt":"outage %d"}}}`, i, i)
		resp, err := client.Post(rep.URL+"/api/webhooks/generation-failed", "application/json", strings.NewReader(body))
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}

	const n = 300
	var acked, refused atomic.Int64
	var mu sync.Mutex
	var odd []string
	// Each client retries its event until it is acknowledged, as PostHog
	// does, and the outage comes and goes in the middle.
	jobs, wait := pool(8, func(i int) {
		for {
			status, retry := postOnce(i)
			if status == 200 {
				acked.Add(1)
				return
			}
			if status == 503 && retry != "" {
				refused.Add(1)
			} else {
				mu.Lock()
				odd = append(odd, fmt.Sprintf("out-%d: %d %q", i, status, retry))
				mu.Unlock()
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	for i := range n {
		if i == n/3 {
			breakIt(px)
			// While cut: not ready, and new events are refused with 503.
			proctest.Eventually(t, "readyz fails while the database is away", 15*time.Second, func() error {
				resp, err := http.Get(rep.URL + "/readyz")
				if err != nil {
					return err
				}
				resp.Body.Close()
				if resp.StatusCode != 503 {
					return fmt.Errorf("readyz %d", resp.StatusCode)
				}
				return nil
			})
			proctest.Eventually(t, "ingest refused with 503 + Retry-After", 15*time.Second, func() error {
				if refused.Load() == 0 {
					return fmt.Errorf("no 503 yet")
				}
				return nil
			})
			time.Sleep(time.Second)
			px.restore()
		}
		jobs <- i
	}
	close(jobs)
	wait()
	if len(odd) > 0 {
		t.Errorf("answers other than 200 or 503 + Retry-After: %v", odd[:min(5, len(odd))])
	}
	t.Logf("%d acknowledged, %d refused with 503 during the outage", acked.Load(), refused.Load())

	proctest.Eventually(t, "every event stored once and mirrored", 30*time.Second, func() error {
		lines, _ := readFileLines(file)
		var st struct {
			Events int64 `json:"events"`
		}
		if r, err := http.Get(rep.URL + "/api/stats"); err == nil {
			json.NewDecoder(r.Body).Decode(&st)
			r.Body.Close()
		}
		if st.Events != n || lines != n {
			return fmt.Errorf("%d events stored, %d lines (want %d each)", st.Events, lines, n)
		}
		return nil
	})
	eachOnce(t, idCounts(t, file), numbered("out", n, 1))
}

// TestMirrorWriterLosesItsLock kills the database session that holds the
// training file's writer lock (as idle_session_timeout or an operator's
// pg_terminate_backend would) while the replica itself lives on and two
// replicas take load. Another replica takes over; the old writer must stop
// appending before it does, so the file still holds each example once.
func TestMirrorWriterLosesItsLock(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two replicas")
	}
	dbURL := pgtest.URL(t)
	db := openPG(t, dbURL)
	dir := t.TempDir()
	file := filepath.Join(dir, "training_data.jsonl")
	reps := []*child{
		startChild(t, filepath.Join(dir, "data0"), file, "DATABASE_URL="+dbURL),
		startChild(t, filepath.Join(dir, "data1"), file, "DATABASE_URL="+dbURL),
	}
	client := &http.Client{Timeout: 10 * time.Second}
	var next, acked atomic.Int64
	// Each event is retried until acknowledged, even after stop.
	stop := underLoad(8, func(_ context.Context, w, _ int) {
		i := next.Add(1)
		body := fmt.Sprintf(`{"event":{"uuid":"lock-%d","event":"generation_failed","properties":{"input_prompt":"lock %d"}}}`, i, i)
		for {
			resp, err := client.Post(reps[w%2].URL+"/api/webhooks/generation-failed", "application/json", strings.NewReader(body))
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					acked.Add(1)
					return
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	killed := 0
	for range 4 {
		time.Sleep(1500 * time.Millisecond)
		res, err := db.Exec(`SELECT pg_terminate_backend(pid) FROM pg_locks
			WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
			  AND ((classid::bigint << 32) | objid::bigint) = $1`, sqlstore.MirrorLockKey(schemaOf(t, dbURL)))
		if err != nil {
			t.Fatal(err)
		}
		n, _ := res.RowsAffected()
		killed += int(n)
	}
	if killed == 0 {
		t.Fatal("never found the session holding the training file's writer lock")
	}
	time.Sleep(time.Second)
	stop()
	proctest.Eventually(t, "the file catches up", 30*time.Second, func() error {
		lines, _ := readFileLines(file)
		if int64(lines) < acked.Load() {
			return fmt.Errorf("%d lines, %d acknowledged", lines, acked.Load())
		}
		return nil
	})
	time.Sleep(500 * time.Millisecond) // a late duplicate would land now
	seen := idCounts(t, file)
	dups := 0
	for id, k := range seen {
		if k != 1 {
			dups++
			if dups <= 5 {
				t.Errorf("%s is in the training file %d times", id, k)
			}
		}
	}
	if int64(len(seen)) != acked.Load() {
		t.Errorf("%d distinct examples in the file, %d events acknowledged", len(seen), acked.Load())
	}
	t.Logf("%d events acknowledged, %d writer sessions terminated, %d duplicated lines", acked.Load(), killed, dups)
}

// tcpProxy forwards connections to a target until cut, which closes every
// connection and refuses new ones until restore.
type tcpProxy struct {
	addr    string
	target  string
	mu      sync.Mutex
	down    bool
	stalled atomic.Bool
	conns   map[net.Conn]bool
}

func startTCPProxy(t *testing.T, target string) *tcpProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{addr: l.Addr().String(), target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { l.Close(); p.cut() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			down := p.down
			if !down {
				p.conns[c] = true
			}
			p.mu.Unlock()
			if down {
				c.Close()
				continue
			}
			go p.pipe(c)
		}
	}()
	return p
}

func (p *tcpProxy) pipe(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[up] = true
	p.mu.Unlock()
	go func() { p.copy(up, c); up.Close() }()
	p.copy(c, up)
	c.Close()
}

// copy forwards bytes, dropping them while the proxy is stalled.
func (p *tcpProxy) copy(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.stalled.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// stall stops forwarding without closing anything.
func (p *tcpProxy) stall() { p.stalled.Store(true) }

func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]bool{}
}

// restore lets connections through again. Those open during a stall
// lost bytes, so they are closed: the client reconnects.
func (p *tcpProxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stalled.Swap(false) {
		for c := range p.conns {
			c.Close()
		}
		p.conns = map[net.Conn]bool{}
	}
	p.down = false
}

// schemaOf is the schema a pgtest URL puts the store in.
func schemaOf(t *testing.T, dbURL string) string {
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	s := u.Query().Get("search_path")
	if s == "" {
		t.Fatalf("no search_path in %s", dbURL)
	}
	return s
}
