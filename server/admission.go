package server

import (
	"bytes"
	"container/list"
	"context"
	"errors"
	"hash/maphash"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"
	"golang.org/x/time/rate"

	"github.com/hogpipe/hogpipe"
	"github.com/hogpipe/hogpipe/posthog"
)

// Admission, in the order a request meets it (protect):
//
//  1. /healthz, /readyz and /metrics pass untouched: the operator and the
//     load balancer must see the truth while hogpipe is under attack.
//  2. The per-client rate limit (token bucket per client key).
//  3. The per-client concurrency limit: one client cannot hold more than
//     MaxPerClient requests at once, however slowly it sends them.
//  4. The body is read, its bytes reserved from the in-flight memory
//     budget as they arrive (a slow upload holds what it sent, not its
//     Content-Length).
//  5. Only then a slot of the global in-flight cap: a slow body never holds
//     one, so the cap measures work, not idle connections.
//
// Local requests (isLocal) skip 2 and 3: benchmarks and the operator's own
// tools.

// exemptPaths are never limited.
var exemptPaths = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// Reasons for shedding a request, logged at debug level only: under a flood
// a log line per refusal would amplify the attack. Metrics count them.
const (
	reasonRateLimited  = hogpipe.ERateLimited
	reasonOverloaded   = hogpipe.EOverloaded
	reasonPerClient    = hogpipe.EClientConcurrency
	reasonMemoryBudget = hogpipe.EMemoryBudget
	// reasonEventsRefused is not an error code: the batch was answered
	// 200 with some events listed as rejected.
	reasonEventsRefused = "events_rejected"
)

func quietReason(r string) bool {
	switch r {
	case reasonRateLimited, reasonOverloaded, reasonPerClient, reasonMemoryBudget:
		return true
	}
	return false
}

// errMemoryBudget is returned when the in-flight memory budget stays full
// for longer than budgetWait: the server is busy, the client should retry.
var errMemoryBudget = &hogpipe.Error{Code: hogpipe.EUnavailable,
	Message: "server is at its memory limit for requests in flight (--max-request-memory); retry"}

// errClientMemory is returned when one client's bodies in flight would hold
// more than its share of the budget (memBudget.perClient).
var errClientMemory = &hogpipe.Error{Code: hogpipe.EUnavailable,
	Message: "this client's uploads in flight hold its whole share of --max-request-memory; wait for answers before sending more"}

// budgetWait is how long a request waits for room in the memory budget
// before it is answered 503: long enough to ride out a burst of large
// batches, short against PostHog's few-second request timeout.
const budgetWait = 2 * time.Second

// memBudget bounds the bytes held by requests in flight (bodies as read,
// decompressed payloads, decoded values as estimated by the capture
// decoder) with a weighted semaphore: unlike a count of requests, it holds
// whether requests are 100 bytes or 1 MiB.
type memBudget struct {
	sem  *semaphore.Weighted
	size int64
	wait time.Duration
	// perClient bounds the body bytes one client (by client key) holds at
	// once: without it, a few clients' uploads stalled just short of
	// their end held the whole budget for the read timeout, and every
	// other request waited, then got 503. 0: no per-client share.
	perClient int64
	mu        sync.Mutex
	clients   map[string]int64
}

func newMemBudget(size int64) *memBudget {
	if size <= 0 {
		return nil
	}
	return &memBudget{sem: semaphore.NewWeighted(size), size: size, wait: budgetWait, clients: map[string]int64{}}
}

// reservation is one request's share of the budget; a nil one reserves
// nothing and always succeeds.
type reservation struct {
	b    *memBudget
	ctx  context.Context
	held int64
	// key is the client the body bytes count against ("" for requests
	// exempt from the per-client limits); body is how many they hold.
	key  string
	body int64
}

func (b *memBudget) start(ctx context.Context, key string) *reservation {
	if b == nil {
		return nil
	}
	return &reservation{b: b, ctx: ctx, key: key}
}

