package sqlstore

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/hogpipe/hogpipe/server"
)

// The ingest oracle: whatever body arrives on whatever ingest route, the
// real HTTP handler over a real store must keep hogpipe's first promise.
//   - A 2xx carries a non-empty id for every event it acknowledges, each
//     id is readable at GET /api/events/{id}, and the store holds exactly
//     as many more events as the answer calls new.
//   - Anything else stored nothing (events, examples, persons, emails).
//   - No input gets a 5xx from a healthy store: a 5xx here means a value
//     got in that the store cannot hold or read back.
//   - No person, stored or copied into an event, is past MaxPersonBytes.
//   - After every input, every export format (plain, deduplicated, split)
//     and the stats still answer 200 with whole, parseable lines.
// FuzzIngestOracle drives it with arbitrary bodies over SQLite;
// TestIngestOracleHostileValues with a table of hostile values over both
// databases.

const oracleToken = "phc_hogpipe_local"

// oracleRoutes are the ingest routes and how each sends a body.
var oracleRoutes = []struct {
	name string
	path string
	// encode turns the JSON body into what goes on the wire, and its
	// Content-Type.
	encode func([]byte) ([]byte, string)
}{
	{"webhook", "/api/webhooks/posthog", plain},
	{"webhook generation-failed", "/api/webhooks/generation-failed", plain},
	{"webhook feature-used", "/api/webhooks/feature-used", plain},
	{"capture /e/", "/e/", plain},
	{"capture /batch/", "/batch/", plain},
	{"capture /i/v0/e/ gzip", "/i/v0/e/?compression=gzip-js", gzipped},
	{"capture /e/ base64 form", "/e/?compression=base64", base64Form},
	{"capture /capture", "/capture", plain},
}

func plain(b []byte) ([]byte, string) { return b, "application/json" }

func gzipped(b []byte) ([]byte, string) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes(), "text/plain"
}

func base64Form(b []byte) ([]byte, string) {
	return []byte("data=" + url.QueryEscape(base64.StdEncoding.EncodeToString(b))), "application/x-www-form-urlencoded"
}

type oracle struct {
	s *Store
	h http.Handler
}

func newOracle(s *Store) *oracle {
	if !s.Postgres() {
		// The oracle is about what is stored, not about surviving power
		// cuts: skipping SQLite's fsync keeps an input cheap. (The writer
		// is one connection, so the pragma holds for the committer.)
		if _, err := s.w.Exec(`PRAGMA synchronous = OFF`); err != nil {
			panic(err)
		}
	}
	srv := server.New(server.Config{CaptureTokens: []string{oracleToken}, MaxBodyBytes: 1 << 20},
		server.Deps{Store: s, Log: slog.New(slog.DiscardHandler)})
	return &oracle{s: s, h: srv.Handler()}
}

// do sends a request as a local client (no credentials needed for
// webhooks or the read API).
func (o *oracle) do(method, target, contentType string, body []byte) *httptest.ResponseRecorder {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req := httptest.NewRequest(method, target, r)
	req.RemoteAddr = "127.0.0.1:40000"
	req.Host = "127.0.0.1:3000"
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	w := httptest.NewRecorder()
	o.h.ServeHTTP(w, req)
	return w
}

type tally struct {
	events, examples, persons, emails int64
	// people is every person's properties: a refused request must not
	// change an existing person either.
	people string
}

func (o *oracle) tally(t testing.TB) tally {
	t.Helper()
	var c tally
	for _, q := range []struct {
		dst   *int64
		table string
	}{{&c.events, "events"}, {&c.examples, "training_examples"}, {&c.persons, "persons"}, {&c.emails, "emails"}} {
		if err := o.s.r.QueryRowContext(context.Background(), `SELECT count(*) FROM `+q.table).Scan(q.dst); err != nil {
			t.Fatalf("count %s: %v", q.table, err)
		}
	}
	rows, err := o.s.r.QueryContext(context.Background(), `SELECT distinct_id, properties FROM persons ORDER BY distinct_id`)
	if err != nil {
		t.Fatalf("read persons: %v", err)
	}
	defer rows.Close()
	var people strings.Builder
	for rows.Next() {
		var id, props string
		if err := rows.Scan(&id, &props); err != nil {
			t.Fatalf("read persons: %v", err)
		}
		fmt.Fprintf(&people, "%q=%s\n", id, props)
	}
	c.people = people.String()
	return c
}

