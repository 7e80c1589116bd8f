package server

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"
)

// ingestRoutes are the routes that store events.
var ingestRoutes = []string{"/api/webhooks/posthog", "/api/webhooks/feature-used", "/api/webhooks/generation-failed",
	"/e/", "/i/v0/e/", "/batch/", "/capture/"}

// FuzzHandlersNothingStoredOnRefusal: whatever the body, content type and
// route, with a healthy store the answer is either a 2xx whose ids are
// exactly the events stored, or a refusal with a JSON error body after
// which nothing was stored. (The seeds run with go test; go test -fuzz
// explores further.)
func FuzzHandlersNothingStoredOnRefusal(f *testing.F) {
	for _, s := range []struct {
		route       uint8
		contentType string
		body        []byte
	}{
		{0, "application/json", []byte(`{"event":"a"}`)},
		{0, "application/json", []byte(`[{"event":"a"},{"event":"b","uuid":"not-a-uuid"}]`)},
		{1, "application/json", []byte(`{"event":{"event":"feature_used","properties":{"feature":"x"}},"person":{"properties":{"email":"a@example.com"}}}`)},
		{2, "application/json", []byte(`{"event":"feature_used"}`)},
		{3, "text/plain", []byte(`{"api_key":"phc_test","batch":[{"event":"a","distinct_id":"d"},{"distinct_id":"d"}]}`)},
		{4, "application/x-www-form-urlencoded", []byte(`data=eyJhcGlfa2V5IjoicGhjX3Rlc3QiLCJldmVudCI6ImEiLCJkaXN0aW5jdF9pZCI6ImQifQ`)},
		{5, "", []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}},
		{6, "application/json", []byte(`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`)},
		{0, "application/json", []byte("{\"event\":\"a\u0000b\",\"properties\":{\"\\ud800\":1}}")},
		{3, "application/json", []byte(`{"api_key":"phc_test","event":"a","distinct_id":"d","timestamp":"9999-99-99"}`)},
		{3, "application/json", []byte(`{"api_key":"phc_test","event":"a","distinct_id":"d","properties":{"n":1e400}}`)},
		{0, "application/json", []byte(`null`)},
		{0, "application/json", []byte("\xff\xfe")},
	} {
		f.Add(s.route, s.contentType, s.body)
	}
	f.Fuzz(func(t *testing.T, route uint8, contentType string, body []byte) {
		st := &fakeStore{}
		srv := New(Config{CaptureTokens: []string{capToken}, MaxBodyBytes: 64 << 10, MaxEvents: 50},
			Deps{Store: st, Log: slog.New(slog.DiscardHandler)})
		path := ingestRoutes[int(route)%len(ingestRoutes)]
		req := httptest.NewRequest("POST", path, bytes.NewReader(body))
		req.RemoteAddr, req.Host = "127.0.0.1:40000", "127.0.0.1:3000"
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("X-Requested-With", "fuzz") // preflighted: the local webhook rule is not what is tested
		w := httptest.NewRecorder()
		srv.Handler().ServeHTTP(w, req)

		if w.Code >= 200 && w.Code < 300 {
			var ans struct {
				ID     string `json:"id"`
				Events []struct {
					ID string `json:"id"`
				} `json:"events"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &ans); err != nil {
				t.Fatalf("%s: 2xx body is not JSON: %v: %s", path, err, w.Body.String())
			}
			var ids []string
			if ans.ID != "" {
				ids = append(ids, ans.ID)
			}
			for _, e := range ans.Events {
				ids = append(ids, e.ID)
			}
			var stored []string
			for i, e := range st.ingested {
				id := e.UUID
				if id == "" {
					id = "fake-" + strconv.Itoa(i)
				}
				stored = append(stored, id)
			}
			if len(ids) == 0 || !slices.Equal(ids, stored) {
				t.Fatalf("%s: acknowledged ids %v, stored %v", path, ids, stored)
			}
			return
		}
		if got := st.writes(); len(got) != 0 {
			t.Fatalf("%s: answered %d but the store saw %v", path, w.Code, got)
		}
		var b errorBody
		if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil || b.Status != "error" || b.Code == "" || b.Error == "" {
			t.Fatalf("%s: %d with body %q: not a JSON error naming the problem", path, w.Code, w.Body.String())
		}
		if w.Code >= 500 {
			t.Fatalf("%s: %d for input with a healthy store: %s", path, w.Code, w.Body.String())
		}
	})
}
