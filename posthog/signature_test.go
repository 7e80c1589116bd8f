package posthog

import (
	"strconv"
	"testing"
	"time"

	"github.com/hogpipe/hogpipe"
)

// The Standard Webhooks specification's published test vector.
const (
	vecSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vecID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vecTS     = int64(1614265330)
	vecBody   = `{"test": 2432232314}`
	vecSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSignatureStandardWebhooksVector(t *testing.T) {
	for _, secret := range []string{vecSecret, vecSecret[len("whsec_"):]} {
		k, err := ParseSigningSecret(secret)
		if err != nil {
			t.Fatal(err)
		}
		if got := k.Sign(vecID, vecTS, []byte(vecBody)); got != vecSig {
			t.Errorf("Sign = %s, want %s", got, vecSig)
		}
		if err := k.Verify(vecID, strconv.FormatInt(vecTS, 10), vecSig, []byte(vecBody), time.Unix(vecTS, 0)); err != nil {
			t.Errorf("Verify(vector): %v", err)
		}
	}
}

func TestSignatureRejections(t *testing.T) {
	k, _ := ParseSigningSecret(vecSecret)
	other, _ := ParseSigningSecret("whsec_" + "c2VjcmV0LXNlY3JldC1zZWNyZXQtMTIzNDU2Nzg=")
	now := time.Unix(vecTS, 0)
	ts := strconv.FormatInt(vecTS, 10)
	tests := []struct {
		name              string
		key               SigningKey
		id, ts, sig, body string
		now               time.Time
	}{
		{"tampered body", k, vecID, ts, vecSig, `{"test": 2432232315}`, now},
		{"wrong secret", other, vecID, ts, vecSig, vecBody, now},
		{"other id", k, "msg_other", ts, vecSig, vecBody, now},
		{"stale timestamp", k, vecID, ts, vecSig, vecBody, now.Add(6 * time.Minute)},
		{"future timestamp", k, vecID, ts, vecSig, vecBody, now.Add(-6 * time.Minute)},
		{"timestamp not a number", k, vecID, "yesterday", vecSig, vecBody, now},
		{"missing id", k, "", ts, vecSig, vecBody, now},
		{"missing timestamp", k, vecID, "", vecSig, vecBody, now},
		{"missing signature", k, vecID, ts, "", vecBody, now},
		{"v2 only", k, vecID, ts, "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", vecBody, now},
		{"not base64", k, vecID, ts, "v1,!!!", vecBody, now},
		{"truncated signature", k, vecID, ts, vecSig[:20], vecBody, now},
		// The right MAC with the last character's unused bits set: found by
		// the fuzzer (testdata/fuzz/FuzzSignature/f0e8afc50c09710b).
		{"non-canonical base64", k, vecID, ts, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OG=", vecBody, now},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.key.Verify(tt.id, tt.ts, tt.sig, []byte(tt.body), tt.now)
			if hogpipe.ErrorCode(err) != hogpipe.EUnauthorized {
				t.Errorf("got %v, want unauthorized", err)
			}
		})
	}
	// Several signatures (key rotation): one good one is enough.
	if err := k.Verify(vecID, ts, "v1,bm9wZQ== v1a,xyz "+vecSig, []byte(vecBody), now); err != nil {
		t.Errorf("list with a valid signature: %v", err)
	}
	// Just inside the tolerance on both sides.
	for _, d := range []time.Duration{-SignatureTolerance, SignatureTolerance} {
		if err := k.Verify(vecID, ts, vecSig, []byte(vecBody), now.Add(d)); err != nil {
			t.Errorf("at %v: %v", d, err)
		}
	}
}

func TestParseSigningSecret(t *testing.T) {
	for _, bad := range []string{"", "whsec_", "whsec_not base64!", "whsec_c2hvcnQ="} {
		if _, err := ParseSigningSecret(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