// reset empties the store, so each input is checked on its own and a
// failure reproduces from that input alone.
func (o *oracle) reset(t testing.TB) {
	t.Helper()
	tx, err := o.s.w.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	for _, table := range []string{"emails", "training_examples", "events", "persons", "event_counts", "event_minutes", "mirror_state"} {
		if _, err := tx.Exec(`DELETE FROM ` + table); err != nil {
			t.Fatalf("reset %s: %v", table, err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// ingestResult is the union of the webhook and capture answers.
type ingestResult struct {
	Status    string `json:"status"`
	ID        string `json:"id"`
	Duplicate *bool  `json:"duplicate"`
	Events    []struct {
		ID        string `json:"id"`
		Duplicate bool   `json:"duplicate"`
	} `json:"events"`
	Rejected []struct {
		Index int    `json:"index"`
		Error string `json:"error"`
	} `json:"rejected"`
	Code  string `json:"code"`
	Error string `json:"error"`
}

// sentEvents is how many events a JSON body holds as a reader of the JSON
// sees it: the items of a capture envelope's batch or of an array, else
// one; -1 when the body is not JSON (the route may still read a form).
func sentEvents(body []byte, capture bool) int {
	var v any
	if json.Unmarshal(body, &v) != nil {
		return -1
	}
	switch v := v.(type) {
	case []any:
		return len(v)
	case map[string]any:
		if b, ok := v["batch"].([]any); ok && capture {
			return len(b)
		}
	}
	return 1
}

// check sends body on route and asserts the oracle's properties.
func (o *oracle) check(t testing.TB, route int, body []byte) {
	t.Helper()
	o.checkIngest(t, route, body)
	o.checkPersonBound(t)
	o.checkReads(t, o.tally(t).examples)
}

// checkIngest asserts what check does about the answer and the store,
// without the reads.
func (o *oracle) checkIngest(t testing.TB, route int, body []byte) {
	t.Helper()
	rt := oracleRoutes[route%len(oracleRoutes)]
	before := o.tally(t)
	wire, ct := rt.encode(body)
	w := o.do("POST", rt.path, ct, wire)
	after := o.tally(t)
	var res ingestResult
	if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil {
		t.Fatalf("%s: %d answer is not JSON: %v: %q", rt.name, w.Code, err, w.Body.String())
	}
	switch {
	case w.Code >= 500:
		t.Fatalf("%s: %d from a healthy store: %s\nbody: %q", rt.name, w.Code, w.Body.String(), body)
	case w.Code >= 200 && w.Code < 300:
		type result struct {
			id  string
			dup bool
		}
		var results []result
		for _, e := range res.Events {
			results = append(results, result{e.ID, e.Duplicate})
		}
		if res.Events == nil && res.Duplicate != nil {
			results = append(results, result{res.ID, *res.Duplicate})
		}
		if len(results) == 0 {
			t.Fatalf("%s: %d acknowledges no event: %s\nbody: %q", rt.name, w.Code, w.Body.String(), body)
		}
		var fresh int64
		for i, r := range results {
			if r.id == "" {
				t.Fatalf("%s: %d with an empty id (result %d): %s\nbody: %q", rt.name, w.Code, i, w.Body.String(), body)
			}
			if !r.dup {
				fresh++
			}
			g := o.do("GET", "/api/events/"+url.PathEscape(r.id), "", nil)
			if g.Code != http.StatusOK {
				t.Fatalf("%s: acknowledged id %q: GET /api/events/{id} = %d %s\nbody: %q", rt.name, r.id, g.Code, g.Body.String(), body)
			}
			var out struct {
				Event struct {
					ID string `json:"id"`
				} `json:"event"`
			}
			if err := json.Unmarshal(g.Body.Bytes(), &out); err != nil || out.Event.ID != r.id {
				t.Fatalf("%s: GET /api/events/%s answered %q (%v)", rt.name, r.id, g.Body.String(), err)
			}
		}
		// Every event sent is accounted for: acknowledged, or listed as
		// rejected (capture stores a batch's good events, as PostHog does),
		// each index once. Nothing may vanish from a 2xx unmentioned.
		seen := map[int]bool{}
		for _, r := range res.Rejected {
			if seen[r.Index] || r.Index < 0 || r.Error == "" {
				t.Fatalf("%s: rejected list %+v repeats an index or gives no reason\nbody: %q", rt.name, res.Rejected, body)
			}
			seen[r.Index] = true
		}
		if n := sentEvents(body, strings.HasPrefix(rt.name, "capture")); n >= 0 && len(results)+len(res.Rejected) != n {
			t.Fatalf("%s: %d events sent, %d acknowledged and %d rejected: %s\nbody: %q",
				rt.name, n, len(results), len(res.Rejected), w.Body.String(), body)
		}
		if after.events-before.events != fresh {
			t.Fatalf("%s: answer calls %d events new, store gained %d: %s\nbody: %q", rt.name, fresh, after.events-before.events, w.Body.String(), body)
		}
	default:
		if res.Code == "" || res.Error == "" {
			t.Fatalf("%s: %d without a JSON error: %q", rt.name, w.Code, w.Body.String())
		}
		if after != before {
			t.Fatalf("%s: %d (%s) but the store changed: %+v → %+v\nbody: %q", rt.name, w.Code, res.Error, before, after, body)
		}
	}
}

// checkReads asserts every export and the stats answer 200 with whole
// lines, and that no export stops short.
func (o *oracle) checkReads(t testing.TB, examples int64) {
	t.Helper()
	for _, format := range []string{"v1", "original", "classification"} {
		lines := o.exportLines(t, "/api/training-data?format="+format)
		if int64(len(lines)) != examples {
			t.Fatalf("export %s: %d lines for %d examples", format, len(lines), examples)
		}
		var sum int64
		for _, l := range o.exportLines(t, "/api/training-data?dedupe-content=true&format="+format) {
			n, _ := l["count"].(json.Number).Int64()
			if n < 1 {
				t.Fatalf("export %s, deduplicated: line without a count: %v", format, l)
			}
			sum += n
		}
		if sum != examples {
			t.Fatalf("export %s, deduplicated: counts add up to %d for %d examples", format, sum, examples)
		}
	}
	split := len(o.exportLines(t, "/api/training-data?split=0.5&part=train")) +
		len(o.exportLines(t, "/api/training-data?split=0.5&part=validation"))
	if int64(split) != examples {
		t.Fatalf("split export: %d lines for %d examples", split, examples)
	}
	for _, path := range []string{"/api/training-stats", "/api/stats", "/api/events?limit=5"} {
		if w := o.do("GET", path, "", nil); w.Code != http.StatusOK || !json.Valid(w.Body.Bytes()) {
			t.Fatalf("GET %s: %d %q", path, w.Code, w.Body.String())
		}
	}
}

func (o *oracle) exportLines(t testing.TB, path string) []map[string]any {
	t.Helper()
	w := o.do("GET", path, "", nil)
	if w.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %q", path, w.Code, w.Body.String())
	}
	var out []map[string]any
	sc := bufio.NewScanner(w.Body)
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil || dec.More() {
			t.Fatalf("GET %s: line does not parse (%v): %q", path, err, sc.Text())
		}
		out = append(out, m)
	}
	if !bytes.HasSuffix(w.Body.Bytes(), []byte("\n")) && w.Body.Len() > 0 {
		t.Fatalf("GET %s: export ends mid-line: %q", path, w.Body.String())
	}
	return out
}

// oracleSeeds are the bodies of issue #11 and their neighbours.
var oracleSeeds = []string{
	`{"api_key":"phc_hogpipe_local","batch":[{"event":"$identify","distinct_id":"v","$set":{"n":1e999}},{"event":"generation_failed","distinct_id":"v","properties":{"input_prompt":"hi"}}]}`,
	`{"api_key":"phc_hogpipe_local","batch":[{"event":"generation_failed","distinct_id":"a\u0000b","properties":{"input_prompt":"hi"}}]}`,
	`{"api_key":"phc_hogpipe_local","event":"$identify","distinct_id":"big","$set":{"account_id":12345678901234567891}}`,
	`{"api_key":"phc_hogpipe_local","batch":[{"uuid":"0190b0e6-0000-7000-8000-0000000000a1","event":"generation_failed","properties":{"distinct_id":"u","input_prompt":"line\u2028sep\u2029para \"q\" \\ <b>&","failure_reason":"Timeout","n":1e308,"big":-98765432109876543210}}]}`,
	`{"event":{"uuid":"0190b0e6-0000-7000-8000-000000000001","event":"generation_failed","distinct_id":"user-123","timestamp":"2026-11-28T12:00:00.000Z","properties":{"failure_reason":"timeout","input_prompt":"draw a cat"}},"person":{"properties":{"email":"user@example.com"}}}`,
	`{"event":"generation_failed","properties":{"input_prompt":"x\u0000y"}}`,
	`{"event":"feature_used","distinct_id":"p","properties":{"feature":"f","n":-1e999},"person":{"properties":{"email":"p@example.com"}}}`,
	`[{"event":"generation_failed","properties":{"input_prompt":"a","k\u0000":1}},{"event":"feature_used","properties":{}}]`,
	`{"token":"phc_hogpipe_local","event":"feature_used","properties":{"distinct_id":"q","$set":{"email":"q@example.com","id":9007199254740993}}}`,
	`[{"event":"generation_failed","properties":{"token":"phc_hogpipe_local","distinct_id":"s","input_prompt":"\ud800 lone","failure_reason":"\udfff"}}]`,
	`[{"event":{"uuid":"..","event":"x"}},{"event":{"uuid":"/","event":"x"}},{"event":{"uuid":".","event":"x"}}]`,
	`{"api_key":"phc_hogpipe_local","batch":[{"uuid":".","event":"x"},{"uuid":"a/../b","event":"y"},{"uuid":"..","event":"z"},{"uuid":"/","event":"x"}]}`,
}

// FuzzIngestOracle checks the oracle on arbitrary bodies over every ingest
// route, on SQLite. One store per fuzz worker, emptied before each input.
func FuzzIngestOracle(f *testing.F) {
	for i, s := range oracleSeeds {
		for r := range oracleRoutes {
			if (i+r)%2 == 0 || r < 4 {
				f.Add(uint8(r), []byte(s))
			}
		}
	}
	s, err := OpenSQLite(context.Background(), f.TempDir()+"/hogpipe.db", Options{Linger: -1})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	o := newOracle(s)
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		o.reset(t)
		o.check(t, int(route), body)
		// The same input again: a resend must not break anything either.
		o.check(t, int(route), body)
	})
}

