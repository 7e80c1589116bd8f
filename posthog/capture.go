package posthog

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/hogpipe/hogpipe"
)

// CaptureRequest is a capture-protocol request as posthog-js sends it.
type CaptureRequest struct {
	Body        []byte
	ContentType string
	Query       url.Values
	// MaxBytes bounds the decoded (decompressed) payload: a small gzip
	// body must not expand into gigabytes.
	MaxBytes  int64
	MaxEvents int
	// MaxValues bounds the JSON values (scalars and containers) in one
	// request; 0: no bound. Decoding costs memory per value, not per byte.
	MaxValues int
	// KnownToken, when set, lets a request whose envelope names an unknown
	// project token be refused before anything is decompressed past the
	// envelope's first pass or decoded.
	KnownToken func(string) bool
	// Reserve, when set, is asked before memory is taken for the request's
	// decompressed payload and decoded values (an estimate, in bytes); an
	// error from it is returned as is.
	Reserve func(n int64) error
	Now     time.Time
}

// bytesPerValue estimates what decoding one JSON value into generic Go
// values costs (an interface slot, a boxed json.Number or string header, a
// map entry for members), measured at 40–100 bytes; rounded up.
const bytesPerValue = 128

// Rejected is one event of a batch that was not accepted, and why.
type Rejected struct {
	Index int    `json:"index"`
	Field string `json:"field,omitempty"`
	Error string `json:"error"`
}

// CaptureBatch is a decoded capture request.
type CaptureBatch struct {
	// Token is the project token (api_key) the request carries.
	Token    string
	Events   []hogpipe.Event
	Rejected []Rejected
}

// DecodeCapture reads a capture request: gzip bytes (by magic number, or
// ?compression=gzip-js), a data=<base64> form (sendBeacon, older SDKs) or
// plain JSON; holding one event, an array of events, or posthog-js's
// {"api_key","batch":[…],"sent_at"} envelope. Events that are not usable
// are listed in Rejected and the rest returned; an error means nothing in
// the request is usable.
func DecodeCapture(req CaptureRequest) (*CaptureBatch, error) {
	payload, err := decodePayload(req.Body, req.ContentType, req.MaxBytes, req.Reserve)
	if err != nil {
		return nil, err
	}
	if !utf8.Valid(payload) {
		return nil, hogpipe.Errorf(hogpipe.EMalformed, "body is not valid UTF-8")
	}
	// Every limit that can be checked without decoding is checked first.
	sh, err := scanShape(payload, MaxDepth)
	if err != nil {
		return nil, err
	}
	if req.MaxEvents > 0 && sh.events > req.MaxEvents {
		return nil, hogpipe.Errorf(hogpipe.ETooLarge, "%d events in one request; at most %d", sh.events, req.MaxEvents)
	}
	if req.KnownToken != nil && sh.token != "" && !req.KnownToken(sh.token) {
		return nil, &hogpipe.Error{Code: hogpipe.EUnauthorized, Field: "api_key", Message: UnknownTokenMessage}
	}
	if req.MaxValues > 0 && sh.values > req.MaxValues {
		return nil, hogpipe.Errorf(hogpipe.ETooLarge, "%d JSON values in one request; at most %d", sh.values, req.MaxValues)
	}
	if req.Reserve != nil {
		if err := req.Reserve(int64(sh.values) * bytesPerValue); err != nil {
			return nil, err
		}
	}
	v, err := decodeValue(payload)
	if err != nil {
		return nil, err
	}
	b := &CaptureBatch{}
	var items []any
	var sentAt time.Time
	switch v := v.(type) {
	case map[string]any:
		top := fields{v, ""}
		if b.Token, err = tokenOf(top); err != nil {
			return nil, err
		}
		if raw, ok := v["batch"]; ok {
			arr, ok := raw.([]any)
			if !ok {
				return nil, hogpipe.FieldError("batch", "must be an array, got %s", typeName(raw))
			}
			items = arr
			if sentAt, _, err = top.timestamp("sent_at"); err != nil {
				return nil, err
			}
		} else {
			items = []any{v}
		}
	case []any:
		items = v
	default:
		return nil, hogpipe.FieldError("(body)", "must be a JSON object or array, got %s", typeName(v))
	}
	if len(items) == 0 {
		return nil, hogpipe.FieldError("batch", "no events")
	}
	if req.MaxEvents > 0 && len(items) > req.MaxEvents {
		return nil, hogpipe.Errorf(hogpipe.ETooLarge, "%d events in one request; at most %d", len(items), req.MaxEvents)
	}
	for i, item := range items {
		prefix := index("batch", i)
		if len(items) == 1 && sentAt.IsZero() {
			prefix = ""
		}
		e, tok, err := captureEvent(item, prefix, req.Now, sentAt)
		if err != nil {
			var he *hogpipe.Error
			if !errors.As(err, &he) {
				return nil, err
			}
			b.Rejected = append(b.Rejected, Rejected{Index: i, Field: he.Field, Error: he.Message})
			continue
		}
		if b.Token == "" {
			b.Token = tok
		}
		b.Events = append(b.Events, e)
	}
	if len(b.Events) == 0 {
		r := b.Rejected[0]
		return nil, &hogpipe.Error{Code: hogpipe.EInvalid, Field: r.Field, Message: r.Error}
	}
	return b, nil
}

