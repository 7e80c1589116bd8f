package server

import (
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hogpipe/hogpipe"
	"github.com/hogpipe/hogpipe/unsubscribe"
)

// Feedback is what the server needs for the way back from email:
// one-click unsubscribe, Mailgun's event webhooks, the suppression list
// and email previews. Zero fields turn their routes off (they answer 404
// or 401 saying what to configure).
type Feedback struct {
	// Unsubscribe checks the tokens of unsubscribe links.
	Unsubscribe *unsubscribe.Signer
	// Mailgun verifies and reads Mailgun's event webhooks.
	Mailgun MailgunWebhooks
	// Preview renders an email as it was (or would be) sent.
	Preview func(ctx context.Context, emailID int64) (subject, html string, err error)
}

// mailgunWebhookPath takes Mailgun's event webhooks. They are checked by
// the signature in their body, not by the PostHog webhook credentials
// (admission's precheck leaves them alone).
const mailgunWebhookPath = "/api/webhooks/mailgun"

// MailgunWebhooks verifies a Mailgun webhook and reads its event.
type MailgunWebhooks interface {
	Parse(body []byte, now time.Time) (ev hogpipe.DeliveryEvent, known bool, err error)
	// TokenTTL is how long signature tokens are remembered against replay.
	TokenTTL() time.Duration
}

// feedbackRoutes adds the routes of this file (called from routes).
func (s *Server) feedbackRoutes(mux *http.ServeMux, admin func(http.Handler) http.Handler) {
	// One-click unsubscribe (RFC 8058): GET shows a page and changes
	// nothing (link scanners follow links); POST unsubscribes. Anyone
	// holding a valid token may use it: the token is the credential.
	// {token...}: a link damaged into more segments (a "/" added by a
	// mail client, a wrapped line) gets the "damaged link" page, not the
	// web app or a bare 404.
	unsub := s.handleUnsubscribe()
	s.methods(mux, "/unsubscribe/{token...}", map[string]http.Handler{"GET": unsub, "POST": unsub})

	// Mailgun's event webhooks: authenticated by their signature.
	s.handle(mux, "POST", mailgunWebhookPath, s.handleMailgunWebhook())

	// Suppression list and one email with its history (admin).
	sup := admin(s.handleSuppressions())
	s.methods(mux, "/api/suppressions", map[string]http.Handler{"GET": sup, "POST": sup})
	s.handle(mux, "DELETE", "/api/suppressions/{address}", sup)
	s.methods(mux, "/api/emails/{id}", map[string]http.Handler{"GET": admin(s.handleEmail())})
	s.methods(mux, "/api/emails/{id}/preview", map[string]http.Handler{"GET": admin(s.handleEmailPreview())})
}

// methods registers one method-less pattern that dispatches by method
// (two "GET p" and "POST p" registrations through handle would each add a
// catch-all 405 for p, which ServeMux refuses as a duplicate).
func (s *Server) methods(mux *http.ServeMux, path string, hs map[string]http.Handler) {
	var allow []string
	for m := range hs {
		allow = append(allow, m)
	}
	if _, ok := hs["GET"]; ok {
		hs["HEAD"] = hs["GET"]
	}
	mux.Handle(path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h, ok := hs[r.Method]; ok {
			h.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		setRejectReason(r, hogpipe.EMethodNotAllowed)
		writeCode(w, hogpipe.EMethodNotAllowed, r.Method+" is not allowed here; use "+strings.Join(allow, " or "))
	}))
}

