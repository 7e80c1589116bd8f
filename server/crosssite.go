package server

import (
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/hogpipe/hogpipe"
)

// A page on any site the operator opens can send requests to
// http://127.0.0.1:3000: a "simple" cross-site request (a form post, or
// fetch with a text/plain body) goes out without a CORS preflight, from the
// operator's own machine. Two rules keep such requests from counting as the
// operator's:
//
//  1. crossSite: a request that a browser marks as coming from another
//     origin (Origin is not this host, or Sec-Fetch-Site says cross-site or
//     same-site) is never local.
//  2. preflighted: where being local is the only credential (unauthenticated
//     webhooks, state-changing admin calls), the request must also be one a
//     page of another origin cannot send without a preflight, which hogpipe
//     never grants on these routes: a JSON Content-Type, or a header outside
//     the CORS safelist. Older browsers send neither Origin nor
//     Sec-Fetch-Site on a form post; this rule still stops them.
//
// Capture (posthog-js) stays open to every origin by design: its token is
// public. Events that arrive that way do not count as local either, which
// the email policy uses (see ingest).

// crossSite tells whether a browser says a page of another origin made the
// request.
func crossSite(r *http.Request) bool {
	switch strings.ToLower(r.Header.Get("Sec-Fetch-Site")) {
	case "cross-site", "same-site":
		return true
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	u, err := url.Parse(origin)
	// "null" (sandboxed frames, file: pages) and anything unparsable are
	// some other origin too.
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return true
	}
	return !strings.EqualFold(u.Host, r.Host)
}

// preflighted tells whether a browser would have asked (with a CORS
// preflight) before letting another origin send this request: the body is
// JSON, or a header that forms and simple fetches cannot set is present.
func preflighted(r *http.Request) bool {
	// Only GET, HEAD and POST are CORS-safelisted methods: a cross-site
	// DELETE or PUT is always preflighted first.
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost:
	default:
		return true
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil &&
		(mt == "application/json" || strings.HasSuffix(mt, "+json")) {
		return true
	}
	for _, h := range []string{"Authorization", "X-Requested-With", "X-Hogpipe-Secret"} {
		if r.Header.Get(h) != "" {
			return true
		}
	}
	return false
}

// errNotPreflighted is the answer to an unauthenticated state change that a
// cross-site form could have sent.
func errNotPreflighted() error {
	return hogpipe.Errorf(hogpipe.EUnsupportedMedia,
		"send Content-Type: application/json (or an X-Requested-With header): without a credential, "+
			"hogpipe only takes requests a page of another site cannot send")
}

// trusted tells whether events in r may trigger real emails: they came
// from this machine (not cross-site), or through a webhook that passed
// authentication (a webhook reaches ingest only after authorizeWebhook, so
// with a credential configured it presented one). Capture from elsewhere
// and --insecure webhooks are not trusted: anyone can send them.
func (s *Server) trusted(r *http.Request, source hogpipe.Source) bool {
	return s.local(r) || (source == hogpipe.SourceWebhook && s.cfg.Security.WebhookAuthConfigured())
}
