// Package unsubscribe makes and checks the tokens in one-click
// unsubscribe links. A token carries the recipient (normalized), the
// email kind and an expiry, with an HMAC-SHA256 over them keyed by a
// secret only hogpipe knows: the endpoint rejects forgeries without a
// lookup, and a link keeps working after the email row is gone.
package unsubscribe

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/hogpipe/hogpipe"
)

// MinSecretLen is the shortest secret accepted from an operator.
const MinSecretLen = 32

// Errors a token can fail with; the endpoint tells them apart for people.
var (
	ErrMalformed = errors.New("the unsubscribe link is damaged (copy the whole link from the email)")
	ErrForged    = errors.New("the unsubscribe link was not issued by this sender")
	ErrExpired   = errors.New("the unsubscribe link has expired")
)

// Signer makes and checks tokens.
type Signer struct {
	key []byte
	ttl time.Duration
}

// NewSigner returns a Signer; tokens it makes are valid for ttl.
func NewSigner(secret string, ttl time.Duration) *Signer {
	return &Signer{key: []byte(secret), ttl: ttl}
}

// Claims are what a token says.
type Claims struct {
	Address string // normalized
	Kind    string // the email kind (template name, e.g. feature_used)
	Expires time.Time
}

const macLen = 16 // 128 bits: forging one still means guessing the key

// Token returns the token for addr and kind, made at now.
func (s *Signer) Token(addr, kind string, now time.Time) string {
	return s.TokenExpiring(addr, kind, now.Add(s.ttl))
}

// TokenExpiring returns a token with an explicit expiry.
func (s *Signer) TokenExpiring(addr, kind string, expires time.Time) string {
	payload := "1\n" + strconv.FormatInt(expires.Unix(), 10) + "\n" + kind + "\n" + hogpipe.NormalizeAddress(addr)
	return b64(payload) + "." + b64(string(s.mac(payload)))
}

func (s *Signer) mac(payload string) []byte {
	h := hmac.New(sha256.New, s.key)
	h.Write([]byte("hogpipe-unsubscribe\x00"))
	h.Write([]byte(payload))
	return h.Sum(nil)[:macLen]
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// Verify checks a token at now and returns its claims.
func (s *Signer) Verify(tok string, now time.Time) (Claims, error) {
	p, m, ok := strings.Cut(tok, ".")
	if !ok || len(tok) > 2048 {
		return Claims{}, ErrMalformed
	}
	payload, err1 := strict.DecodeString(p)
	mac, err2 := strict.DecodeString(m)
	if err1 != nil || err2 != nil {
		return Claims{}, ErrMalformed
	}
	// The MAC is checked before the payload is believed.
	if !hmac.Equal(mac, s.mac(string(payload))) {
		return Claims{}, ErrForged
	}
	parts := strings.Split(string(payload), "\n")
	if len(parts) != 4 || parts[0] != "1" {
		return Claims{}, ErrMalformed
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return Claims{}, ErrMalformed
	}
	c := Claims{Address: parts[3], Kind: parts[2], Expires: time.Unix(exp, 0).UTC()}
	if !now.Before(c.Expires) {
		return c, ErrExpired
	}
	return c, nil
}

// strict refuses non-canonical encodings, so one token has one spelling.
var strict = base64.RawURLEncoding.Strict()
