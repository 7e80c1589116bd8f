package posthog

import (
	"encoding/json"
	"net/url"
	"runtime"
	"strings"
	"testing"

	"github.com/hogpipe/hogpipe"
)

func TestScanShape(t *testing.T) {
	for _, c := range []struct {
		body           string
		events, values int
		token          string
	}{
		{`{"event":"x"}`, -1, 2, ""},
		{`[{"event":"x"},{"event":"y","properties":{"a":[1,2]}}]`, 2, 9, ""},
		{`[]`, 0, 1, ""},
		{`{"api_key":"phc_a","batch":[{"event":"x"}],"sent_at":"t"}`, 1, 6, "phc_a"},
		{`{"batch":[{"event":"x"},{}],"api_key":"phc_after"}`, 2, 6, "phc_after"},
		{`{"token":"phc_t","batch":[]}`, 0, 3, "phc_t"},
		{`{"api_key":"","token":"phc_t","batch":[1]}`, 1, 5, "phc_t"},
		{`{"api\u005fkey":"phc_\u0061","batch":[1]}`, 1, 4, "phc_a"},
		{`{"api_key":5,"batch":[1,2,3]}`, 3, 6, ""},
		// Keys and tokens deeper down are not the envelope's.
		{`{"batch":[{"api_key":"phc_inner","batch":[1,2,3]}]}`, 1, 8, ""},
		{`{"x":{"api_key":"phc_inner"},"batch":[1]}`, 1, 5, ""},
		// Strings holding JSON syntax are strings.
		{`[{"p":"[1,2,\"]{,"},"a\\"]`, 2, 4, ""},
		{`[0,0,0,0,0]`, 5, 6, ""},
		{`{"batch":"notarray","api_key":"k"}`, -1, 3, "k"},
	} {
		sh, err := scanShape([]byte(c.body), MaxDepth)
		if err != nil {
			t.Errorf("%s: %v", c.body, err)
			continue
		}
		if !json.Valid([]byte(c.body)) {
			t.Fatalf("test body is not JSON: %s", c.body)
		}
		if sh.events != c.events || sh.values != c.values || sh.token != c.token {
			t.Errorf("%s: events %d values %d token %q, want %d %d %q", c.body, sh.events, sh.values, sh.token, c.events, c.values, c.token)
		}
	}
	if _, err := scanShape([]byte(strings.Repeat("[", MaxDepth+1)), MaxDepth); hogpipe.ErrorCode(err) != hogpipe.EMalformed {
		t.Errorf("deep nesting: %v", err)
	}
}

// TestDecodeCaptureChecksLimitsBeforeDecoding: a body that breaks a limit
// is refused having allocated next to nothing, whatever its size; and
// Reserve is asked for the decoded values before they are built.
// (Before the scan, [0,0,…] of 1 MiB cost ~33 MiB before its count was
// looked at.)
func TestDecodeCaptureChecksLimitsBeforeDecoding(t *testing.T) {
	zeros := strings.TrimSuffix(strings.Repeat("0,", 500_000), ",")
	known := func(tok string) bool { return tok == "phc_ok" }
	for _, c := range []struct {
		name, body, code string
	}{
		{"array of 500k numbers", "[" + zeros + "]", hogpipe.ETooLarge},
		{"envelope without token, batch of 500k numbers", `{"batch":[` + zeros + `]}`, hogpipe.ETooLarge},
		{"unknown token before the batch", `{"api_key":"phc_wrong","batch":[{"event":"x","properties":{"p":[` + zeros[:200_000] + `]}}]}`, hogpipe.EUnauthorized},
		{"unknown token after the batch", `{"batch":[{"event":"x","properties":{"p":[` + zeros[:200_000] + `]}}],"token":"phc_wrong"}`, hogpipe.EUnauthorized},
		{"too many values", `{"api_key":"phc_ok","batch":[{"event":"x","properties":{"p":[` + zeros + `]}}]}`, hogpipe.ETooLarge},
	} {
		body := []byte(c.body)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := DecodeCapture(CaptureRequest{Body: body, MaxBytes: 2 << 20, MaxEvents: 1000, MaxValues: 100_000, KnownToken: known, Now: now})
		runtime.ReadMemStats(&after)
		if hogpipe.ErrorCode(err) != c.code {
			t.Errorf("%s: %v, want code %s", c.name, err, c.code)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<10 {
			t.Errorf("%s: allocated %d KiB before refusing", c.name, grew>>10)
		}
	}

	// Reserve sees the decoded cost first, and its error is the answer.
	full := hogpipe.Errorf(hogpipe.EUnavailable, "full")
	var asked int64
	_, err := DecodeCapture(CaptureRequest{Body: []byte(`{"api_key":"phc_ok","batch":[{"event":"x","properties":{"p":[` + zeros[:20_000] + `]}}]}`),
		MaxBytes: 1 << 20, KnownToken: known, Now: now,
		Reserve: func(n int64) error { asked += n; return full }})
	if err != full || asked < 10_000*bytesPerValue {
		t.Errorf("reserve: err %v, asked %d", err, asked)
	}
}

// TestGunzipReservesAsItGrows: a small gzip body asks for what it
// decompresses to, in steps, not the limit up front.
func TestGunzipReservesAsItGrows(t *testing.T) {
	body := gz(t, envelope)
	var asked int64
	b, err := DecodeCapture(CaptureRequest{Body: body, Query: url.Values{}, MaxBytes: 1 << 20, Now: now,
		Reserve: func(n int64) error { asked += n; return nil }})
	if err != nil || len(b.Events) != 2 {
		t.Fatal(err)
	}
	if asked > 2*gunzipChunk+int64(len(envelope))*bytesPerValue {
		t.Errorf("reserved %d bytes for a %d-byte payload", asked, len(envelope))
	}
}