// reserveBody takes n more bytes of body, within the client's share.
func (r *reservation) reserveBody(n int64) error {
	if r == nil || n <= 0 {
		return nil
	}
	if r.key == "" || r.b.perClient <= 0 {
		return r.reserve(n)
	}
	r.b.mu.Lock()
	if r.b.clients[r.key]+n > r.b.perClient {
		r.b.mu.Unlock()
		return errClientMemory
	}
	r.b.clients[r.key] += n
	r.b.mu.Unlock()
	if err := r.reserve(n); err != nil {
		r.b.unclaim(r.key, n)
		return err
	}
	r.body += n
	return nil
}

func (b *memBudget) unclaim(key string, n int64) {
	b.mu.Lock()
	if b.clients[key] -= n; b.clients[key] <= 0 {
		delete(b.clients, key)
	}
	b.mu.Unlock()
}

// reserve takes n more bytes, waiting up to budgetWait for room.
func (r *reservation) reserve(n int64) error {
	if r == nil || n <= 0 {
		return nil
	}
	if r.held+n > r.b.size {
		return hogpipe.Errorf(hogpipe.ETooLarge, "request needs more memory than the whole in-flight budget (%d bytes, --max-request-memory)", r.b.size)
	}
	if !r.b.sem.TryAcquire(n) {
		ctx, cancel := context.WithTimeout(r.ctx, r.b.wait)
		err := r.b.sem.Acquire(ctx, n)
		cancel()
		if err != nil {
			return errMemoryBudget
		}
	}
	r.held += n
	return nil
}

func (r *reservation) release() {
	if r != nil && r.body > 0 {
		r.b.unclaim(r.key, r.body)
		r.body = 0
	}
	if r != nil && r.held > 0 {
		r.b.sem.Release(r.held)
		r.held = 0
	}
}

// prereadBody is a request body protect has read already, with the
// request's budget reservation (handlers reserve more on it).
type prereadBody struct {
	body []byte
	buf  *[]byte // pooled; nil once returned
	res  *reservation
}

// free returns the buffer to the pool; the body must not be used after.
func (p *prereadBody) free() {
	if p.buf != nil {
		if cap(*p.buf) <= 4<<20 { // don't keep a huge buffer forever
			*p.buf = (*p.buf)[:0]
			bodyPool.Put(p.buf)
		}
		p.buf, p.body = nil, nil
	}
}

var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, bodyChunk); return &b }}

// bodyChunk is the most a body read asks for at a time, and so the most a
// request holds beyond the bytes it has sent.
const bodyChunk = 64 << 10

// reserveFor returns the request's reservation (nil when protect did not
// run or there is no budget).
func reserveFor(r *http.Request) *reservation {
	if p := preread(r); p != nil {
		return p.res
	}
	return nil
}

// preread is what protect read of r's body, if it did. It rides on the
// request's reqInfo rather than a new context: a copy of the request would
// hide the route pattern the mux records from the logging middleware.
func preread(r *http.Request) *prereadBody {
	if ri, ok := r.Context().Value(ctxKey{}).(*reqInfo); ok {
		return ri.body
	}
	return nil
}

