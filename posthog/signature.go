package posthog

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/hogpipe/hogpipe"
)

// SignatureTolerance is how far a webhook-timestamp may be from now, either
// way: PostHog retries within seconds, so older deliveries are replays.
const SignatureTolerance = 5 * time.Minute

// SigningKey is a Standard Webhooks secret, decoded.
type SigningKey []byte

// ParseSigningSecret decodes a Standard Webhooks secret: base64, with or
// without the "whsec_" prefix PostHog and Svix show.
func ParseSigningSecret(secret string) (SigningKey, error) {
	s := strings.TrimPrefix(strings.TrimSpace(secret), "whsec_")
	if s == "" {
		return nil, hogpipe.Errorf(hogpipe.EInvalid, "signing secret is empty")
	}
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, hogpipe.Errorf(hogpipe.EInvalid, "signing secret is not base64 (whsec_…): %v", err)
	}
	if len(key) < 16 {
		return nil, hogpipe.Errorf(hogpipe.EInvalid, "signing secret is %d bytes; at least 16 expected", len(key))
	}
	return key, nil
}

// Sign returns the "v1,<base64>" signature of a delivery.
func (k SigningKey) Sign(id string, timestamp int64, body []byte) string {
	return "v1," + base64.StdEncoding.EncodeToString(k.mac(id, timestamp, body))
}

func (k SigningKey) mac(id string, timestamp int64, body []byte) []byte {
	m := hmac.New(sha256.New, k)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(strconv.FormatInt(timestamp, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// ParseSignatureHeader splits a webhook-signature header into the decoded
// v1 signatures it holds. Other versions are skipped, as the spec says.
func ParseSignatureHeader(h string) [][]byte {
	var out [][]byte
	for _, part := range strings.Fields(h) {
		version, sig, ok := strings.Cut(part, ",")
		if !ok || version != "v1" {
			continue
		}
		// Strict: base64 lets the last character's unused bits vary, so
		// several strings decode to one MAC. Only the one spelling a signer
		// produces is a signature, as in the Standard Webhooks libraries,
		// which compare the encoded strings.
		b, err := base64.StdEncoding.Strict().DecodeString(sig)
		if err != nil || len(b) != sha256.Size {
			continue
		}
		out = append(out, b)
	}
	return out
}

// Verify checks a Standard Webhooks delivery: the webhook-id,
// webhook-timestamp and webhook-signature headers against the raw body.
// Every v1 signature in the header is compared in constant time.
func (k SigningKey) Verify(id, timestamp, signature string, body []byte, now time.Time) error {
	if id == "" || timestamp == "" || signature == "" {
		return hogpipe.Errorf(hogpipe.EUnauthorized, "missing webhook-id, webhook-timestamp or webhook-signature header")
	}
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return hogpipe.Errorf(hogpipe.EUnauthorized, "webhook-timestamp is not unix seconds")
	}
	at := time.Unix(ts, 0)
	if d := now.Sub(at); d > SignatureTolerance || d < -SignatureTolerance {
		return hogpipe.Errorf(hogpipe.EUnauthorized, "webhook-timestamp is more than %s from now", SignatureTolerance)
	}
	want := k.mac(id, ts, body)
	ok := 0
	for _, sig := range ParseSignatureHeader(signature) {
		ok |= boolInt(hmac.Equal(sig, want))
	}
	if ok == 0 {
		return hogpipe.Errorf(hogpipe.EUnauthorized, "webhook-signature does not match the body")
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