// UnknownTokenMessage is the answer to a capture request whose project
// token is not one hogpipe accepts.
const UnknownTokenMessage = "unknown project token; configure it with --capture-tokens"

func tokenOf(f fields) (string, error) {
	tok, _, err := f.str("api_key")
	if err != nil || tok != "" {
		return tok, err
	}
	tok, _, err = f.str("token")
	return tok, err
}

func captureEvent(item any, prefix string, now, sentAt time.Time) (hogpipe.Event, string, error) {
	var e hogpipe.Event
	m, ok := item.(map[string]any)
	if !ok {
		return e, "", hogpipe.FieldError(strings.TrimSuffix(prefix, "."), "must be an object, got %s", typeName(item))
	}
	f := fields{m, prefix}
	var err error
	if e.Name, _, err = f.str("event"); err != nil {
		return e, "", err
	}
	if e.Properties, err = f.obj("properties"); err != nil {
		return e, "", err
	}
	if e.Properties == nil {
		e.Properties = map[string]any{}
	}
	props := fields{e.Properties, prefix + "properties."}
	tok, err := tokenOf(f)
	if err != nil {
		return e, "", err
	}
	if tok == "" {
		if tok, _, err = props.str("token"); err != nil {
			return e, "", err
		}
	}
	if e.UUID, _, err = f.str("uuid"); err != nil {
		return e, "", err
	}
	if e.UUID == "" {
		e.UUID = uuid.Must(uuid.NewV7()).String()
	}
	if e.DistinctID, err = f.id("distinct_id"); err != nil {
		return e, "", err
	}
	if e.DistinctID == "" {
		if e.DistinctID, err = props.id("distinct_id"); err != nil {
			return e, "", err
		}
	}
	if e.Timestamp, err = eventTime(f, props, now, sentAt); err != nil {
		return e, "", err
	}
	e.ReceivedAt = now
	e.Source = hogpipe.SourceCapture

	// posthog-js puts $set/$set_once at the top of the event; other SDKs
	// inside properties. Either way they describe the person.
	for _, src := range []fields{f, props} {
		set, err := src.obj("$set")
		if err != nil {
			return e, "", err
		}
		e.Set = merge(e.Set, set)
		once, err := src.obj("$set_once")
		if err != nil {
			return e, "", err
		}
		e.SetOnce = merge(e.SetOnce, once)
	}
	if e.AnonDistinctID, err = props.id("$anon_distinct_id"); err != nil {
		return e, "", err
	}
	// The original app sent the person inside the event's properties.
	if person, err := props.obj("person"); err == nil && person != nil {
		if pp, err := (fields{person, props.prefix + "person."}).obj("properties"); err == nil && pp != nil {
			e.Set = merge(e.Set, pp)
		}
	}
	if err := hogpipe.ValidateEvent(&e, prefix); err != nil {
		return e, "", err
	}
	return e, tok, nil
}