// readAllBudgeted reads at most limit bytes of body, reserving them from
// res as they arrive, in steps of at most bodyChunk.
// check, when set, sees the body so far after every read, and its error
// stops the read.
func readAllBudgeted(w http.ResponseWriter, r *http.Request, limit int64, res *reservation, check func([]byte) error) (*[]byte, error) {
	if r.ContentLength > limit {
		return nil, hogpipe.Errorf(hogpipe.ETooLarge, "body larger than %d bytes", limit)
	}
	bp := bodyPool.Get().(*[]byte)
	buf := (*bp)[:0]
	body := http.MaxBytesReader(w, r.Body, limit)
	var reserved int64
	fail := func(err error) (*[]byte, error) {
		*bp = buf[:0]
		bodyPool.Put(bp)
		return nil, err
	}
	for {
		if len(buf) == cap(buf) {
			grow := min(max(cap(buf), bodyChunk), int(limit)+1-cap(buf))
			if r.ContentLength > 0 && int64(cap(buf)) < r.ContentLength+1 {
				grow = min(grow, int(r.ContentLength)+1-cap(buf))
			}
			buf = slices.Grow(buf, max(grow, 1))
		}
		step := min(cap(buf)-len(buf), bodyChunk)
		if r.ContentLength > 0 {
			// A 1 KiB body reserves 1 KiB, not a whole chunk (+1 to see EOF).
			step = max(1, min(step, int(r.ContentLength)+1-len(buf)))
		}
		if need := int64(len(buf)+step) - reserved; need > 0 {
			if err := res.reserveBody(need); err != nil {
				return fail(err)
			}
			reserved += need
		}
		n, err := body.Read(buf[len(buf) : len(buf)+step])
		buf = buf[:len(buf)+n]
		if check != nil && n > 0 {
			if cerr := check(buf); cerr != nil {
				return fail(cerr)
			}
		}
		if err == io.EOF {
			*bp = buf
			return bp, nil
		}
		if err != nil {
			var mbe *http.MaxBytesError
			switch {
			case errors.As(err, &mbe):
				return fail(hogpipe.Errorf(hogpipe.ETooLarge, "body larger than %d bytes", limit))
			case errors.Is(err, io.ErrUnexpectedEOF):
				return fail(hogpipe.Errorf(hogpipe.EMalformed, "body ended early"))
			}
			return fail(hogpipe.Errorf(hogpipe.EMalformed, "cannot read body: %v", err))
		}
	}
}

// clientSlots counts each client's requests in flight.
type clientSlots struct {
	max    int
	seed   maphash.Seed
	shards [16]struct {
		mu sync.Mutex
		n  map[string]int
	}
}

func newClientSlots(max int) *clientSlots {
	if max <= 0 {
		return nil
	}
	c := &clientSlots{max: max, seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].n = map[string]int{}
	}
	return c
}

func (c *clientSlots) acquire(key string) bool {
	sh := &c.shards[maphash.String(c.seed, key)%uint64(len(c.shards))]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.n[key] >= c.max {
		return false
	}
	sh.n[key]++
	return true
}

func (c *clientSlots) release(key string) {
	sh := &c.shards[maphash.String(c.seed, key)%uint64(len(c.shards))]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.n[key] <= 1 {
		delete(sh.n, key) // the map holds only clients with requests in flight
	} else {
		sh.n[key]--
	}
}

// clientKey names the client a limit applies to: its IPv4 address, or its
// IPv6 address cut to v6Prefix bits. One IPv6 subscriber is routinely given
// a whole /64 (or /56, /48) and can rotate through it at will; keyed by full
// address, every request could bring a fresh bucket.
func clientKey(ip string, v6Prefix int) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is4() || v6Prefix <= 0 || v6Prefix >= 128 {
		return a.WithZone("").String()
	}
	p, err := a.WithZone("").Prefix(v6Prefix)
	if err != nil {
		return a.String()
	}
	return p.String()
}

// limiter hands out a token bucket per client key. The bucket map is
// bounded (least recently used buckets are evicted when full) and swept a
// little on every call, in shards, so no request ever walks the whole map
// under one lock.
type limiter struct {
	rate   rate.Limit
	burst  int
	idle   time.Duration // a bucket idle this long is full again: forgetting it changes nothing
	seed   maphash.Seed
	shards [limiterShards]limiterShard
}

const limiterShards = 16

type limiterShard struct {
	mu  sync.Mutex
	m   map[string]*list.Element
	lru list.List // of *bucket, most recently used first
	max int
}

type bucket struct {
	key  string
	lim  *rate.Limiter
	seen time.Time
}

