package server

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/hogpipe/hogpipe"
)

// webdist is the built web app (make build-web writes it). A fresh clone
// holds only .gitkeep, and the server says how to build the app.
//
//go:embed all:webdist
var webdist embed.FS

// WebAppBuilt tells whether the binary carries the built web app.
func WebAppBuilt() bool {
	_, err := fs.Stat(webdist, "webdist/index.html")
	return err == nil
}

// handleWebApp serves the embedded single-page app: real files as they
// are, any other GET path as index.html so client-side routes load.
func (s *Server) handleWebApp() http.Handler {
	sub, err := fs.Sub(webdist, "webdist")
	if err != nil {
		panic(err) // fixed at build time
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !WebAppBuilt() {
			writeCode(w, hogpipe.ENotFound, "the web app is not built into this binary; run 'make build' (or 'make run')")
			return
		}
		p := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
		if p == "" {
			p = "index.html"
		}
		if _, err := fs.Stat(sub, p); err != nil {
			if strings.HasPrefix(p, "api/") || path.Ext(p) != "" {
				s.handleNotFound().ServeHTTP(w, r)
				return
			}
			r2 := r.Clone(r.Context())
			r2.URL.Path = "/"
			p = "index.html"
			r = r2
		}
		if strings.HasPrefix(p, "assets/") {
			// Vite names assets by content hash: safe to cache for good.
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "no-cache")
		}
		files.ServeHTTP(w, r)
	})
}

// handleConfig tells the web app how to reach the pipeline: in local mode
// posthog-js sends to this origin with the first capture token.
func (s *Server) handleConfig() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := ""
		if len(s.cfg.CaptureTokens) > 0 {
			tok = s.cfg.CaptureTokens[0]
		}
		writeJSON(w, http.StatusOK, map[string]any{"capture_token": tok})
	})
}
