package server

import (
	"crypto/subtle"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/hogpipe/hogpipe"
	"github.com/hogpipe/hogpipe/posthog"
)

// Security is the server's share of the security configuration.
type Security struct {
	// SigningKey verifies Standard Webhooks signatures (PostHog's signing
	// secret); nil when not configured.
	SigningKey posthog.SigningKey
	// WebhookSecret is a shared secret sent as "Authorization: Bearer …"
	// or "X-Hogpipe-Secret: …"; "" when not configured.
	WebhookSecret string
	// AdminToken guards the read API for requests that are not local.
	AdminToken string
	// Insecure accepts unauthenticated webhooks from anywhere.
	Insecure bool
	// RatePerClient limits requests per second per client IP (0: off);
	// RateBurst is the bucket size.
	RatePerClient float64
	RateBurst     int
	// MaxInFlight caps concurrent requests whose body has been read; more
	// are shed with 503.
	MaxInFlight int
	// MaxPerClient caps one client's concurrent requests, bodies still
	// arriving included; more are answered 429 (0: no cap).
	MaxPerClient int
	// RateClients bounds the rate limiter's buckets (oldest evicted).
	RateClients int
	// IPv6Prefix is how many leading bits of an IPv6 address name one
	// client for the per-client limits (64: a /64 is one subscriber).
	IPv6Prefix int
	// MaxRequestMemory bounds the bytes requests in flight hold (bodies,
	// decompressed payloads, decoded values); 0: unbounded.
	MaxRequestMemory int64
	// DistrustLocal: no request counts as local (isLocal), whatever its
	// peer and Host. Behind a tunnel or proxy on this machine that forwards
	// without a proxy header (ssh -R, a raw TCP forwarder), every request
	// arrives from a loopback peer with whatever Host its sender wrote, so
	// "Host: localhost" would make anyone the operator.
	DistrustLocal bool
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client, for the rate limit; from anyone else the header is
	// ignored, since a client can send any header it likes.
	TrustedProxies []netip.Prefix
}

// WebhookAuthConfigured tells whether webhooks need a credential.
func (c Security) WebhookAuthConfigured() bool { return c.SigningKey != nil || c.WebhookSecret != "" }

// forwardHeaders are set by reverse proxies and tunnels.
var forwardHeaders = []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Real-Ip", "Via"}

// isLocal tells whether a request comes from this machine for this machine:
// a loopback peer AND a loopback Host AND no proxy on the way. A tunnel (ssh
// -R, ngrok) delivers internet traffic from a loopback peer, but with its
// public Host, so it does not count as local; neither does a DNS-rebinding
// page. A reverse proxy on the same machine may well rewrite Host to
// 127.0.0.1 (nginx does by default with proxy_pass http://127.0.0.1:…), but
// it says it forwarded the request in one of forwardHeaders (nginx only if
// configured to): such a request is the internet's, not the operator's.
//
// A request a browser marks as cross-site (crossSite) is never local: a
// page on another site must not borrow the operator's machine.
func isLocal(r *http.Request) bool {
	if crossSite(r) {
		return false
	}
	for _, h := range forwardHeaders {
		if _, ok := r.Header[h]; ok {
			return false
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return false
	}
	h := r.Host
	if hh, _, err := net.SplitHostPort(h); err == nil {
		h = hh
	}
	return loopbackHost(strings.Trim(h, "[]"))
}

// loopbackHost tells whether a host name or address names this machine:
// the one notion of it that isLocal's Host check and LoopbackAddr (serve's
// exposed-listener rule) share, so the two cannot drift apart.
func loopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// LoopbackAddr tells whether a listen address only takes local connections.
func LoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	return loopbackHost(host)
}

// Exposed tells whether a listener on addr would take webhooks from other
// machines with nothing to authenticate them; serve refuses that unless
// Insecure is set.
func (c Security) Exposed(addr string) bool {
	return !LoopbackAddr(addr) && !c.WebhookAuthConfigured()
}

// local is isLocal unless the operator said no request is local.
func (s *Server) local(r *http.Request) bool {
	return !s.cfg.Security.DistrustLocal && isLocal(r)
}

