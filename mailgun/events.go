package mailgun

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	mg "github.com/mailgun/mailgun-go/v4"
	"github.com/mailgun/mailgun-go/v4/events"

	"github.com/hogpipe/hogpipe"
)

// Webhooks checks and reads Mailgun's event webhooks with mailgun-go's
// own verification and event types.
type Webhooks struct {
	client *mg.MailgunImpl
	// MaxAge is how old a signature's timestamp may be; older is refused
	// as stale. It is also how long tokens are remembered against replays.
	MaxAge time.Duration
}

// MaxSkew is how far in the future a timestamp may be (clock skew).
const MaxSkew = 5 * time.Minute

// NewWebhooks returns a checker for the domain's webhook signing key
// (Mailgun console → Sending → Webhooks → HTTP webhook signing key; not
// the API key).
func NewWebhooks(signingKey string, maxAge time.Duration) *Webhooks {
	c := mg.NewMailgun("", "")
	c.SetWebhookSigningKey(signingKey)
	return &Webhooks{client: c, MaxAge: maxAge}
}

// Parse verifies a webhook body and returns the event. known is false for
// events hogpipe does not act on (accepted, stored, list events, ...): they
// are acknowledged and ignored, and ev holds only their ID and Token (to be
// remembered against replays). Errors are EUnauthorized (signature),
// ERejected (stale or future timestamp) or EMalformed.
func (w *Webhooks) Parse(body []byte, now time.Time) (ev hogpipe.DeliveryEvent, known bool, err error) {
	var p mg.WebhookPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return ev, false, hogpipe.Errorf(hogpipe.EMalformed, "body is not a Mailgun webhook: %v", err)
	}
	sig := p.Signature
	if sig.Signature == "" || sig.Token == "" || sig.TimeStamp == "" {
		return ev, false, hogpipe.Errorf(hogpipe.EUnauthorized, "signature.timestamp, signature.token and signature.signature are required")
	}
	// mailgun-go falls back to the API key when no signing key is set;
	// hogpipe never lets it (the caller refuses without a key), and checks
	// again here so a zero key can never verify.
	if w.client.WebhookSigningKey() == "" {
		return ev, false, hogpipe.Errorf(hogpipe.EUnauthorized, "MAILGUN_WEBHOOK_SIGNING_KEY is not set")
	}
	ok, verr := w.client.VerifyWebhookSignature(sig)
	if verr != nil || !ok {
		return ev, false, hogpipe.Errorf(hogpipe.EUnauthorized, "signature does not match MAILGUN_WEBHOOK_SIGNING_KEY")
	}
	ts, err := strconv.ParseInt(sig.TimeStamp, 10, 64)
	if err != nil {
		return ev, false, hogpipe.Errorf(hogpipe.EUnauthorized, "signature.timestamp %q is not unix seconds", sig.TimeStamp)
	}
	at := time.Unix(ts, 0)
	switch {
	case now.Sub(at) > w.MaxAge:
		return ev, false, hogpipe.Errorf(hogpipe.ERejected, "signature timestamp is %s old, more than the %s accepted: refused as stale",
			now.Sub(at).Round(time.Second), w.MaxAge)
	case at.Sub(now) > MaxSkew:
		return ev, false, hogpipe.Errorf(hogpipe.ERejected, "signature timestamp is %s in the future", at.Sub(now).Round(time.Second))
	}
	// Mailgun signs the timestamp and token, not the event: an event
	// hogpipe ignores still returns its token and id, so the caller can
	// remember the token and no other event can be put under it.
	ignored := hogpipe.DeliveryEvent{ID: "token:" + sig.Token, Token: sig.Token}
	e, err := mg.ParseEvent(p.EventData)
	if err != nil {
		if strings.Contains(err.Error(), "unsupported event") {
			return ignored, false, nil
		}
		return ev, false, hogpipe.Errorf(hogpipe.EMalformed, "event-data: %v", err)
	}
	if id := e.GetID(); id != "" {
		ignored.ID = id
	}
	ev = hogpipe.DeliveryEvent{ID: e.GetID(), Event: e.GetName(), At: e.GetTimestamp(), Token: sig.Token}
	var vars any
	switch e := e.(type) {
	case *events.Delivered:
		ev.Recipient, vars = e.Recipient, e.UserVariables
		ev.Detail = statusDetail(e.DeliveryStatus)
	case *events.Failed:
		ev.Recipient, vars, ev.Severity = e.Recipient, e.UserVariables, strings.ToLower(e.Severity)
		ev.Detail = strings.TrimSpace(e.Reason + " " + statusDetail(e.DeliveryStatus))
		if ev.Severity != "permanent" && ev.Severity != "temporary" {
			return ev, false, hogpipe.FieldError("event-data.severity", "want permanent or temporary, got %q", e.Severity)
		}
	case *events.Complained:
		ev.Recipient, vars = e.Recipient, e.UserVariables
	case *events.Unsubscribed:
		ev.Recipient, vars = e.Recipient, e.UserVariables
	case *events.Opened:
		ev.Recipient, vars = e.Recipient, e.UserVariables
	case *events.Clicked:
		ev.Recipient, vars, ev.Detail = e.Recipient, e.UserVariables, e.Url
	default:
		return ignored, false, nil
	}
	if m, ok := vars.(map[string]any); ok {
		ev.EmailEventID, _ = m["hogpipe-event-id"].(string)
	}
	if ev.ID == "" {
		// Mailgun always sends one; without it the token stands in, so a
		// redelivery is still recorded once.
		ev.ID = "token:" + sig.Token
	}
	return ev, true, nil
}

