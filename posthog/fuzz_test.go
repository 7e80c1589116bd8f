package posthog

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hogpipe/hogpipe"
)

// checkResult holds every parser to the same contract: an *hogpipe.Error
// with a known code, or events that pass validation and have an id.
func checkResult(t *testing.T, events []hogpipe.Event, err error) {
	if err != nil {
		var he *hogpipe.Error
		if !errors.As(err, &he) {
			t.Fatalf("error is not a *hogpipe.Error: %T %v", err, err)
		}
		switch he.Code {
		case hogpipe.EMalformed, hogpipe.EInvalid, hogpipe.ETooLarge:
		default:
			t.Fatalf("unexpected code %q: %v", he.Code, err)
		}
		if events != nil {
			t.Fatalf("events beside an error")
		}
		return
	}
	if len(events) == 0 {
		t.Fatalf("no error and no events")
	}
	for i := range events {
		if events[i].UUID == "" {
			t.Fatalf("event %d has no id", i)
		}
		if verr := hogpipe.ValidateEvent(&events[i], ""); verr != nil {
			t.Fatalf("event %d returned but invalid: %v", i, verr)
		}
	}
}

func FuzzParseWebhook(f *testing.F) {
	for _, s := range []string{
		`{"event":{"uuid":"a","event":"generation_failed","properties":{"input_prompt":"p"}},"person":{"properties":{"email":"x@y.z"}}}`,
		`{"event":"feature_used","properties":{"email":"a@b.c"}}`,
		`[{"event":"x"},{"event":{"name":"y","timestamp":"2026-11-28T12:00:00Z"}}]`,
		`{"event":"x","properties":{"$time":1764331200.5},"distinct_id":12}`,
		`[[[[`, `"x"`, `{"event":null}`,
	} {
		f.Add([]byte(s), "")
	}
	f.Add([]byte(`{"properties":{"input_prompt":"p"}}`), "generation_failed")
	f.Fuzz(func(t *testing.T, body []byte, expect string) {
		events, err := ParseWebhook(body, WebhookOptions{ExpectName: expect, DeliveryID: "d", Now: time.Unix(1764331200, 0), MaxEvents: 100})
		checkResult(t, events, err)
	})
}

// FuzzDecodeCapture feeds the fuzzed JSON through each capture encoding
// (0 plain, 1 gzip, 2 base64 form, 3 bare base64) and as raw bytes.
func FuzzDecodeCapture(f *testing.F) {
	for _, s := range []string{
		`{"api_key":"t","batch":[{"event":"x","uuid":"u","properties":{"distinct_id":"d"},"timestamp":"2026-11-28T12:00:00Z"}],"sent_at":"2026-11-28T12:00:01Z"}`,
		`[{"event":"a","offset":10,"$set":{"email":"e@x.io"}}]`,
		`{"event":"generation_failed","api_key":"t","properties":{"input_prompt":"p","$anon_distinct_id":"q"}}`,
		`{"batch":[1,2,3]}`,
	} {
		for enc := range uint8(5) {
			f.Add([]byte(s), enc)
		}
	}
	f.Fuzz(func(t *testing.T, payload []byte, enc uint8) {
		body, ct := payload, ""
		switch enc % 5 {
		case 1:
			var b bytes.Buffer
			w := gzip.NewWriter(&b)
			w.Write(payload)
			w.Close()
			body = b.Bytes()
		case 2:
			body = []byte("data=" + url.QueryEscape(base64.StdEncoding.EncodeToString(payload)))
			ct = "application/x-www-form-urlencoded"
		case 3:
			body = []byte(base64.StdEncoding.EncodeToString(payload))
		}
		b, err := DecodeCapture(CaptureRequest{Body: body, ContentType: ct, MaxBytes: 64 << 10, MaxEvents: 100, Now: time.Unix(1764331200, 0)})
		if err != nil {
			checkResult(t, nil, err)
			return
		}
		checkResult(t, b.Events, nil)
		if len(b.Events)+len(b.Rejected) == 0 {
			t.Fatal("nothing accepted or rejected")
		}
	})
}

