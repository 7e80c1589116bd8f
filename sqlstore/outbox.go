package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hogpipe/hogpipe"
)

// The email outbox's store side, the queue outbox.Queue describes: an
// email is queued in its event's transaction (enqueueEmail), claimed under
// a lease (ClaimEmails), its outcome recorded while the lease holds
// (FinishEmail), handed back at start when a dead run left it sending
// (ReleaseSending), requeued by an operator (ReplayEmails); then the reads
// of the emails table. The rules that keep the outbox from being a relay
// (who may trigger a send, the frequency cap, the hourly send budgets) are
// in outbox_relay.go; the suppression list checks in suppressions.go.

// activeForCap are the states that count against the frequency cap: an
// email that is, or is about to be, on its way.
const activeForCap = `('queued', 'sending', 'sent', 'retrying', 'dry_run', 'deferred', 'delivered', 'bounced', 'complained')`

// enqueueEmail writes the outbox row for an event the email destination
// wants, in the event's own transaction.
func (t *txn) enqueueEmail(e *hogpipe.Event, policy *hogpipe.EmailPolicy) error {
	now := hogpipe.FormatTime(e.ReceivedAt)
	to := hogpipe.EmailRecipient(e)
	key := hogpipe.NormalizeAddress(to)
	state, reason := hogpipe.EmailQueued, ""
	var next sql.NullString
	switch {
	case to == "":
		state, reason = hogpipe.EmailSkipped, "no email address"
	case untrustedHold(e, policy) != "":
		state, reason = hogpipe.EmailSkipped, untrustedHold(e, policy)
	default:
		if err := t.lockRecipient(key); err != nil {
			return fmt.Errorf("lock recipient: %w", err)
		}
		if why, err := t.suppressionReason(to); err != nil {
			return err
		} else if why != "" {
			state, reason = hogpipe.EmailSuppressed, why
			break
		}
		if why := consentReason(e, policy); why != "" {
			state, reason = hogpipe.EmailNoConsent, why
			break
		}
		prior, err := t.capHolds(key, to, e, policy)
		switch {
		case err != nil:
			return err
		case prior != 0:
			state = hogpipe.EmailSuppressed
			reason = fmt.Sprintf("frequency cap: email %d went to this recipient within %s", prior, policy.CapWindow)
		default:
			next = sql.NullString{String: now, Valid: true}
		}
	}
	if _, err := t.Exec(`INSERT INTO emails (event_uuid, state, recipient, recipient_key, recipient_domain, template, next_attempt_at, reason, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, e.UUID, string(state), to, key, hogpipe.RecipientDomain(key), e.Name, next, reason, now, now); err != nil {
		return fmt.Errorf("queue email: %w", err)
	}
	t.queued = t.queued || state == hogpipe.EmailQueued
	return nil
}

// ClaimEmails takes up to limit emails that are due (queued or retrying
// with next_attempt_at passed, or sending with an expired lease), marks
// them sending until now+lease and counts the attempt. On PostgreSQL the
// rows are locked with SKIP LOCKED, so replicas claiming at once never take
// the same email.
func (s *Store) ClaimEmails(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]hogpipe.OutboxItem, error) {
	nowS := hogpipe.FormatTime(now)
	// Workers poll; a read first keeps an idle outbox from costing a
	// write transaction (and an fsync) per poll.
	var due bool
	err := s.r.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM emails WHERE state IN ('queued', 'retrying', 'deferred') AND next_attempt_at <= ?)
		OR EXISTS (SELECT 1 FROM emails WHERE state = 'sending' AND lease_until <= ?)`, nowS, nowS).Scan(&due)
	if err != nil {
		return nil, unavailable("find due emails", err)
	}
	if !due {
		return nil, nil
	}
	lock := s.d.lockRows(true)
	var items []hogpipe.OutboxItem
	err = s.write(ctx, func(t *txn) error {
		items = items[:0]
		rows, err := t.Query(`SELECT id, event_uuid, recipient, coalesce(recipient_domain, ''), template, attempts, created_at FROM emails
			WHERE (state IN ('queued', 'retrying', 'deferred') AND next_attempt_at <= ?) OR (state = 'sending' AND lease_until <= ?)
			ORDER BY id LIMIT ?`+lock, nowS, nowS, limit)
		if err != nil {
			return unavailable("find due emails", err)
		}
		var domains []string
		for rows.Next() {
			var it hogpipe.OutboxItem
			var created, domain string
			if err := rows.Scan(&it.Email.ID, &it.Email.EventID, &it.Email.Recipient, &domain, &it.Email.Template, &it.Email.Attempts, &created); err != nil {
				rows.Close()
				return unavailable("read due emails", err)
			}
			it.Email.CreatedAt, _ = parseTime(created)
			if domain == "" { // written by a previous release
				domain = hogpipe.RecipientDomain(hogpipe.NormalizeAddress(it.Email.Recipient))
			}
			items = append(items, it)
			domains = append(domains, domain)
		}
		rows.Close()
		leaseS := hogpipe.FormatTime(now.Add(lease))
		budget := s.newSendBudget(now)
		kept := items[:0]
		for i := range items {
			it := &items[i]
			if budget != nil {
				reason, until, err := budget.take(t, domains[i])
				if err != nil {
					return err
				}
				if reason != "" {
					if err := t.deferEmail(it.Email.ID, until, reason, now); err != nil {
						return err
					}
					continue
				}
			}
			var ts, props, person string
			if err := t.QueryRow(`SELECT name, distinct_id, timestamp, properties, coalesce(person, '{}') FROM events WHERE uuid = ?`,
				it.Email.EventID).Scan(&it.Event.Name, &it.Event.DistinctID, &ts, &props, &person); err != nil {
				return unavailable("read the event of an email", err)
			}
			it.Event.UUID = it.Email.EventID
			it.Event.Timestamp, _ = parseTime(ts)
			// Templates print numbers as sent (json.Number), not as floats.
			_ = decodeNumbers(props, &it.Event.Properties)
			_ = decodeNumbers(person, &it.Event.Person)
			it.Email.Attempts++
			it.Email.State = hogpipe.EmailSending
			if _, err := t.Exec(`UPDATE emails SET state = 'sending', attempts = ?, lease_until = ?, attempted_at = ?, updated_at = ? WHERE id = ?`,
				it.Email.Attempts, leaseS, nowS, nowS, it.Email.ID); err != nil {
				return unavailable("claim email", err)
			}
			kept = append(kept, *it)
		}
		items = kept
		return nil
	})
	if err != nil {
		// The write may still run after a cancelled wait: its results
		// belong to the committer, not to us.
		return nil, err
	}
	return items, nil
}

