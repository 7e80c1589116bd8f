package hogpipe

import (
	"strings"
	"time"
)

// EmailState is where an email is in the outbox.
type EmailState string

const (
	EmailQueued     EmailState = "queued"     // waiting for a worker
	EmailSending    EmailState = "sending"    // a worker holds it (until its lease ends)
	EmailSent       EmailState = "sent"       // Mailgun accepted it (message id kept)
	EmailRetrying   EmailState = "retrying"   // a send failed transiently; next_attempt_at says when
	EmailFailed     EmailState = "failed"     // permanently failed or out of attempts; replayable
	EmailSkipped    EmailState = "skipped"    // nothing to send (no address)
	EmailSuppressed EmailState = "suppressed" // not sent: frequency cap, or the recipient is on the suppression list (reason says which)
	EmailDryRun     EmailState = "dry_run"    // rendered, not sent: Mailgun is not configured
	EmailNoConsent  EmailState = "no_consent" // not sent: the person's consent property is not true
	EmailDelivered  EmailState = "delivered"  // Mailgun reported delivery to the recipient's server
	EmailBounced    EmailState = "bounced"    // Mailgun reported a permanent failure; the address is suppressed
	EmailComplained EmailState = "complained" // the recipient marked it as spam; the address is suppressed
	// EmailDeferred: a send budget (per hour, in all or per recipient
	// domain) is spent; next_attempt_at says when it frees up. Like a 429:
	// the email waits, it is never dropped.
	EmailDeferred EmailState = "deferred"
)

// EmailStates lists every state, for validation and help texts.
var EmailStates = []EmailState{EmailQueued, EmailSending, EmailSent, EmailRetrying, EmailFailed, EmailSkipped, EmailSuppressed, EmailDryRun,
	EmailNoConsent, EmailDelivered, EmailBounced, EmailComplained, EmailDeferred}

// Email is one row of the outbox: at most one per event.
type Email struct {
	ID            int64      `json:"id"`
	EventID       string     `json:"event_id"`
	State         EmailState `json:"state"`
	Recipient     string     `json:"recipient"`
	Template      string     `json:"template"`
	Attempts      int        `json:"attempts"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	LastError     string     `json:"last_error,omitempty"`
	Reason        string     `json:"reason,omitempty"`
	MessageID     string     `json:"message_id,omitempty"`
	Subject       string     `json:"subject,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
	// Opens and Clicks count Mailgun's opened and clicked events (filled
	// where one email is shown, like History).
	Opens  int `json:"opens,omitempty"`
	Clicks int `json:"clicks,omitempty"`
	// History is what happened to the email after it was sent (Mailgun's
	// events); filled only where one email is shown.
	History []EmailHistory `json:"history,omitempty"`
}

// EmailPolicy is what the store needs to queue emails with events.
type EmailPolicy struct {
	// Events are the event names that become emails.
	Events []string
	// CapWindow: at most one email per recipient and template within it.
	// Recipients are compared by NormalizeAddress.
	CapWindow time.Duration
	// RequireConsent, when set, names the person property that must be
	// true for an email to be sent (else the email is no_consent).
	RequireConsent string
	// SendsPerHour and DomainSendsPerHour are the send budgets: at most so
	// many emails handed to the provider within any hour, in all and per
	// recipient domain (0: no limit). Past them emails are deferred.
	SendsPerHour, DomainSendsPerHour int
	// FromUntrusted lets events that are not Trusted (capture from another
	// machine, unauthenticated webhooks under --insecure) trigger a real
	// send. Off by default: the capture token is public, so anyone could
	// otherwise pick recipients and mail them from the operator's domain.
	FromUntrusted bool
}

// UntrustedReason is why an email for an untrusted event was not sent.
const UntrustedReason = "not sent: the event came from an unauthenticated client on another machine " +
	"(capture with the public token, or an --insecure webhook); set --email-from-capture to allow"

// RecipientDomain is the domain part of a normalized address, the key of
// the per-domain send budget.
func RecipientDomain(key string) string {
	if at := strings.LastIndexByte(key, '@'); at >= 0 {
		return key[at+1:]
	}
	return ""
}

// Wants tells whether an event name feeds the email destination.
func (p *EmailPolicy) Wants(name string) bool {
	for _, n := range p.Events {
		if n == name {
			return true
		}
	}
	return false
}

// EmailRecipient finds the address an event's email goes to, in order:
// the person's email, the event's $set.email, an "email" property, and the
// original app's properties.person.properties.email.
func EmailRecipient(e *Event) string {
	candidates := []any{e.Person["email"], e.Set["email"], e.Properties["email"]}
	if set, ok := e.Properties["$set"].(map[string]any); ok {
		candidates = append(candidates, set["email"])
	}
	if p, ok := e.Properties["person"].(map[string]any); ok {
		if pp, ok := p["properties"].(map[string]any); ok {
			candidates = append(candidates, pp["email"])
		}
	}
	for _, c := range candidates {
		if s, ok := c.(string); ok {
			if s = strings.TrimSpace(s); ValidEmail(s) {
				return s
			}
		}
	}
	return ""
}