// hostileValues are strings and numbers that have broken stores, JSON
// codecs and exports: each goes into every place an event carries values.
var hostileValues = []string{
	`"\u0000"`, `"a\u0000b"`, `"\u2028\u2029"`, `"\ud800"`, `"\udfff\ud800"`, `"\ud83d\ude00 emoji"`,
	`"\\u0000"`, `"\"\\/\b\f\n\r\t"`, `"\u001f\u007f\u0080\u00ff"`, `"<script>&amp;"`, `"\ufeff"`, `"\uffff"`,
	`1e999`, `-1e999`, `1e308`, `-1e308`, `1.7976931348623157e308`, `1.8e308`, `4.9e-324`, `1e-400`, `-0`, `0.1`,
	`1e-99999999999`, `0e99999999999`, `-0.0e-0`, `1E+308`, `0.1e-400`, `1e-20000`, `"\ufffe"`,
	`12345678901234567891`, `-98765432109876543210`, `9007199254740993`,
	`123456789012345678901234567890123456789012345678901234567890`,
	`[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]`,
	`{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":{"j":1e999}}}}}}}}}}`,
	`{"` + strings.Repeat("k", 5000) + `":1}`, `{"\u0000":1}`, `{"":""}`,
	`true`, `null`, `[]`, `{}`, "\"a\xffb\"", "\"\xed\xa0\x80\"", strings.Repeat("[", 40) + strings.Repeat("]", 40),
}

