package hogpipe

import (
	"strings"
	"time"
)

// SuppressionReason says why a recipient is on the suppression list.
type SuppressionReason string

const (
	SuppressUnsubscribed SuppressionReason = "unsubscribed" // the recipient asked (one-click link, Mailgun's own unsubscribe)
	SuppressBounced      SuppressionReason = "bounced"      // a permanent delivery failure
	SuppressComplained   SuppressionReason = "complained"   // the recipient marked an email as spam
	SuppressManual       SuppressionReason = "manual"       // an operator added the address
)

// SuppressionReasons lists every reason, for validation and help texts.
var SuppressionReasons = []SuppressionReason{SuppressUnsubscribed, SuppressBounced, SuppressComplained, SuppressManual}

// ParseSuppressionReason checks a reason from a user.
func ParseSuppressionReason(s string) (SuppressionReason, error) {
	names := make([]string, len(SuppressionReasons))
	for i, r := range SuppressionReasons {
		if string(r) == s {
			return r, nil
		}
		names[i] = string(r)
	}
	return "", FieldError("reason", "unknown reason %q; use one of %s", s, strings.Join(names, ", "))
}

// Suppression is one suppressed recipient: no email goes to Address
// (a NormalizeAddress key) while the row exists.
type Suppression struct {
	Address string            `json:"address"`
	Reason  SuppressionReason `json:"reason"`
	// Source says where it came from: "unsubscribe-link", "mailgun-webhook",
	// "mailgun-sync", "api", "cli".
	Source    string    `json:"source"`
	Detail    string    `json:"detail,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// EmailHistory is one thing that happened to an email after it was sent.
type EmailHistory struct {
	At     time.Time `json:"at"`
	Event  string    `json:"event"` // Mailgun's event name, with severity for failures ("failed:temporary")
	Detail string    `json:"detail,omitempty"`
}

// DeliveryEvent is a provider's report about one sent email (Mailgun's
// event webhooks), reduced to what hogpipe acts on.
type DeliveryEvent struct {
	// ID is the provider's event id: the same event arriving twice is
	// recorded once.
	ID string
	// Event is delivered, failed, complained, unsubscribed, opened or clicked.
	Event string
	// Severity is permanent or temporary (failed only).
	Severity  string
	Recipient string
	// EmailEventID is the hogpipe-event-id variable sent with the email:
	// the uuid of the event the email was made from.
	EmailEventID string
	At           time.Time
	Detail       string
	// Token is the webhook signature's token, remembered to refuse replays.
	Token string
}

// DeliveryResult is what recording a DeliveryEvent came to.
type DeliveryResult struct {
	Duplicate  bool   `json:"duplicate,omitempty"`
	EmailFound bool   `json:"email_found"`
	State      string `json:"state,omitempty"` // the email's state afterwards
	Suppressed bool   `json:"suppressed,omitempty"`
}

// Consented tells whether the event's person allows an email under the
// policy: without RequireConsent, always; with it, only when the person's
// property is true (JSON true, or the string "true" as some exports send).
func (p *EmailPolicy) Consented(e *Event) bool {
	if p.RequireConsent == "" {
		return true
	}
	for _, props := range []map[string]any{e.Person, e.Set} {
		switch v := props[p.RequireConsent].(type) {
		case bool:
			return v
		case string:
			return strings.EqualFold(strings.TrimSpace(v), "true")
		}
	}
	return false
}