// NormalizeAddress is the key one recipient is known by, wherever hogpipe
// compares addresses (frequency cap, suppression list, unsubscribe tokens).
// Mailbox providers treat addresses case-insensitively in practice, so the
// whole address is lower-cased (Unicode-aware), with surrounding space and a
// trailing dot on the domain removed. Nothing else is folded: "+tags" and
// dots in the local part name distinct mailboxes at most providers.
func NormalizeAddress(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if at := strings.LastIndexByte(s, '@'); at >= 0 {
		s = s[:at+1] + strings.TrimSuffix(s[at+1:], ".")
	}
	return s
}

// ValidEmail is a deliberately loose check: one @, something on each side,
// a dot in the domain, no spaces or angle brackets. Mailgun judges the rest.
// Quotes, comments and escapes are refused too: `"victim"@example.org`,
// `victim@example.org(x)` and `"vic\tim"@example.org` are all the mailbox
// victim@example.org to mail software, and each spelling would otherwise
// be a recipient of its own to the frequency cap and the suppression list
// (FuzzRecipientKey). Address literals ([192.0.2.1]) go with them.
func ValidEmail(s string) bool {
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || len(s) > 254 || strings.ContainsAny(s, " \t\r\n<>,;\"()\\[]") {
		return false
	}
	return strings.Contains(s[at+1:], ".")
}

// OutboxItem is an email a worker claimed, with the event it is made from.
type OutboxItem struct {
	Email Email
	Event Event
}

// EmailOutcome is what one attempt to send an email came to.
type EmailOutcome struct {
	State         EmailState
	MessageID     string
	LastError     string
	Subject       string
	NextAttemptAt *time.Time
	At            time.Time
}

// Message is one email as the provider gets it: rendered by the outbox,
// sent by mailgun.
type Message struct {
	From, To, Subject, Text, HTML string
	// EventID goes with the message (as v:hogpipe-event-id in Mailgun) so
	// a duplicate can be traced to its event.
	EventID string
	// Headers are extra MIME headers (List-Unsubscribe, Reply-To).
	Headers map[string]string
}

// SendError classifies a failed send, so the outbox knows whether to
// retry and when. Errors that are not a *SendError are treated as
// transient.
type SendError struct {
	Permanent  bool          // retrying cannot help (a 4xx other than 429)
	RetryAfter time.Duration // the provider asked us to wait this long
	Err        error
}

func (e *SendError) Error() string { return e.Err.Error() }
func (e *SendError) Unwrap() error { return e.Err }

func validState(s string) bool {
	for _, st := range EmailStates {
		if string(st) == s {
			return true
		}
	}
	return false
}

// CheckReplay says whether emails in state may be queued again. Replay is
// for emails that did not go out: failed and retrying ones. Re-sending what
// was already sent (or rendered in dry-run) needs force, which only the
// command line offers, never the HTTP API: a replay of "sent" mails every
// recipient again. Suppressed and skipped emails are never replayed, force
// or not: the frequency cap and the sending policy held them back, and a
// replay must not be a way around either.
func CheckReplay(state EmailState, force bool) error {
	switch state {
	case EmailFailed, EmailRetrying:
		return nil
	case EmailSent, EmailDryRun, EmailDelivered:
		if force {
			return nil
		}
		return FieldError("state", "%s emails were already sent or rendered; replaying them mails every recipient again, "+
			"so only the command line allows it, with --force", state)
	// no_consent among them: consent is checked when the event arrives,
	// not at sending, so a replay would mail people who never consented.
	case EmailSuppressed, EmailSkipped, EmailNoConsent:
		return FieldError("state", "%s emails are never replayed: the suppression list, the frequency cap, consent or the sending policy held them back", state)
	case EmailBounced, EmailComplained:
		// The address was suppressed with it; the worker checks the list
		// again before sending, so a forced replay reaches only addresses
		// the operator took off the list on purpose.
		if force {
			return nil
		}
		return FieldError("state", "%s emails went to an address that refused them or reported spam; "+
			"only the command line replays them, with --force, and only to addresses removed from the suppression list", state)
	default:
		return FieldError("state", "%s emails are already being worked on; replay takes failed or retrying", state)
	}
}

// ParseEmailState checks a state name from a user.
func ParseEmailState(s string) (EmailState, error) {
	if !validState(s) {
		names := make([]string, len(EmailStates))
		for i, st := range EmailStates {
			names[i] = string(st)
		}
		return "", FieldError("state", "unknown state %q; use one of %s", s, strings.Join(names, ", "))
	}
	return EmailState(s), nil
}