// FuzzScanShape holds the pre-decoding scan to what decoding finds: for
// every valid JSON body, the same event count, value count and envelope
// token, so a limit checked on the scan is the limit of the decoded body.
func FuzzScanShape(f *testing.F) {
	for _, s := range []string{
		`{"api_key":"t","batch":[{"event":"x"}],"sent_at":"s"}`, `[1,[2,{"a":"b"}],"\\\""]`,
		`{"batch":[1],"batch":"x","api_key":"a","api_key":5,"token":"t"}`, `{"api\u005fkey":"k"}`, `0`, `[]`, `{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		sh, err := scanShape(body, MaxDepth)
		// Fed as it arrives, in pieces, the scan ends the same.
		for _, step := range []int{1, 3, 7, 64} {
			inc := newScanner(MaxDepth)
			var ierr error
			for n := step; n < len(body) && ierr == nil; n += step {
				ierr = inc.feed(body[:n], false)
			}
			if ierr == nil {
				ierr = inc.feed(body, true)
			}
			if (ierr != nil) != (err != nil) || (err == nil && inc.result(body) != sh) {
				t.Fatalf("in steps of %d: %+v (%v), in one go: %+v (%v)", step, inc.result(body), ierr, sh, err)
			}
		}
		if !json.Valid(body) {
			return // the decoder names the problem; the scan only must not crash
		}
		v, derr := decodeJSON(body)
		if (err != nil) != (derr != nil && strings.Contains(derr.Error(), "nested")) {
			t.Fatalf("scan error %v, decode error %v", err, derr)
		}
		if err != nil || derr != nil {
			return
		}
		want := shape{events: -1, values: countValues(v)}
		switch v := v.(type) {
		case []any:
			want.events = len(v)
		case map[string]any:
			if b, ok := v["batch"].([]any); ok {
				want.events = len(b)
			}
			if s, _ := v["api_key"].(string); s != "" {
				want.token = s
			} else if s, _ := v["token"].(string); s != "" {
				want.token = s
			}
		}
		// Repeated keys are counted, not merged: the scan's count is an
		// upper bound, exact once keys are unique (as re-encoded).
		if sh.events != want.events || sh.values < want.values || sh.token != want.token {
			t.Fatalf("scan %+v, decoded %+v", sh, want)
		}
		again, _ := json.Marshal(v)
		if sh2, err := scanShape(again, MaxDepth); err != nil || sh2.values != want.values {
			t.Fatalf("re-encoded %s: scan %+v (%v), decoded %d values", again, sh2, err, want.values)
		}
	})
}

func countValues(v any) int {
	n := 1
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			n += countValues(e)
		}
	case map[string]any:
		for _, e := range v {
			n += countValues(e)
		}
	}
	return n
}

func FuzzSignature(f *testing.F) {
	f.Add(vecID, strconv.FormatInt(vecTS, 10), vecSig, []byte(vecBody))
	f.Add("msg", "0", "v1,AAAA v2,BBBB", []byte("{}"))
	f.Add("", "-1", "v1,", []byte(nil))
	key, _ := ParseSigningSecret(vecSecret)
	now := time.Unix(vecTS, 0)
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		for _, s := range ParseSignatureHeader(sig) {
			if len(s) != 32 {
				t.Fatalf("decoded signature of %d bytes", len(s))
			}
		}
		err := key.Verify(id, ts, sig, body, now)
		if err == nil {
			// Only a real signature of exactly this delivery may pass.
			n, perr := strconv.ParseInt(ts, 10, 64)
			if perr != nil || !bytes.Contains([]byte(sig), []byte(key.Sign(id, n, body)[3:])) {
				t.Fatalf("accepted a signature that is not ours: id=%q ts=%q sig=%q", id, ts, sig)
			}
		} else if hogpipe.ErrorCode(err) != hogpipe.EUnauthorized {
			t.Fatalf("error code %q", hogpipe.ErrorCode(err))
		}
	})
}