// FinishEmail records the outcome of a claimed email's attempt. It changes
// nothing (and says so) when the claim was lost: the lease expired and
// another worker took the email over. Recording the same outcome twice is
// not an error: callers retry it.
func (s *Store) FinishEmail(ctx context.Context, claimed hogpipe.Email, out hogpipe.EmailOutcome) (bool, error) {
	var done bool
	err := s.write(ctx, func(t *txn) error {
		var next sql.NullString
		if out.NextAttemptAt != nil {
			next = sql.NullString{String: hogpipe.FormatTime(*out.NextAttemptAt), Valid: true}
		}
		at := hogpipe.FormatTime(out.At)
		// The second case is this very outcome, already recorded: a retry
		// of a write whose caller gave up waiting but which committed
		// (the outbox retries until it hears back) reports success.
		res, err := t.Exec(`UPDATE emails SET state = ?, message_id = ?, last_error = ?, subject = ?, next_attempt_at = ?,
			lease_until = NULL, updated_at = ? WHERE id = ? AND attempts = ?
			AND (state = 'sending' OR (state = ? AND message_id = ? AND updated_at = ?))`,
			string(out.State), out.MessageID, out.LastError, out.Subject, next, at, claimed.ID, claimed.Attempts,
			string(out.State), out.MessageID, at)
		if err != nil {
			return unavailable("record email outcome", err)
		}
		n, _ := res.RowsAffected()
		if n == 0 {
			// Mailgun's event for this very send may have come first and
			// moved the email on (RecordDelivery): the claim is still ours
			// (same attempt, lease not cleared), the state stands, and a
			// retry is off since Mailgun had the message.
			res, err = t.Exec(`UPDATE emails SET message_id = ?, subject = ?, next_attempt_at = NULL, lease_until = NULL, updated_at = ?
				WHERE id = ? AND attempts = ? AND lease_until IS NOT NULL AND state IN ('delivered', 'bounced', 'complained')`,
				out.MessageID, out.Subject, hogpipe.FormatTime(out.At), claimed.ID, claimed.Attempts)
			if err != nil {
				return unavailable("record email outcome", err)
			}
			n, _ = res.RowsAffected()
		}
		done = n == 1
		return nil
	})
	if err != nil {
		return false, err
	}
	return done, nil
}

