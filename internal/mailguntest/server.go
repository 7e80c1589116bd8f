// Package mailguntest is a local stand-in for Mailgun's messages API, for
// tests: it checks a request the way Mailgun does (basic auth api:KEY, the
// /v3/<domain>/messages path, the multipart form fields) and can be told to
// fail: 5xx, 429 with Retry-After, slow answers, 400 with an error body.
// It also serves the domain's suppression lists (unsubscribes, bounces,
// complaints, paged as Mailgun pages them) and sends signed event webhooks
// (see events.go).
package mailguntest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Message is an accepted message.
type Message struct {
	ID, From, To, Subject, Text, HTML string
	Vars                              map[string]string
	// Headers are the h:<name> fields: extra MIME headers.
	Headers map[string]string
}

// Response is a scripted answer. Zero Status means "accept".
type Response struct {
	Status     int
	RetryAfter string
	Delay      time.Duration
	Message    string
}

// Server is the fake Mailgun.
type Server struct {
	*httptest.Server
	APIKey, Domain string

	mu       sync.Mutex
	script   []Response
	always   *Response
	messages []Message
	requests int
	seq      int
	lists    map[string][]map[string]any // unsubscribes, bounces, complaints
}

// New starts a server that accepts messages for domain with key.
func New(apiKey, domain string) *Server {
	s := &Server{APIKey: apiKey, Domain: domain, lists: map[string][]map[string]any{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v3/{domain}/messages", s.messagesHandler)
	for _, l := range []string{"unsubscribes", "bounces", "complaints"} {
		mux.HandleFunc("GET /v3/{domain}/"+l, s.listHandler(l))
	}
	s.Server = httptest.NewServer(mux)
	return s
}

// authorized answers as Mailgun does a request with the wrong API key
// (401 "Forbidden") or for another domain (404), and says whether the
// request got past both.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	if !ok || user != "api" || pass != s.APIKey {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, "Forbidden")
		return false
	}
	if r.PathValue("domain") != s.Domain {
		writeMailgun(w, http.StatusNotFound, map[string]string{"message": "Domain not found: " + r.PathValue("domain")})
		return false
	}
	return true
}

// Then queues answers for the next requests, in order.
func (s *Server) Then(rs ...Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script = append(s.script, rs...)
}

// Always answers every request with r until Always(nil).
func (s *Server) Always(r *Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.always = r
}

// Messages returns the accepted messages.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Requests counts requests that reached the messages endpoint.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

func writeMailgun(w http.ResponseWriter, status int, body map[string]string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}

func (s *Server) messagesHandler(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	var resp Response
	switch {
	case len(s.script) > 0:
		resp, s.script = s.script[0], s.script[1:]
	case s.always != nil:
		resp = *s.always
	}
	s.mu.Unlock()

	if resp.Delay > 0 {
		select {
		case <-time.After(resp.Delay):
		case <-r.Context().Done():
			return
		}
	}
	if resp.Status != 0 {
		if resp.RetryAfter != "" {
			w.Header().Set("Retry-After", resp.RetryAfter)
		}
		msg := resp.Message
		if msg == "" {
			msg = http.StatusText(resp.Status)
		}
		writeMailgun(w, resp.Status, map[string]string{"message": msg})
		return
	}

	// What Mailgun checks, in its order.
	if !s.authorized(w, r) {
		return
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		writeMailgun(w, http.StatusBadRequest, map[string]string{"message": "expected multipart/form-data"})
		return
	}
	if err := r.ParseMultipartForm(10 << 20); err != nil {
		writeMailgun(w, http.StatusBadRequest, map[string]string{"message": "bad form: " + err.Error()})
		return
	}
	f := r.MultipartForm.Value
	get := func(k string) string {
		if v := f[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	for _, k := range []string{"from", "to", "subject"} {
		if get(k) == "" {
			writeMailgun(w, http.StatusBadRequest, map[string]string{"message": "'" + k + "' parameter is missing"})
			return
		}
	}
	if get("text") == "" && get("html") == "" {
		writeMailgun(w, http.StatusBadRequest, map[string]string{"message": "Need at least one of 'text', 'html', 'amp-html' or 'template' parameters specified"})
		return
	}
	m := Message{From: get("from"), To: get("to"), Subject: get("subject"), Text: get("text"), HTML: get("html"),
		Vars: map[string]string{}, Headers: map[string]string{}}
	for k, v := range f {
		if name, ok := strings.CutPrefix(k, "v:"); ok && len(v) > 0 {
			m.Vars[name] = v[0]
		}
		if name, ok := strings.CutPrefix(k, "h:"); ok && len(v) > 0 {
			m.Headers[http.CanonicalHeaderKey(name)] = v[0]
		}
	}
	if msg := checkUnsubscribeHeaders(m.Headers); msg != "" {
		writeMailgun(w, http.StatusBadRequest, map[string]string{"message": msg})
		return
	}
	s.mu.Lock()
	s.seq++
	m.ID = "<" + strconv.Itoa(s.seq) + "." + strconv.FormatInt(time.Now().UnixNano(), 36) + "@" + s.Domain + ">"
	s.messages = append(s.messages, m)
	s.mu.Unlock()
	writeMailgun(w, http.StatusOK, map[string]string{"id": m.ID, "message": "Queued. Thank you."})
}
