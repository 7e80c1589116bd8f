// Package mailgun is the email destination's Sender (it implements
// outbox.Sender over hogpipe.Message and hogpipe.SendError, without
// importing outbox): the Mailgun HTTP API through
// github.com/mailgun/mailgun-go, and Mailgun's event webhooks and
// suppression lists (events.go).
package mailgun

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	mg "github.com/mailgun/mailgun-go/v4"

	"github.com/hogpipe/hogpipe"
)

// Config is Mailgun's configuration.
type Config struct {
	APIKey string
	Domain string
	// APIBase is the API's origin: https://api.mailgun.net (US, default),
	// https://api.eu.mailgun.net (EU), or a local server in tests.
	APIBase string
}

// DefaultAPIBase is Mailgun's US API.
const DefaultAPIBase = "https://api.mailgun.net"

// Validate says what is wrong with the configuration, in terms of the
// environment variables a user sets.
func (c Config) Validate() error {
	switch {
	case c.APIKey == "" && c.Domain == "":
		return errors.New("MAILGUN_API_KEY and MAILGUN_DOMAIN are not set")
	case c.APIKey == "":
		return errors.New("MAILGUN_DOMAIN is set but MAILGUN_API_KEY is not: set both to send, or neither for dry-run")
	case c.Domain == "":
		return errors.New("MAILGUN_API_KEY is set but MAILGUN_DOMAIN is not: set both to send, or neither for dry-run")
	case strings.ContainsAny(c.Domain, ":/@ "):
		return fmt.Errorf("MAILGUN_DOMAIN %q should be a bare domain such as mg.example.com", c.Domain)
	}
	u, err := url.Parse(c.APIBase)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("MAILGUN_API_BASE %q is not an http(s) URL such as %s", c.APIBase, DefaultAPIBase)
	}
	if u.Path != "" && u.Path != "/" {
		return fmt.Errorf("MAILGUN_API_BASE %q should be the API's origin without a path (hogpipe adds /v3)", c.APIBase)
	}
	return nil
}

// Sender sends through Mailgun.
type Sender struct {
	client *mg.MailgunImpl
}

// New returns a Sender. Its HTTP client has no timeout of its own: each
// send's context carries the outbox's timeout.
func New(c Config) (*Sender, error) {
	if c.APIBase == "" {
		c.APIBase = DefaultAPIBase
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	client := mg.NewMailgun(c.Domain, c.APIKey)
	client.SetAPIBase(strings.TrimSuffix(c.APIBase, "/") + "/v3")
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	client.SetClient(&http.Client{Transport: retryAfterTransport{tr}})
	return &Sender{client: client}, nil
}

// Send sends one message and returns Mailgun's message id.
func (s *Sender) Send(ctx context.Context, m hogpipe.Message) (string, error) {
	msg := mg.NewMessage(m.From, m.Subject, m.Text, m.To)
	if m.HTML != "" {
		msg.SetHtml(m.HTML)
	}
	if err := msg.AddVariable("hogpipe-event-id", m.EventID); err != nil {
		return "", &hogpipe.SendError{Permanent: true, Err: err}
	}
	for k, v := range m.Headers {
		msg.AddHeader(k, v) // sent as h:<name> form fields
	}
	var ra retryAfter
	_, id, err := s.client.Send(context.WithValue(ctx, retryAfterKey{}, &ra), msg)
	if err != nil {
		return "", classify(err, ra.d)
	}
	return id, nil
}

// classify turns mailgun-go's errors into the outbox's: 429 and 5xx and
// network trouble are transient, other 4xx are permanent with Mailgun's
// own message kept.
func classify(err error, retryAfter time.Duration) error {
	var ure *mg.UnexpectedResponseError
	if errors.As(err, &ure) {
		body := strings.TrimSpace(string(ure.Data))
		if len(body) > 500 {
			body = body[:500] + "…"
		}
		e := fmt.Errorf("mailgun answered %d: %s", ure.Actual, body)
		switch {
		case ure.Actual == http.StatusTooManyRequests || ure.Actual >= 500:
			return &hogpipe.SendError{RetryAfter: retryAfter, Err: e}
		case ure.Actual == http.StatusRequestTimeout:
			return &hogpipe.SendError{Err: e}
		default:
			return &hogpipe.SendError{Permanent: true, Err: e}
		}
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) {
		return &hogpipe.SendError{Err: err}
	}
	if errors.Is(err, mg.ErrInvalidMessage) {
		return &hogpipe.SendError{Permanent: true, Err: err}
	}
	return &hogpipe.SendError{Err: err} // unknown: assume transient, attempts are bounded
}

// mailgun-go does not expose response headers; this transport reads
// Retry-After into a holder the request's context carries.
type retryAfterKey struct{}

type retryAfter struct{ d time.Duration }

type retryAfterTransport struct{ base http.RoundTripper }

func (t retryAfterTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err == nil {
		if h, ok := r.Context().Value(retryAfterKey{}).(*retryAfter); ok {
			h.d = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
		}
	}
	return resp, err
}

// maxRetryAfter bounds the wait a Retry-After can ask for (the outbox
// waits an hour at most anyway): seconds that do not fit a Duration must
// not wrap into a short or negative wait.
const maxRetryAfter = 24 * time.Hour

// parseRetryAfter reads seconds or an HTTP date; anything else is no wait.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseUint(v, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		if err != nil || s > uint64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), maxRetryAfter)
	}
	return 0
}