func newLimiter(perSecond float64, burst, maxClients int) *limiter {
	if burst < 1 {
		burst = max(1, int(perSecond*2))
	}
	if maxClients <= 0 {
		maxClients = 100_000
	}
	l := &limiter{rate: rate.Limit(perSecond), burst: burst, seed: maphash.MakeSeed(),
		idle: max(time.Second, time.Duration(float64(burst)/perSecond*float64(time.Second)))}
	for i := range l.shards {
		l.shards[i].m = map[string]*list.Element{}
		l.shards[i].max = max(1, maxClients/limiterShards)
	}
	return l
}

// allow takes a token for key, or says how long until one is free.
func (l *limiter) allow(key string, now time.Time) (bool, time.Duration) {
	sh := &l.shards[maphash.String(l.seed, key)%limiterShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	// Incremental sweep: the oldest two, if idle, go.
	for range 2 {
		e := sh.lru.Back()
		if e == nil || now.Sub(e.Value.(*bucket).seen) < l.idle {
			break
		}
		delete(sh.m, e.Value.(*bucket).key)
		sh.lru.Remove(e)
	}
	var b *bucket
	if e := sh.m[key]; e != nil {
		b = e.Value.(*bucket)
		sh.lru.MoveToFront(e)
	} else {
		if sh.lru.Len() >= sh.max {
			old := sh.lru.Back()
			delete(sh.m, old.Value.(*bucket).key)
			sh.lru.Remove(old)
		}
		b = &bucket{key: key, lim: rate.NewLimiter(l.rate, l.burst)}
		sh.m[key] = sh.lru.PushFront(b)
	}
	b.seen = now
	res := b.lim.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d
	}
	return true, 0
}

// len is the number of buckets held, for tests.
func (l *limiter) len() int {
	n := 0
	for i := range l.shards {
		l.shards[i].mu.Lock()
		n += l.shards[i].lru.Len()
		l.shards[i].mu.Unlock()
	}
	return n
}