// hostileBodies are the places a value goes; %s is the value. The keys of
// the last ones take it as a string.
var hostileBodies = []struct {
	route int
	body  string
}{
	{3, `{"api_key":"phc_hogpipe_local","batch":[{"event":"$identify","distinct_id":"v","$set":{"n":%s}},{"event":"generation_failed","distinct_id":"v","properties":{"input_prompt":"hi"}}]}`},
	{4, `{"api_key":"phc_hogpipe_local","batch":[{"event":"generation_failed","distinct_id":"w","properties":{"input_prompt":"p","x":%s,"failure_reason":"r"}},{"event":"feature_used","distinct_id":"w","$set_once":{"y":%[1]s}}]}`},
	{5, `{"api_key":"phc_hogpipe_local","batch":[{"event":"generation_failed","properties":{"distinct_id":%s,"input_prompt":%[1]s,"failure_reason":%[1]s}}]}`},
	{6, `{"api_key":"phc_hogpipe_local","event":"feature_used","properties":{"distinct_id":"z","$set":{"email":"z@example.com","deep":[%s]}}}`},
	{0, `{"event":{"event":"generation_failed","distinct_id":"u","properties":{"input_prompt":"p","v":%s}},"person":{"properties":{"email":"u@example.com","w":%[1]s}}}`},
	{1, `{"event":"generation_failed","distinct_id":%s,"properties":{"input_prompt":%[1]s,"failure_reason":%[1]s}}`},
	{2, `[{"event":"feature_used","distinct_id":"f","properties":{"feature":%s},"person":{"properties":{"email":"f@example.com"}}},{"event":"feature_used","uuid":%[1]s}]`},
	{0, `{"event":%s,"properties":{}}`},
}

// TestIngestOracleHostileValues runs the oracle over a table of hostile
// values in every place, on SQLite and PostgreSQL, and then sends a value
// a later event must get along with: the person stored by a $set is read
// back by the next event of that user.
func TestIngestOracleHostileValues(t *testing.T) {
	backends(t, func(t *testing.T, open func(Options) *Store) {
		o := newOracle(open(Options{}))
		for _, v := range hostileValues {
			for _, b := range hostileBodies {
				body := fmt.Sprintf(b.body, v)
				o.reset(t)
				o.check(t, b.route, []byte(body))
				// The next event of the same people reads what was stored.
				o.checkIngest(t, 3, []byte(`{"api_key":"phc_hogpipe_local","batch":[`+
					`{"event":"generation_failed","distinct_id":"v","properties":{"input_prompt":"again"}},`+
					`{"event":"feature_used","distinct_id":"w","properties":{}},{"event":"feature_used","distinct_id":"z","properties":{}}]}`))
			}
		}
	})
}
