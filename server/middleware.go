package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/hogpipe/hogpipe"
)

type ctxKey struct{}

// reqInfo is per-request state the middleware logs after the handler ran.
type reqInfo struct {
	id     string
	reason string // why a request was rejected, for logs and metrics
	body   *prereadBody
}

func setRejectReason(r *http.Request, reason string) {
	if ri, ok := r.Context().Value(ctxKey{}).(*reqInfo); ok {
		ri.reason = reason
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

// Flush keeps http.Flusher visible through the wrapper, so a handler that
// flushes (http.ResponseController also finds it through Unwrap) is not
// silently buffered.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logRequests gives each request an id (echoed as X-Request-Id), recovers
// panics into 500s and logs one line per request.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ri := &reqInfo{id: fmt.Sprintf("%x-%d", start.UnixNano()&0xffffff, s.reqSeq.Add(1))}
		w.Header().Set("X-Request-Id", ri.id)
		sw := &statusWriter{ResponseWriter: w}
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, ri))
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("handler panic", "request_id", ri.id, "panic", p)
				if sw.status == 0 {
					writeCode(sw, hogpipe.EInternal, "internal error")
				}
			}
			s.metrics.Request(r.Pattern, sw.status, ri.reason)
			level := slog.LevelInfo
			switch {
			case quietReason(ri.reason):
				// A flood would otherwise write a log line per refused
				// request: the log becomes the attack's amplifier. The
				// metrics count them (hogpipe_requests_rejected_total).
				level = slog.LevelDebug
			case sw.status >= 500:
				level = slog.LevelWarn
			}
			if !s.log.Enabled(r.Context(), level) {
				return
			}
			attrs := []slog.Attr{
				slog.String("request_id", ri.id),
				slog.String("method", r.Method),
				slog.String("path", logPath(r.URL.Path)),
				slog.Int("status", sw.status),
				slog.Int("bytes", sw.bytes),
				slog.Duration("took", time.Since(start)),
			}
			if ri.reason != "" {
				attrs = append(attrs, slog.String("reject", ri.reason))
			}
			s.log.LogAttrs(r.Context(), level, "request", attrs...)
		}()
		next.ServeHTTP(sw, r)
	})
}

// logPath keeps recipients out of the log: an unsubscribe token carries
// the address (base64, readable by anyone), and the suppression API takes
// one in its path. The path is cleaned first: "//unsubscribe/…" and
// "/x/../unsubscribe/…" reach the log too (as redirects).
func logPath(p string) string {
	clean := path.Clean("/" + p)
	for _, prefix := range []string{"/unsubscribe/", "/api/suppressions/"} {
		if strings.HasPrefix(clean, prefix) {
			return prefix + "…"
		}
	}
	return p
}
