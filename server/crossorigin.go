package server

import (
	"net/http"

	"github.com/hogpipe/hogpipe"
)

// adminOnly guards the admin API: requireAdmin, and no writes from
// another site. requireAdmin lets local requests through without a token,
// and a page on any site can make the operator's browser send a "simple"
// POST (text/plain, no CORS preflight) to 127.0.0.1: without this check it
// could replay every sent email or edit the suppression list. Browsers say
// where a request comes from (Sec-Fetch-Site, Origin); the stdlib's
// CrossOriginProtection reads them and lets safe methods, same-origin
// requests and non-browser clients (no such headers) through.
//
// The cross-origin check comes first: a cross-site request is never local
// (crosssite.go), so requireAdmin would refuse it too, but with a 401
// asking for a token, where the truth is that no token makes a cross-site
// browser write acceptable.
func (s *Server) adminOnly(next http.Handler) http.Handler {
	var cop http.CrossOriginProtection
	admin := s.requireAdmin(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := cop.Check(r); err != nil {
			setRejectReason(r, hogpipe.ECrossOrigin)
			writeCode(w, hogpipe.ECrossOrigin,
				"cross-origin "+r.Method+" refused: the admin API takes writes only from this server's own pages or from non-browser clients")
			return
		}
		admin.ServeHTTP(w, r)
	})
}