func statusDetail(s events.DeliveryStatus) string {
	var parts []string
	if s.Code != 0 {
		parts = append(parts, strconv.Itoa(s.Code))
	}
	for _, p := range []string{s.Message, s.Description} {
		if p = strings.TrimSpace(p); p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, " ")
}

// Suppressions reads Mailgun's own suppression lists for the domain
// (unsubscribes, bounces, complaints), every page of each.
func (s *Sender) Suppressions(ctx context.Context) ([]hogpipe.Suppression, error) {
	var out []hogpipe.Suppression
	opts := &mg.ListOptions{Limit: 1000}
	add := func(addr string, reason hogpipe.SuppressionReason, at mg.RFC2822Time, detail string) {
		t := time.Time(at)
		if t.IsZero() {
			t = time.Now()
		}
		out = append(out, hogpipe.Suppression{Address: addr, Reason: reason, Source: "mailgun-sync", Detail: detail, CreatedAt: t})
	}
	var unsubs []mg.Unsubscribe
	ui := s.client.ListUnsubscribes(opts)
	for ui.Next(ctx, &unsubs) {
		for _, u := range unsubs {
			add(u.Address, hogpipe.SuppressUnsubscribed, u.CreatedAt, strings.Join(u.Tags, ","))
		}
	}
	if err := ui.Err(); err != nil {
		return nil, fmt.Errorf("read Mailgun's unsubscribes: %w", err)
	}
	var bounces []mg.Bounce
	bi := s.client.ListBounces(opts)
	for bi.Next(ctx, &bounces) {
		for _, b := range bounces {
			add(b.Address, hogpipe.SuppressBounced, b.CreatedAt, strings.TrimSpace(b.Code+" "+b.Error))
		}
	}
	if err := bi.Err(); err != nil {
		return nil, fmt.Errorf("read Mailgun's bounces: %w", err)
	}
	var complaints []mg.Complaint
	ci := s.client.ListComplaints(opts)
	for ci.Next(ctx, &complaints) {
		for _, c := range complaints {
			add(c.Address, hogpipe.SuppressComplained, c.CreatedAt, "")
		}
	}
	if err := ci.Err(); err != nil {
		return nil, fmt.Errorf("read Mailgun's complaints: %w", err)
	}
	return out, nil
}

// TokenTTL is how long a token must be remembered: as long as its
// timestamp can still pass as fresh.
func (w *Webhooks) TokenTTL() time.Duration { return w.MaxAge + MaxSkew }