func equalSecret(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

func bearer(r *http.Request) string {
	v := r.Header.Get("Authorization")
	if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
		return strings.TrimSpace(v[7:])
	}
	return ""
}

// authorizeWebhook checks a webhook delivery's credentials against the raw
// body. With none configured, only local requests (or --insecure) pass.
func (s *Server) authorizeWebhook(r *http.Request, body []byte) error {
	sec := s.cfg.Security
	if !sec.WebhookAuthConfigured() {
		if sec.Insecure || s.local(r) {
			if !preflighted(r) {
				return errNotPreflighted()
			}
			return nil
		}
		return hogpipe.Errorf(hogpipe.EUnauthorized,
			"webhook authentication is not configured: set HOGPIPE_WEBHOOK_SECRET or HOGPIPE_WEBHOOK_SIGNING_SECRET")
	}
	var sigErr error
	if sec.SigningKey != nil {
		sig := r.Header.Get("webhook-signature")
		if sig != "" || sec.WebhookSecret == "" {
			sigErr = sec.SigningKey.Verify(r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), sig, body, s.now())
			if sigErr == nil {
				return nil
			}
		}
	}
	if sec.WebhookSecret != "" {
		given := bearer(r)
		if given == "" {
			given = r.Header.Get("X-Hogpipe-Secret")
		}
		if given != "" && equalSecret(given, sec.WebhookSecret) {
			return nil
		}
		if sigErr == nil {
			return hogpipe.Errorf(hogpipe.EUnauthorized, "missing or wrong webhook secret (Authorization: Bearer … or X-Hogpipe-Secret)")
		}
	}
	return sigErr
}

// requireAdmin guards the read API: local requests pass; others need
// "Authorization: Bearer <HOGPIPE_ADMIN_TOKEN>". A state-changing call
// (any method but GET and HEAD) must also be preflighted: the bearer
// header is one way, a JSON Content-Type another.
func (s *Server) requireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := s.cfg.Security.AdminToken
		if s.local(r) || (tok != "" && equalSecret(bearer(r), tok)) {
			if r.Method != http.MethodGet && r.Method != http.MethodHead && !preflighted(r) {
				writeError(w, r, s.log, errNotPreflighted())
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		msg := "admin token required: send Authorization: Bearer <HOGPIPE_ADMIN_TOKEN>"
		if tok == "" {
			msg = "this API is only open to local requests until HOGPIPE_ADMIN_TOKEN is set"
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="hogpipe"`)
		writeError(w, r, s.log, hogpipe.Errorf(hogpipe.EUnauthorized, "%s", msg))
	})
}

// clientIP is the address a request came from: the peer, or, when the peer
// is a trusted proxy, the last address in X-Forwarded-For that is not a
// trusted proxy (proxies append, so everything left of that could have been
// written by the client itself).
func clientIP(r *http.Request, trusted []netip.Prefix) string {
	peer, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	isTrusted := func(s string) bool {
		ip, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil {
			return false
		}
		ip = ip.Unmap()
		for _, p := range trusted {
			if p.Contains(ip) {
				return true
			}
		}
		return false
	}
	if len(trusted) == 0 || !isTrusted(peer) {
		return peer
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		if isTrusted(hop) {
			continue
		}
		if ip, err := netip.ParseAddr(hop); err == nil {
			return ip.Unmap().String()
		}
		return peer // garbage in the chain: do not let it pick a bucket
	}
	return peer
}

// securityHeaders go on every page of the web app; the CSP lets posthog-js
// run (its remote config is a script from this origin, or from PostHog
// Cloud in cloud mode) and nothing else. JSON answers get only nosniff:
// the rest means nothing to an API client and costs bytes on every event.
func securityHeaders(next http.Handler) http.Handler {
	const csp = "default-src 'self'; script-src 'self' https://*.posthog.com; " +
		"connect-src 'self' https://*.posthog.com; img-src 'self' data: https://*.posthog.com; " +
		"style-src 'self' 'unsafe-inline'; font-src 'self' data:; object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Referrer-Policy", "strict-origin-when-cross-origin")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", csp)
		next.ServeHTTP(w, r)
	})
}

// nosniff goes on every answer.
func nosniff(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		next.ServeHTTP(w, r)
	})
}
