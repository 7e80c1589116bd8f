package sqlstore

import (
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hogpipe/hogpipe"
)

// The checks that keep the email outbox (outbox.go) from being used as a
// relay, one helper each: who may trigger a real send (untrustedHold), how often one
// recipient hears from us (capHolds), and how much is sent per hour
// (sendBudget).

// untrustedHold tells why an event may not trigger a real email, or "".
// The capture token is public: without this, anyone could choose a
// recipient and the text of a mail sent from the operator's domain.
func untrustedHold(e *hogpipe.Event, policy *hogpipe.EmailPolicy) string {
	if e.Trusted || policy.FromUntrusted {
		return ""
	}
	return hogpipe.UntrustedReason
}

// capHolds returns the id of an email that went (or is going) to the same
// recipient for the same template within the cap window, or 0. Recipients
// are compared by their normalized key; rows a previous release wrote
// have no key and are compared by the exact address, as that release did.
func (t *txn) capHolds(key, to string, e *hogpipe.Event, policy *hogpipe.EmailPolicy) (int64, error) {
	var prior int64
	since := hogpipe.FormatTime(e.ReceivedAt.Add(-policy.CapWindow))
	err := t.QueryRow(`SELECT id FROM emails WHERE (recipient_key = ? OR (recipient_key IS NULL AND recipient = ?))
		AND template = ? AND created_at >= ? AND state IN `+activeForCap+` LIMIT 1`, key, to, e.Name, since).Scan(&prior)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("check frequency cap: %w", err)
	}
	return prior, nil
}

// sendBudget counts the emails handed to the provider in the last hour
// (attempted_at), in all and per recipient domain, for one claim: it reads
// each count once and adds the claim's own sends as it goes.
type sendBudget struct {
	policy  *hogpipe.EmailPolicy
	now     time.Time
	since   string
	global  *windowCount
	domains map[string]*windowCount
}

type windowCount struct {
	n      int
	oldest string // the oldest attempt in the window; "" when n is 0
}

// newSendBudget returns nil when no budget applies.
func (s *Store) newSendBudget(now time.Time) *sendBudget {
	p := s.email
	if p == nil || (p.SendsPerHour <= 0 && p.DomainSendsPerHour <= 0) {
		return nil
	}
	return &sendBudget{policy: p, now: now, since: hogpipe.FormatTime(now.Add(-time.Hour)), domains: map[string]*windowCount{}}
}

func (b *sendBudget) count(t *txn, domain string) (*windowCount, error) {
	c := &windowCount{}
	var oldest sql.NullString
	var err error
	if domain == "" {
		err = t.QueryRow(`SELECT count(*), min(attempted_at) FROM emails WHERE attempted_at >= ?`, b.since).Scan(&c.n, &oldest)
	} else {
		err = t.QueryRow(`SELECT count(*), min(attempted_at) FROM emails WHERE recipient_domain = ? AND attempted_at >= ?`,
			domain, b.since).Scan(&c.n, &oldest)
	}
	if err != nil {
		return nil, unavailable("count recent sends", err)
	}
	c.oldest = oldest.String
	return c, nil
}

// take reserves one send to domain, or says why not and until when.
func (b *sendBudget) take(t *txn, domain string) (reason string, until time.Time, err error) {
	if lim := b.policy.SendsPerHour; lim > 0 {
		if b.global == nil {
			if b.global, err = b.count(t, ""); err != nil {
				return "", time.Time{}, err
			}
		}
		if b.global.n >= lim {
			return fmt.Sprintf("send budget: %d emails in the last hour (--email-sends-per-hour)", b.global.n), b.freeAt(b.global), nil
		}
	}
	var d *windowCount
	if lim := b.policy.DomainSendsPerHour; lim > 0 {
		if d = b.domains[domain]; d == nil {
			if d, err = b.count(t, domain); err != nil {
				return "", time.Time{}, err
			}
			b.domains[domain] = d
		}
		if d.n >= lim {
			return fmt.Sprintf("send budget: %d emails to %s in the last hour (--email-domain-sends-per-hour)", d.n, domain), b.freeAt(d), nil
		}
	}
	nowS := hogpipe.FormatTime(b.now)
	for _, c := range []*windowCount{b.global, d} {
		if c != nil {
			if c.n == 0 {
				c.oldest = nowS
			}
			c.n++
		}
	}
	return "", time.Time{}, nil
}

// freeAt is when the oldest send in the window leaves it, freeing a slot.
func (b *sendBudget) freeAt(c *windowCount) time.Time {
	if t, err := parseTime(c.oldest); err == nil && t.Add(time.Hour).After(b.now) {
		return t.Add(time.Hour)
	}
	return b.now.Add(time.Minute)
}

// deferEmail parks a claimed candidate until its budget frees up.
func (t *txn) deferEmail(id int64, until time.Time, reason string, now time.Time) error {
	_, err := t.Exec(`UPDATE emails SET state = 'deferred', next_attempt_at = ?, reason = ?, lease_until = NULL, updated_at = ? WHERE id = ?`,
		hogpipe.FormatTime(until), reason, hogpipe.FormatTime(now), id)
	if err != nil {
		return unavailable("defer email", err)
	}
	return nil
}
