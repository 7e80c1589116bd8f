package posthog

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hogpipe/hogpipe"
)

func gz(t testing.TB, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.Bytes()
}

const envelope = `{"api_key":"phc_x","batch":[
 {"uuid":"e1","event":"$identify","properties":{"distinct_id":"ada@example.com","$anon_distinct_id":"anon-1","token":"phc_x"},"$set":{"email":"ada@example.com"},"timestamp":"2026-11-28T11:59:59.000Z"},
 {"uuid":"e2","event":"feature_used","properties":{"distinct_id":"ada@example.com","feature":"export"},"timestamp":"2026-11-28T11:59:59.500Z"}
],"sent_at":"2026-11-28T12:00:00.000Z"}`

func TestDecodeCaptureEncodings(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString([]byte(envelope))
	tests := []struct {
		name        string
		body        []byte
		contentType string
		query       string
	}{
		{"plain JSON", []byte(envelope), "application/json", ""},
		{"gzip by magic, text/plain, no query (posthog-js 1.4xx)", gz(t, envelope), "text/plain", ""},
		{"gzip with compression=gzip-js", gz(t, envelope), "text/plain", "compression=gzip-js"},
		{"base64 form (sendBeacon)", []byte("data=" + url.QueryEscape(b64)), "application/x-www-form-urlencoded", "compression=base64"},
		{"base64 form without content type", []byte("data=" + url.QueryEscape(b64)), "", ""},
		{"bare base64", []byte(b64), "", ""},
		{"base64 of gzip", []byte("data=" + url.QueryEscape(base64.StdEncoding.EncodeToString(gz(t, envelope)))), "application/x-www-form-urlencoded", ""},
		// PostHog sniffs the body and ignores a compression parameter that
		// disagrees with it; posthog-js relies on that.
		{"compression=gzip-js but a base64 form", []byte("data=" + url.QueryEscape(b64)), "application/x-www-form-urlencoded", "compression=gzip-js"},
		{"compression=gzip-js but plain JSON", []byte(envelope), "text/plain", "compression=gzip-js"},
		{"compression=base64 but gzip", gz(t, envelope), "text/plain", "compression=base64"},
		{"form content type but JSON", []byte(envelope), "application/x-www-form-urlencoded", "compression=gzip"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, _ := url.ParseQuery(tt.query)
			b, err := DecodeCapture(CaptureRequest{Body: tt.body, ContentType: tt.contentType, Query: q, MaxBytes: 1 << 20, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			if b.Token != "phc_x" || len(b.Events) != 2 || len(b.Rejected) != 0 {
				t.Fatalf("token %q, %d events, rejected %v", b.Token, len(b.Events), b.Rejected)
			}
			id, fu := b.Events[0], b.Events[1]
			if id.Name != "$identify" || id.Set["email"] != "ada@example.com" || id.AnonDistinctID != "anon-1" || id.DistinctID != "ada@example.com" {
				t.Errorf("identify = %+v", id)
			}
			if fu.UUID != "e2" || fu.PropString("feature") != "export" || fu.Source != hogpipe.SourceCapture {
				t.Errorf("feature_used = %+v", fu)
			}
			// Clock skew: the client said it sent at 12:00:00 and the event
			// happened 0.5 s before; we received at `now`.
			if want := now.Add(-500 * time.Millisecond); !fu.Timestamp.Equal(want) {
				t.Errorf("timestamp %v, want %v", fu.Timestamp, want)
			}
		})
	}
}

func TestDecodeCaptureShapesAndTimes(t *testing.T) {
	tests := []struct {
		name, body string
		n          int
		ts         time.Time
		token      string
	}{
		{"single event, token in properties", `{"event":"x","properties":{"token":"t1","$time":1764331200.25}}`, 1, time.Unix(1764331200, 25e7).UTC(), "t1"},
		{"array", `[{"event":"a","api_key":"t2","offset":1500},{"event":"b"}]`, 2, now.Add(-1500 * time.Millisecond), "t2"},
		{"timestamp without sent_at is taken as is", `{"event":"x","token":"t3","timestamp":"2026-01-01T00:00:00Z"}`, 1, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), "t3"},
		{"no time at all", `{"event":"x","api_key":"t4"}`, 1, now, "t4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := DecodeCapture(CaptureRequest{Body: []byte(tt.body), MaxBytes: 1 << 20, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			if len(b.Events) != tt.n || b.Token != tt.token || !b.Events[0].Timestamp.Equal(tt.ts) {
				t.Errorf("%d events, token %q, ts %v; want %d, %q, %v", len(b.Events), b.Token, b.Events[0].Timestamp, tt.n, tt.token, tt.ts)
			}
		})
	}
}