// protect applies admission (see the top of this file).
func (s *Server) protect(next http.Handler) http.Handler {
	sec := s.cfg.Security
	var lim *limiter
	if sec.RatePerClient > 0 {
		lim = newLimiter(sec.RatePerClient, sec.RateBurst, sec.RateClients)
	}
	var slots chan struct{}
	if sec.MaxInFlight > 0 {
		slots = make(chan struct{}, sec.MaxInFlight)
	}
	perClient := newClientSlots(sec.MaxPerClient)
	budget := newMemBudget(sec.MaxRequestMemory)
	if budget != nil && perClient != nil {
		// An eighth of the budget, but room for two whole bodies.
		budget.perClient = min(budget.size, max(budget.size/8, 2*s.cfg.MaxBodyBytes))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if exemptPaths[r.URL.Path] {
			next.ServeHTTP(w, r)
			return
		}
		var key string // the client, for the per-client limits; "" if exempt
		if !s.local(r) && (lim != nil || perClient != nil) {
			key = clientKey(clientIP(r, sec.TrustedProxies), sec.IPv6Prefix)
			if lim != nil {
				if ok, wait := lim.allow(key, time.Now()); !ok {
					s.routeOf(r)
					closeUnread(w)
					w.Header().Set("Retry-After", strconv.Itoa(int(wait/time.Second)+1))
					setRejectReason(r, reasonRateLimited)
					writeCode(w, hogpipe.ERateLimited, "too many requests from this client; slow down")
					return
				}
			}
			if perClient != nil {
				if !perClient.acquire(key) {
					s.routeOf(r)
					closeUnread(w)
					w.Header().Set("Retry-After", retryAfterSeconds)
					setRejectReason(r, reasonPerClient)
					writeCode(w, hogpipe.EClientConcurrency,
						"too many concurrent requests from this client (--max-per-client); wait for answers before sending more")
					return
				}
				defer perClient.release(key)
			}
		}
		if err := s.precheck(r); err != nil {
			// Decided on the headers: the body is not worth reading.
			s.routeOf(r)
			closeUnread(w)
			writeError(w, r, s.log, err)
			return
		}
		if perClient == nil {
			key = ""
		}
		res := budget.start(r.Context(), key)
		defer res.release()
		if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
			bp, err := readAllBudgeted(w, r, s.cfg.MaxBodyBytes, res, s.bodyCheck(r))
			if err != nil {
				s.routeOf(r)
				closeUnread(w)
				if errors.Is(err, errMemoryBudget) {
					s.shedMemory(w, r)
					return
				}
				if errors.Is(err, errClientMemory) {
					w.Header().Set("Retry-After", retryAfterSeconds)
					setRejectReason(r, reasonPerClient)
					writeCode(w, hogpipe.EClientConcurrency, errClientMemory.Message)
					return
				}
				writeError(w, r, s.log, err)
				return
			}
			pb := &prereadBody{body: *bp, buf: bp, res: res}
			defer pb.free()
			setPreread(r, pb)
			r.Body = io.NopCloser(bytes.NewReader(pb.body))
		} else if res != nil {
			setPreread(r, &prereadBody{res: res})
		}
		if slots != nil {
			select {
			case slots <- struct{}{}:
				defer func() { <-slots }()
			default:
				s.routeOf(r)
				w.Header().Set("Retry-After", retryAfterSeconds)
				setRejectReason(r, reasonOverloaded)
				writeCode(w, hogpipe.EOverloaded, "server is at its concurrent request limit; retry")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// routeOf records the route of a request refused before routing, so the
// metrics count it under its route, not as unmatched.
func (s *Server) routeOf(r *http.Request) {
	if r.Pattern == "" && s.mux != nil {
		_, r.Pattern = s.mux.Handler(r)
	}
}

// closeUnread marks an answer given before the body was read: the
// connection closes after it. Otherwise net/http would first read up to
// 256 KiB of the unread body to keep the connection, and a client sending
// one byte at a time would hold the answer (and the connection) until the
// read timeout.
func closeUnread(w http.ResponseWriter) {
	w.Header().Set("Connection", "close")
}

func setPreread(r *http.Request, p *prereadBody) {
	if ri, ok := r.Context().Value(ctxKey{}).(*reqInfo); ok {
		ri.body = p
	}
}

// precheck refuses, on its headers alone, a webhook delivery that cannot
// be authorized whatever its body: no credential, a wrong shared secret, or
// no authentication configured and not local. Only a signature needs the
// body; such requests pass here and are verified once it is read.
func (s *Server) precheck(r *http.Request) error {
	if r.Method != http.MethodPost || !strings.HasPrefix(r.URL.Path, "/api/webhooks/") {
		return nil
	}
	if strings.TrimSuffix(r.URL.Path, "/") == mailgunWebhookPath {
		return nil // Mailgun signs its body, and sends none of PostHog's credentials
	}
	if s.cfg.Security.SigningKey != nil && r.Header.Get("webhook-signature") != "" {
		return nil
	}
	return s.authorizeWebhook(r, nil)
}

// bodyCheck is what a request's body is held to while it arrives: capture
// bodies are refused at the first byte that breaks a limit (too many
// events or values, an unknown token, too deep), not after a megabyte.
func (s *Server) bodyCheck(r *http.Request) func([]byte) error {
	if r.Method != http.MethodPost || !isCapturePath(r.URL.Path) {
		return nil
	}
	return posthog.NewBodyCheck(posthog.CaptureLimits{MaxEvents: s.cfg.MaxEvents, MaxValues: s.cfg.MaxValues, KnownToken: s.knownToken}).Check
}

func isCapturePath(p string) bool {
	p = strings.TrimSuffix(p, "/")
	for _, c := range capturePaths {
		if p == c {
			return true
		}
	}
	return false
}

// shedMemory answers a request the memory budget had no room for.
func (s *Server) shedMemory(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Retry-After", retryAfterSeconds)
	setRejectReason(r, reasonMemoryBudget)
	writeCode(w, hogpipe.EMemoryBudget, errMemoryBudget.Message)
}
