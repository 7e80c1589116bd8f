package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hogpipe/hogpipe"
)

// suppressionReason is the queueing check against the suppression list,
// run in the event's own transaction: "" when the recipient may get email,
// else why not. Keyed by hogpipe.NormalizeAddress, so case variants of
// one address share one entry.
func (t *txn) suppressionReason(to string) (string, error) {
	var reason, source string
	err := t.QueryRow(`SELECT reason, source FROM suppressions WHERE address = ?`, hogpipe.NormalizeAddress(to)).Scan(&reason, &source)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("check suppression list: %w", err)
	}
	return fmt.Sprintf("suppression list: %s (%s)", reason, source), nil
}

// consentReason is the queueing check against --email-require-consent:
// "" when the person may get email, else why not.
func consentReason(e *hogpipe.Event, policy *hogpipe.EmailPolicy) string {
	if policy.Consented(e) {
		return ""
	}
	return "person property " + policy.RequireConsent + " is not true"
}

// SuppressionOf returns the recipient's suppression, or nil.
func (s *Store) SuppressionOf(ctx context.Context, addr string) (*hogpipe.Suppression, error) {
	sp, err := scanSuppression(s.r.QueryRowContext(ctx, `SELECT `+suppressionColumns+` FROM suppressions WHERE address = ?`,
		hogpipe.NormalizeAddress(addr)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, unavailable("read the suppression list", err)
	}
	return &sp, nil
}

const suppressionColumns = `address, reason, source, detail, created_at`

func scanSuppression(sc interface{ Scan(...any) error }) (hogpipe.Suppression, error) {
	var sp hogpipe.Suppression
	var created string
	err := sc.Scan(&sp.Address, &sp.Reason, &sp.Source, &sp.Detail, &created)
	sp.CreatedAt, _ = parseTime(created)
	return sp, err
}

// addSuppression inserts one entry unless the address is already there
// (the first reason stands), and tells whether it was new.
func (t *txn) addSuppression(sp hogpipe.Suppression) (bool, error) {
	addr := hogpipe.NormalizeAddress(sp.Address)
	if !hogpipe.ValidEmail(addr) {
		return false, hogpipe.FieldError("address", "%q is not an email address", sp.Address)
	}
	if sp.CreatedAt.IsZero() {
		sp.CreatedAt = time.Now()
	}
	res, err := t.Exec(`INSERT INTO suppressions (address, reason, source, detail, created_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (address) DO NOTHING`, addr, string(sp.Reason), sp.Source, truncate(sp.Detail, 500), hogpipe.FormatTime(sp.CreatedAt))
	if err != nil {
		return false, unavailable("add to the suppression list", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// AddSuppressions puts addresses on the suppression list in one
// transaction and returns how many were new.
func (s *Store) AddSuppressions(ctx context.Context, list []hogpipe.Suppression) (int, error) {
	var added int
	err := s.write(ctx, func(t *txn) error {
		added = 0
		for _, sp := range list {
			ok, err := t.addSuppression(sp)
			if err != nil {
				return err
			}
			if ok {
				added++
			}
		}
		return nil
	})
	return added, err
}

// RemoveSuppression takes an address off the list; false when it was not on it.
func (s *Store) RemoveSuppression(ctx context.Context, addr string) (bool, error) {
	n, err := s.update(ctx, "remove from the suppression list", `DELETE FROM suppressions WHERE address = ?`, hogpipe.NormalizeAddress(addr))
	return n == 1, err
}

// ListSuppressions returns entries newest first, optionally of one reason.
func (s *Store) ListSuppressions(ctx context.Context, reason hogpipe.SuppressionReason, limit int) ([]hogpipe.Suppression, error) {
	q := `SELECT ` + suppressionColumns + ` FROM suppressions`
	args := []any{}
	if reason != "" {
		q += ` WHERE reason = ?`
		args = append(args, string(reason))
	}
	q += ` ORDER BY created_at DESC, address LIMIT ?`
	rows, err := s.r.QueryContext(ctx, q, append(args, limit)...)
	if err != nil {
		return nil, unavailable("list suppressions", err)
	}
	defer rows.Close()
	out := []hogpipe.Suppression{}
	for rows.Next() {
		sp, err := scanSuppression(rows)
		if err != nil {
			return nil, unavailable("list suppressions", err)
		}
		out = append(out, sp)
	}
	return out, rows.Err()
}

// SuppressionCounts counts the list by reason.
func (s *Store) SuppressionCounts(ctx context.Context) (map[string]int64, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT reason, count(*) FROM suppressions GROUP BY reason`)
	if err != nil {
		return nil, unavailable("count suppressions", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var r string
		var n int64
		if err := rows.Scan(&r, &n); err != nil {
			return nil, unavailable("count suppressions", err)
		}
		out[r] = n
	}
	return out, rows.Err()
}

// Email returns one email with its delivery counters and history.
func (s *Store) Email(ctx context.Context, id int64) (*hogpipe.Email, error) {
	var opens, clicks int
	m, err := scanEmail(extraScan{s.r.QueryRowContext(ctx, `SELECT `+emailColumns+`, opens, clicks FROM emails WHERE id = ?`, id),
		[]any{&opens, &clicks}})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, hogpipe.Errorf(hogpipe.ENotFound, "no email %d", id)
	}
	if err != nil {
		return nil, unavailable("read email", err)
	}
	m.Opens, m.Clicks = opens, clicks
	rows, err := s.r.QueryContext(ctx, `SELECT at, event, detail FROM email_history WHERE email_id = ? ORDER BY at, id`, id)
	if err != nil {
		return nil, unavailable("read email history", err)
	}
	defer rows.Close()
	m.History = []hogpipe.EmailHistory{}
	for rows.Next() {
		var h hogpipe.EmailHistory
		var at string
		if err := rows.Scan(&at, &h.Event, &h.Detail); err != nil {
			return nil, unavailable("read email history", err)
		}
		h.At, _ = parseTime(at)
		m.History = append(m.History, h)
	}
	return &m, rows.Err()
}

// extraScan lets scanEmail read rows with more columns after its own.
type extraScan struct {
	sc    interface{ Scan(...any) error }
	extra []any
}

func (e extraScan) Scan(dst ...any) error { return e.sc.Scan(append(dst, e.extra...)...) }

// deliveryStates are the states Mailgun's events move an email to, in
// rising precedence, each with the history event that moves it there and
// the states it may move from. An email never goes back (a late delivered
// after a bounce changes nothing). sending is among the sources: Mailgun's
// webhook can beat hogpipe's own record of the send (FinishEmail then keeps
// the state). So are retrying and failed: an attempt whose answer timed out
// may have reached Mailgun after all, and moving the email on keeps it
// from being sent a second time.
var deliveryStates = []struct{ state, event, from string }{
	{"delivered", "delivered", `('sending', 'sent', 'retrying', 'failed')`},
	{"bounced", "failed:permanent", `('sending', 'sent', 'delivered', 'retrying', 'failed')`},
	{"complained", "complained", `('sending', 'sent', 'delivered', 'bounced', 'retrying', 'failed')`},
}

// RecordDelivery applies one of Mailgun's event webhooks, in one
// transaction: the signature token is remembered (a token seen with
// another event is a replay: ERejected, nothing changed; seen with the
// same event, a redelivery: Duplicate), the email's history gains the
// event once per provider id, its state moves, and bounces, complaints
// and unsubscribes put the recipient on the suppression list. tokenTTL is
// how long tokens are remembered: as long as a timestamp stays fresh. An
// event with no Event (one hogpipe ignores) only has its token remembered.
func (s *Store) RecordDelivery(ctx context.Context, ev hogpipe.DeliveryEvent, now time.Time, tokenTTL time.Duration) (hogpipe.DeliveryResult, error) {
	var res hogpipe.DeliveryResult
	err := s.write(ctx, func(t *txn) error {
		res = hogpipe.DeliveryResult{}
		nowS := hogpipe.FormatTime(now)
		if _, err := t.Exec(`DELETE FROM webhook_tokens WHERE seen_at < ?`, hogpipe.FormatTime(now.Add(-tokenTTL))); err != nil {
			return unavailable("forget old webhook tokens", err)
		}
		var seenFor string
		err := t.QueryRow(`SELECT event_id FROM webhook_tokens WHERE token = ?`, ev.Token).Scan(&seenFor)
		switch {
		case err == nil && seenFor == ev.ID:
			res.Duplicate = true
			return nil
		case err == nil:
			return hogpipe.Errorf(hogpipe.ERejected, "signature token already used by another event: refused as a replay")
		case !errors.Is(err, sql.ErrNoRows):
			return unavailable("check webhook token", err)
		}
		if _, err := t.Exec(`INSERT INTO webhook_tokens (token, event_id, seen_at) VALUES (?, ?, ?)`, ev.Token, ev.ID, nowS); err != nil {
			return unavailable("remember webhook token", err)
		}
		if ev.Event == "" {
			return nil // an event hogpipe ignores: only its token counts
		}

		// On PostgreSQL the row is locked: a FinishEmail committing at the
		// same moment either waits for this event's state change (and
		// keeps it) or has already recorded the send (and this sees it).
		lock := t.s.d.lockRows(false)
		var emailID int64
		var state, recipient string
		err = t.QueryRow(`SELECT id, state, recipient FROM emails WHERE event_uuid = ?`+lock, ev.EmailEventID).Scan(&emailID, &state, &recipient)
		switch {
		case err == nil:
			// The hogpipe-event-id variable names the email; the event's
			// own recipient must agree, or the event is not about it.
			res.EmailFound = ev.Recipient == "" || hogpipe.NormalizeAddress(ev.Recipient) == hogpipe.NormalizeAddress(recipient)
		case !errors.Is(err, sql.ErrNoRows):
			return unavailable("find the email", err)
		}
		if res.EmailFound {
			name := ev.Event
			if ev.Severity != "" {
				name += ":" + ev.Severity
			}
			ins, err := t.Exec(`INSERT INTO email_history (email_id, provider_id, at, event, detail) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (provider_id) DO NOTHING`, emailID, ev.ID, hogpipe.FormatTime(ev.At), name, truncate(ev.Detail, 500))
			if err != nil {
				return unavailable("record email history", err)
			}
			if n, _ := ins.RowsAffected(); n == 0 {
				res.Duplicate, res.State = true, state
				return nil
			}
			for _, d := range deliveryStates {
				if d.event != name {
					continue
				}
				if _, err := t.Exec(`UPDATE emails SET updated_at = ?, state = ? WHERE id = ? AND state IN `+d.from, nowS, d.state, emailID); err != nil {
					return unavailable("update email state", err)
				}
			}
			switch ev.Event {
			case "opened":
				_, err = t.Exec(`UPDATE emails SET opens = opens + 1 WHERE id = ?`, emailID)
			case "clicked":
				_, err = t.Exec(`UPDATE emails SET clicks = clicks + 1 WHERE id = ?`, emailID)
			}
			if err != nil {
				return unavailable("count opens and clicks", err)
			}
			if err := t.QueryRow(`SELECT state FROM emails WHERE id = ?`, emailID).Scan(&res.State); err != nil {
				return unavailable("read email state", err)
			}
		}
		var reason hogpipe.SuppressionReason
		switch {
		case ev.Event == "failed" && ev.Severity == "permanent":
			reason = hogpipe.SuppressBounced
		case ev.Event == "complained":
			reason = hogpipe.SuppressComplained
		case ev.Event == "unsubscribed":
			reason = hogpipe.SuppressUnsubscribed
		}
		addr := ev.Recipient
		if addr == "" {
			addr = recipient
		}
		if reason != "" && hogpipe.ValidEmail(hogpipe.NormalizeAddress(addr)) {
			added, err := t.addSuppression(hogpipe.Suppression{Address: addr, Reason: reason, Source: "mailgun-webhook",
				Detail: ev.Detail, CreatedAt: now})
			if err != nil {
				return err
			}
			res.Suppressed = added
		}
		return nil
	})
	return res, err
}

func truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