func TestDecodeCaptureOriginalAppPerson(t *testing.T) {
	b, err := DecodeCapture(CaptureRequest{Now: now, MaxBytes: 1 << 20, Body: []byte(
		`{"event":"feature_used","api_key":"t","properties":{"distinct_id":"u1","person":{"properties":{"email":"o@x.io"}}}}`)})
	if err != nil {
		t.Fatal(err)
	}
	if b.Events[0].Set["email"] != "o@x.io" {
		t.Errorf("Set = %v", b.Events[0].Set)
	}
}

func TestDecodeCaptureRejectsBadEventsKeepsGood(t *testing.T) {
	body := `{"api_key":"t","batch":[{"event":"ok1"},{"properties":{}},{"event":"generation_failed","properties":{}},"str",{"event":"ok2","offset":-5}]}`
	b, err := DecodeCapture(CaptureRequest{Body: []byte(body), MaxBytes: 1 << 20, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Events) != 1 || b.Events[0].Name != "ok1" {
		t.Fatalf("events %v", b.Events)
	}
	want := map[int]string{1: "batch[1].event", 2: "batch[2].properties.input_prompt", 3: "batch[3]", 4: "batch[4].offset"}
	if len(b.Rejected) != len(want) {
		t.Fatalf("rejected %v", b.Rejected)
	}
	for _, r := range b.Rejected {
		if want[r.Index] != r.Field {
			t.Errorf("rejected %d field %q, want %q", r.Index, r.Field, want[r.Index])
		}
	}
}

func TestDecodeCaptureErrors(t *testing.T) {
	bomb := gz(t, `{"event":"x","properties":{"p":"`+strings.Repeat("A", 50<<20)+`"}}`)
	tests := []struct {
		name  string
		body  []byte
		query string
		code  string
	}{
		{"empty", nil, "", hogpipe.EMalformed},
		{"gzip magic then garbage", append([]byte{0x1f, 0x8b}, []byte("not gzip at all")...), "", hogpipe.EMalformed},
		{"truncated gzip", gz(t, envelope)[:30], "", hogpipe.EMalformed},
		{"not base64", []byte("data=%%%%"), "", hogpipe.EMalformed},
		{"base64 of garbage", []byte("data=" + base64.StdEncoding.EncodeToString([]byte("\x00\x01garbage"))), "", hogpipe.EMalformed},
		{"form without data", []byte("foo=bar"), "", hogpipe.EMalformed},
		{"gzip bomb: 50 MiB from " + "a small body", bomb, "", hogpipe.ETooLarge},
		{"only bad events", []byte(`[{"properties":{}}]`), "", hogpipe.EInvalid},
		{"empty batch", []byte(`{"api_key":"t","batch":[]}`), "", hogpipe.EInvalid},
		{"batch not an array", []byte(`{"api_key":"t","batch":{}}`), "", hogpipe.EInvalid},
		{"api_key not a string", []byte(`{"api_key":5,"batch":[{"event":"x"}]}`), "", hogpipe.EInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, _ := url.ParseQuery(tt.query)
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			b, err := DecodeCapture(CaptureRequest{Body: tt.body, Query: q, MaxBytes: 1 << 20, MaxEvents: 100, Now: now})
			if err == nil {
				t.Fatalf("want error, got %+v", b)
			}
			if c := hogpipe.ErrorCode(err); c != tt.code {
				t.Errorf("code %q, want %q: %v", c, tt.code, err)
			}
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
				t.Errorf("decoding allocated %d MiB: the limit did not bound it", grew>>20)
			}
		})
	}
	if len(bomb) > 200<<10 {
		t.Fatalf("bomb is %d bytes: not small", len(bomb))
	}
}