// ReleaseSending hands every email marked sending back to the queue. A
// serve calls it at start: it owns the data directory, so no other worker
// can be sending, and waiting out the leases would only delay them.
func (s *Store) ReleaseSending(ctx context.Context, now time.Time) (int64, error) {
	return s.update(ctx, "release emails", `UPDATE emails SET state = 'queued', next_attempt_at = ?, lease_until = NULL, updated_at = ?
		WHERE state = 'sending'`, hogpipe.FormatTime(now), hogpipe.FormatTime(now))
}

// ReplayEmails requeues every email in state (failed, usually) with a fresh
// set of attempts, and returns how many. hogpipe.CheckReplay says which
// states may be replayed, and which only with force.
func (s *Store) ReplayEmails(ctx context.Context, state hogpipe.EmailState, now time.Time, force bool) (int64, error) {
	if err := hogpipe.CheckReplay(state, force); err != nil {
		return 0, err
	}
	return s.update(ctx, "replay emails", `UPDATE emails SET state = 'queued', attempts = 0, next_attempt_at = ?, lease_until = NULL,
		last_error = '', reason = '', updated_at = ? WHERE state = ?`,
		hogpipe.FormatTime(now), hogpipe.FormatTime(now), string(state))
}

// update runs one UPDATE (or DELETE) in a write transaction of its own and says how
// many rows it changed; what names the work in its error.
func (s *Store) update(ctx context.Context, what, q string, args ...any) (int64, error) {
	var n int64
	err := s.write(ctx, func(t *txn) error {
		res, err := t.Exec(q, args...)
		if err != nil {
			return unavailable(what, err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

const emailColumns = `id, event_uuid, state, recipient, template, attempts, coalesce(next_attempt_at, ''),
	last_error, reason, message_id, subject, created_at, updated_at`

func scanEmail(sc interface{ Scan(...any) error }) (hogpipe.Email, error) {
	var m hogpipe.Email
	var next, created, updated string
	if err := sc.Scan(&m.ID, &m.EventID, &m.State, &m.Recipient, &m.Template, &m.Attempts, &next,
		&m.LastError, &m.Reason, &m.MessageID, &m.Subject, &created, &updated); err != nil {
		return m, err
	}
	if next != "" && (m.State == hogpipe.EmailQueued || m.State == hogpipe.EmailRetrying || m.State == hogpipe.EmailDeferred) {
		if t, err := parseTime(next); err == nil {
			m.NextAttemptAt = &t
		}
	}
	m.CreatedAt, _ = parseTime(created)
	m.UpdatedAt, _ = parseTime(updated)
	return m, nil
}

// ListEmails returns the latest emails, newest first, optionally in one state.
func (s *Store) ListEmails(ctx context.Context, state hogpipe.EmailState, limit int) ([]hogpipe.Email, error) {
	q := `SELECT ` + emailColumns + ` FROM emails`
	args := []any{}
	if state != "" {
		q += ` WHERE state = ?`
		args = append(args, string(state))
	}
	q += ` ORDER BY id DESC LIMIT ?`
	rows, err := s.r.QueryContext(ctx, q, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("list emails: %w", err)
	}
	defer rows.Close()
	out := []hogpipe.Email{}
	for rows.Next() {
		m, err := scanEmail(rows)
		if err != nil {
			return nil, fmt.Errorf("list emails: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// EmailForEvent returns the outbox row of one event, if it has one.
func (s *Store) EmailForEvent(ctx context.Context, id string) (*hogpipe.Email, error) {
	m, err := scanEmail(s.r.QueryRowContext(ctx, `SELECT `+emailColumns+` FROM emails WHERE event_uuid = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read email: %w", err)
	}
	return &m, nil
}

// EmailCounts counts emails by state.
func (s *Store) EmailCounts(ctx context.Context) (map[string]int64, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT state, count(*) FROM emails GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("count emails: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var st string
		var n int64
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("count emails: %w", err)
		}
		out[st] = n
	}
	return out, rows.Err()
}

// OldestQueued returns when the oldest email still waiting was created.
func (s *Store) OldestQueued(ctx context.Context) (time.Time, bool, error) {
	var created sql.NullString
	err := s.r.QueryRowContext(ctx, `SELECT min(created_at) FROM emails WHERE state IN ('queued', 'retrying', 'sending', 'deferred')`).Scan(&created)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("read outbox: %w", err)
	}
	if !created.Valid {
		return time.Time{}, false, nil
	}
	t, err := parseTime(created.String)
	return t, err == nil, nil
}