// eventTime follows PostHog: an explicit timestamp is corrected for the
// client's clock skew using sent_at; else now minus offset (ms); else $time.
func eventTime(f, props fields, now, sentAt time.Time) (time.Time, error) {
	ts, ok, err := f.timestamp("timestamp")
	if err != nil {
		return ts, err
	}
	if ok {
		if !sentAt.IsZero() {
			return now.Add(-sentAt.Sub(ts)).UTC(), nil
		}
		return ts, nil
	}
	if off, ok := f.m["offset"]; ok && off != nil {
		n, isNum := off.(json.Number)
		ms, err := n.Int64()
		if !isNum || err != nil || ms < 0 {
			return ts, hogpipe.FieldError(f.prefix+"offset", "must be a non-negative number of milliseconds")
		}
		return now.Add(-time.Duration(ms) * time.Millisecond).UTC(), nil
	}
	if t, ok := unixTime(props.m["$time"]); ok {
		return t, nil
	}
	return now, nil
}

func merge(dst, src map[string]any) map[string]any {
	if len(src) == 0 {
		return dst
	}
	if dst == nil {
		dst = make(map[string]any, len(src))
	}
	for k, v := range src {
		dst[k] = v
	}
	return dst
}

var gzipMagic = []byte{0x1f, 0x8b}

// decodePayload undoes the capture encodings, bounding the decoded size.
// Like PostHog's own capture it sniffs the body and does not trust the
// compression parameter: gzip magic, else a data= form, else JSON (else
// bare base64). posthog-js sends compression=gzip-js with a base64 form on
// some paths, and a 4xx would lose those events for good.
func decodePayload(body []byte, contentType string, max int64, reserve func(int64) error) ([]byte, error) {
	if len(body) == 0 {
		return nil, hogpipe.Errorf(hogpipe.EMalformed, "empty body")
	}
	if bytes.HasPrefix(body, gzipMagic) {
		return gunzip(body, max, reserve)
	}
	trimmed := bytes.TrimSpace(body)
	isForm := bytes.HasPrefix(trimmed, []byte("data=")) ||
		(strings.HasPrefix(contentType, "application/x-www-form-urlencoded") && !looksJSON(trimmed))
	if !isForm && looksJSON(trimmed) {
		return body, nil
	}
	// A form (data=<base64>), as sendBeacon and older SDKs send, or bare base64.
	data := trimmed
	if isForm {
		form, err := url.ParseQuery(string(trimmed))
		if err != nil {
			return nil, hogpipe.Errorf(hogpipe.EMalformed, "form body does not parse: %v", err)
		}
		d := form.Get("data")
		if d == "" {
			return nil, hogpipe.FieldError("data", "form body has no data field")
		}
		data = []byte(d)
	}
	if reserve != nil {
		// The decoded base64 (and the form's copy of it) are held too.
		if err := reserve(2 * int64(len(data))); err != nil {
			return nil, err
		}
	}
	decoded, err := decodeBase64(data)
	if err != nil {
		return nil, hogpipe.Errorf(hogpipe.EMalformed, "body is neither JSON, gzip nor base64")
	}
	if bytes.HasPrefix(decoded, gzipMagic) {
		return gunzip(decoded, max, reserve)
	}
	return decoded, nil
}

func looksJSON(b []byte) bool { return len(b) > 0 && (b[0] == '{' || b[0] == '[') }

func decodeBase64(b []byte) ([]byte, error) {
	s := strings.TrimRight(string(b), "=")
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		if out, err := enc.DecodeString(s); err == nil {
			return out, nil
		}
	}
	return nil, errors.New("not base64")
}

// gunzipChunk is how much decompressed output is reserved at a time: the
// budget follows what the payload really grows to, not the limit.
const gunzipChunk = 64 << 10

func gunzip(b []byte, limit int64, reserve func(int64) error) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, hogpipe.Errorf(hogpipe.EMalformed, "gzip body does not decode: %v", err)
	}
	defer zr.Close()
	var out []byte
	for {
		if len(out) == cap(out) {
			// Geometric growth, never past limit+1 (one byte more tells
			// the body is too large).
			grow := min(int64(max(cap(out), gunzipChunk)), limit+1-int64(cap(out)))
			if reserve != nil {
				if err := reserve(grow); err != nil {
					return nil, err
				}
			}
			out = slices.Grow(out, int(grow))
		}
		n, err := zr.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		if int64(len(out)) > limit {
			return nil, hogpipe.Errorf(hogpipe.ETooLarge, "decompressed body larger than %d bytes", limit)
		}
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, hogpipe.Errorf(hogpipe.EMalformed, "gzip body does not decode: %v", err)
		}
	}
}