var unsubscribePage = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>{{.Title}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;line-height:1.5;color:#222}
button{font-size:1rem;padding:.6rem 1.2rem;border-radius:.4rem;border:0;background:#c2410c;color:#fff;cursor:pointer}</style>
</head><body><main id="unsubscribe-page" data-state="{{.State}}">
<h1>{{.Title}}</h1>
{{if eq .State "confirm"}}<p>Stop marketing email to <strong>{{.Address}}</strong>? You will get no more emails like this one from us.</p>
<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit" id="confirm-unsubscribe">Unsubscribe</button></form>
{{else}}<p>{{.Message}}</p>{{end}}
</main></body></html>
`))

type pageData struct{ Title, State, Address, Message string }

func writePage(w http.ResponseWriter, status int, d pageData) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer") // the token is in the URL
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	w.WriteHeader(status)
	unsubscribePage.Execute(w, d)
}

// wantsHTML: a person's browser (the confirmation button), not a mailbox
// provider's one-click POST.
func wantsHTML(r *http.Request) bool { return strings.Contains(r.Header.Get("Accept"), "text/html") }

// handleUnsubscribe answers GET and POST /unsubscribe/{token}.
func (s *Server) handleUnsubscribe() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		html := r.Method != http.MethodPost || wantsHTML(r)
		fail := func(code, msg string) {
			setRejectReason(r, code)
			if html {
				writePage(w, statusOf(code), pageData{Title: "This link does not work", State: "error", Message: msg})
				return
			}
			writeCode(w, code, msg)
		}
		signer := s.cfg.Feedback.Unsubscribe
		if signer == nil {
			fail(hogpipe.ENotFound, "unsubscribe links are not enabled on this server")
			return
		}
		c, err := signer.Verify(r.PathValue("token"), s.now())
		switch {
		case errors.Is(err, unsubscribe.ErrExpired):
			fail(hogpipe.EExpired, err.Error()+"; use the link in a more recent email, or reply to the email and ask")
			return
		case errors.Is(err, unsubscribe.ErrForged):
			fail(hogpipe.EForbidden, err.Error())
			return
		case err != nil:
			fail(hogpipe.EMalformed, err.Error())
			return
		}
		if r.Method != http.MethodPost {
			writePage(w, http.StatusOK, pageData{Title: "Unsubscribe", State: "confirm", Address: c.Address})
			return
		}
		// RFC 8058: the body says List-Unsubscribe=One-Click; the page's
		// button sends the same. The token alone authorizes, so a body is
		// not required, but it is bounded.
		r.Body = http.MaxBytesReader(w, r.Body, 4096)
		r.ParseForm()
		_, err = s.store.AddSuppressions(r.Context(), []hogpipe.Suppression{{Address: c.Address, Reason: hogpipe.SuppressUnsubscribed,
			Source: "unsubscribe-link", Detail: "one-click link in a " + c.Kind + " email", CreatedAt: s.now()}})
		if err != nil {
			if html && hogpipe.ErrorCode(err) == hogpipe.EUnavailable {
				w.Header().Set("Retry-After", retryAfterSeconds)
				writePage(w, statusOf(hogpipe.EUnavailable), pageData{Title: "Please try again", State: "error",
					Message: "We could not record your request just now. Please press the button again in a moment."})
				return
			}
			writeError(w, r, s.log, err)
			return
		}
		if html {
			writePage(w, http.StatusOK, pageData{Title: "You are unsubscribed", State: "done",
				Message: "We will not send marketing email to " + c.Address + " any more."})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "unsubscribed": true})
	})
}

// handleMailgunWebhook answers POST /api/webhooks/mailgun.
func (s *Server) handleMailgunWebhook() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mg := s.cfg.Feedback.Mailgun
		if mg == nil {
			writeError(w, r, s.log, hogpipe.Errorf(hogpipe.EUnauthorized,
				"Mailgun webhooks are not configured: set MAILGUN_WEBHOOK_SIGNING_KEY"))
			return
		}
		body, release, err := readBody(w, r, s.cfg.MaxBodyBytes)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		ev, known, err := mg.Parse(body, s.now())
		release()
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		if !known {
			// Its token is remembered all the same (the signature does not
			// cover the event, so the token must not carry another one);
			// then acknowledged: Mailgun retries anything but 2xx (and 406).
			if _, err := s.store.RecordDelivery(r.Context(), hogpipe.DeliveryEvent{ID: ev.ID, Token: ev.Token}, s.now(), mg.TokenTTL()); err != nil {
				writeError(w, r, s.log, err)
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"status": "ignored", "reason": "event not used by hogpipe"})
			return
		}
		res, err := s.store.RecordDelivery(r.Context(), ev, s.now(), mg.TokenTTL())
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		status := "ok"
		if res.Duplicate {
			status = "duplicate"
		}
		writeJSON(w, http.StatusOK, map[string]any{"status": status, "result": res})
	})
}

// handleSuppressions answers GET /api/suppressions?reason=&limit= (the
// list with counts by reason), POST /api/suppressions {"address",
// "reason", "detail"} and DELETE /api/suppressions/{address}.
func (s *Server) handleSuppressions() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodDelete:
			addr := r.PathValue("address")
			removed, err := s.store.RemoveSuppression(r.Context(), addr)
			if err != nil {
				writeError(w, r, s.log, err)
				return
			}
			if !removed {
				writeError(w, r, s.log, hogpipe.Errorf(hogpipe.ENotFound, "%s is not on the suppression list", hogpipe.NormalizeAddress(addr)))
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "removed": hogpipe.NormalizeAddress(addr)})
		case http.MethodPost:
			body, release, err := readBody(w, r, 64<<10)
			if err != nil {
				writeError(w, r, s.log, err)
				return
			}
			var in struct {
				Address string `json:"address"`
				Reason  string `json:"reason"`
				Detail  string `json:"detail"`
			}
			err = json.Unmarshal(body, &in)
			release()
			if err != nil {
				writeError(w, r, s.log, hogpipe.Errorf(hogpipe.EMalformed, "body is not a JSON object: %v", err))
				return
			}
			reason := hogpipe.SuppressManual
			if in.Reason != "" {
				if reason, err = hogpipe.ParseSuppressionReason(in.Reason); err != nil {
					writeError(w, r, s.log, err)
					return
				}
			}
			n, err := s.store.AddSuppressions(r.Context(), []hogpipe.Suppression{{Address: in.Address, Reason: reason, Source: "api",
				Detail: in.Detail, CreatedAt: s.now()}})
			if err != nil {
				writeError(w, r, s.log, err)
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "address": hogpipe.NormalizeAddress(in.Address), "added": n == 1})
		default:
			q := r.URL.Query()
			var reason hogpipe.SuppressionReason
			if v := q.Get("reason"); v != "" {
				var err error
				if reason, err = hogpipe.ParseSuppressionReason(v); err != nil {
					writeError(w, r, s.log, asParam("reason", err))
					return
				}
			}
			limit, err := queryInt(q, "limit", 100, 1, 1000)
			if err != nil {
				writeError(w, r, s.log, err)
				return
			}
			list, err := s.store.ListSuppressions(r.Context(), reason, limit)
			if err != nil {
				writeError(w, r, s.log, err)
				return
			}
			counts, err := s.store.SuppressionCounts(r.Context())
			if err != nil {
				writeError(w, r, s.log, err)
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"suppressions": list, "counts": counts})
		}
	})
}

func emailID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return 0, paramError("id", "email ids are positive numbers, got %q", r.PathValue("id"))
	}
	return id, nil
}

// handleEmail answers GET /api/emails/{id}: one email with its counters
// and history.
func (s *Server) handleEmail() http.Handler {
	return s.answerJSON(func(r *http.Request) (any, error) {
		id, err := emailID(r)
		if err != nil {
			return nil, err
		}
		return s.store.Email(r.Context(), id)
	})
}

// handleEmailPreview answers GET /api/emails/{id}/preview: the HTML part as
// rendered now from the email's event (dry-run emails are never sent, so
// this is how to read them). Sandboxed: the page can follow its links but
// runs no script.
func (s *Server) handleEmailPreview() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := emailID(r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		if s.cfg.Feedback.Preview == nil {
			writeError(w, r, s.log, hogpipe.Errorf(hogpipe.ENotFound, "previews are not available"))
			return
		}
		_, html, err := s.cfg.Feedback.Preview(r.Context(), id)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Security-Policy", "sandbox allow-top-navigation-by-user-activation allow-popups; default-src 'none'; style-src 'unsafe-inline'; img-src https: data:")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(html))
	})
}
