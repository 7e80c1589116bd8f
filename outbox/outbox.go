// Package outbox is the email destination: a queue of emails the store
// fills in the same transaction as their events, and the workers that
// drain it. Everything about the queue is found under the name "outbox":
//
//   - Queue (this file) is the contract: claim due emails under a lease,
//     record an attempt's outcome only while that lease holds, check the
//     suppression list again just before sending.
//   - sqlstore/outbox.go implements it: enqueueEmail (the row written with
//     the event), ClaimEmails, FinishEmail, ReleaseSending (a serve that
//     owns the data directory hands back what a dead run left sending) and
//     ReplayEmails (hogpipe replay emails), with the reads of the emails
//     table.
//   - sqlstore/outbox_relay.go holds the rules that keep the outbox from
//     being an open relay, where they are checked: untrustedHold and the
//     frequency cap (capHolds) when an email is queued, the hourly send
//     budgets (sendBudget: --email-sends-per-hour,
//     --email-domain-sends-per-hour) when it is claimed, deferring the
//     rest.
//   - Worker (this file) claims, renders (templates.go), hands the message
//     to a Sender (mailgun.Sender) with a timeout, and records the outcome,
//     retrying transient failures with exponential backoff and jitter.
//   - Options (options.go) are serve's email flags and build the worker's
//     Config, the queueing policy, the Sender and the unsubscribe links;
//     Worker.Previewer (preview.go) renders a stored email again;
//     Suppressions (suppressions.go) is hogpipe suppressions.
package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/hogpipe/hogpipe"
	"github.com/hogpipe/hogpipe/redact"
)

// Queue is the email outbox as the workers use it; *sqlstore.Store
// implements it (sqlstore/outbox.go). Emails enter it with their events
// (queued, or held back by the relay rules: see the package doc). Its
// other operations are not the workers': ReleaseSending hands back, at
// start, what a dead run left sending (serve, when it owns the data
// directory: on PostgreSQL the leases decide), and ReplayEmails requeues
// failed emails (hogpipe replay emails).
type Queue interface {
	// ClaimEmails takes up to limit due emails (queued, retrying or
	// deferred with next_attempt_at passed, or sending with an expired
	// lease), marks them sending under a lease until now+lease and counts
	// the attempt. Replicas claiming at once never take the same email. A
	// candidate over an hourly send budget is deferred instead of claimed
	// (EmailPolicy.SendsPerHour, DomainSendsPerHour).
	ClaimEmails(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]hogpipe.OutboxItem, error)
	// FinishEmail records the outcome of a claimed attempt, only while the
	// claim holds: false (and nothing changed) when the lease ran out and
	// another worker took the email over. Recording the same outcome again
	// reports true, so a caller may retry a write it lost sight of.
	FinishEmail(ctx context.Context, claimed hogpipe.Email, out hogpipe.EmailOutcome) (bool, error)
	// SuppressionOf tells whether the recipient was suppressed after the
	// email was queued (nil: not suppressed).
	SuppressionOf(ctx context.Context, addr string) (*hogpipe.Suppression, error)
}

// Sender delivers a message and returns the provider's message id
// (mailgun.Sender). A failure that is not a *hogpipe.SendError is treated
// as transient.
type Sender interface {
	Send(ctx context.Context, m hogpipe.Message) (id string, err error)
}

// Config tunes the workers; zero values take the defaults in brackets.
type Config struct {
	Workers     int           // concurrent sends [32]
	Timeout     time.Duration // per send [10s]
	MaxAttempts int           // then the email is failed [5]
	BackoffBase time.Duration // first retry delay, doubled per attempt [2s]
	BackoffMax  time.Duration // cap on the retry delay [10m]
	Poll        time.Duration // how often to look for due retries [500ms]
	From        string
	Templates   *Templates
	// Unsubscribe, when set, puts one-click unsubscribe headers and a
	// footer link into every email.
	Unsubscribe *Unsubscribe
	// ReplyTo, when set, is the Reply-To header.
	ReplyTo string
}

// Unsubscribe makes a recipient's unsubscribe links.
type Unsubscribe struct {
	// URL returns the https page for a recipient and email kind.
	URL func(to, kind string) string
	// Mailto, when set, is offered as a second List-Unsubscribe target.
	Mailto string
}

// Worker runs the sends. A nil Sender is dry-run: emails are rendered and
// recorded as dry_run, nothing is sent.
type Worker struct {
	cfg    Config
	queue  Queue
	sender Sender
	log    *slog.Logger
	wake   chan struct{}
	now    func() time.Time
	// OnOutcome, when set, is told of every recorded outcome (metrics).
	OnOutcome func(hogpipe.EmailState)
}

// New returns a worker.
func New(cfg Config, queue Queue, sender Sender, log *slog.Logger) *Worker {
	if cfg.Workers <= 0 {
		cfg.Workers = 32
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 5
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = 2 * time.Second
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = 10 * time.Minute
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 500 * time.Millisecond
	}
	if cfg.Templates == nil {
		cfg.Templates, _ = ParseTemplates("", "", "")
	}
	return &Worker{cfg: cfg, queue: queue, sender: sender, log: log, wake: make(chan struct{}, 1), now: time.Now}
}

// Notify wakes the worker after a commit that may have queued emails.
func (w *Worker) Notify() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// lease is how long a claimed email stays ours: past it, another worker
// (another replica) may take it over.
func (w *Worker) lease() time.Duration { return 2*w.cfg.Timeout + 5*time.Second }

// Run claims and sends until ctx ends, then waits for the sends in flight
// to finish and be recorded (each is bounded by the send timeout).
func (w *Worker) Run(ctx context.Context) error {
	sem := make(chan struct{}, w.cfg.Workers)
	var wg sync.WaitGroup
	defer wg.Wait()
	tick := time.NewTicker(w.cfg.Poll)
	defer tick.Stop()
	for {
		free := w.cfg.Workers - len(sem)
		var items []hogpipe.OutboxItem
		var claimedAt time.Time
		if free > 0 {
			var err error
			claimedAt = w.now()
			items, err = w.queue.ClaimEmails(ctx, claimedAt, free, w.lease())
			if err != nil && ctx.Err() == nil {
				w.log.Warn("email outbox: cannot claim emails", "err", err)
			}
		}
		for _, it := range items {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				// A freed slot may take the next due email at once.
				defer func() { <-sem; w.Notify(); wg.Done() }()
				w.process(it, claimedAt)
			}()
		}
		if len(items) > 0 && len(items) == free {
			continue // there may be more due right now
		}
		select {
		case <-ctx.Done():
			return nil
		case <-w.wake:
		case <-tick.C:
		}
	}
}

// process renders and sends one claimed email and records the outcome. It
// does not take the Run context: a send in flight at shutdown finishes (or
// times out) and is recorded, rather than being left to its lease.
// claimedAt is when the claim's lease started.
func (w *Worker) process(it hogpipe.OutboxItem, claimedAt time.Time) {
	out := w.attempt(it)
	out.At = w.now()
	ok, err := w.record(it, out, claimedAt.Add(w.recordWindow()))
	switch {
	case err != nil:
		// Out of time: the lease will expire and the email be tried again,
		// so an email that was in fact sent may go out once more.
		w.log.Error("email outbox: outcome not recorded before the lease ran out; the email may be sent again",
			"email", it.Email.ID, "state", out.State, "err", err)
	case !ok:
		w.log.Warn("email outbox: claim lost before the outcome was recorded", "email", it.Email.ID)
	default:
		if w.OnOutcome != nil {
			w.OnOutcome(out.State)
		}
		w.logOutcome(it, out)
	}
}

// recordWindow is how long after the claim an outcome may still be
// recorded: the lease less a margin, so a retry that succeeds cannot race
// another worker that takes the email over when the lease expires.
func (w *Worker) recordWindow() time.Duration {
	l := w.lease()
	return l - l/5
}

// record stores an attempt's outcome, retrying with backoff until
// deadline. Losing this write is what turns a sent email into a duplicate:
// the row stays sending, its lease expires and the email is sent again.
// So a moment of trouble (a locked SQLite file, a commit timeout on
// PostgreSQL) must not be the end of it. Retrying is safe: FinishEmail
// matches the claim (id, attempt), and a retry of a write that did commit
// in the end finds the same outcome and reports it recorded.
func (w *Worker) record(it hogpipe.OutboxItem, out hogpipe.EmailOutcome, deadline time.Time) (bool, error) {
	delay := 100 * time.Millisecond
	for try := 1; ; try++ {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		ok, err := w.queue.FinishEmail(ctx, it.Email, out)
		cancel()
		if err == nil {
			if try > 1 {
				w.log.Info("email outbox: outcome recorded after retrying", "email", it.Email.ID, "state", out.State, "tries", try)
			}
			return ok, nil
		}
		// Equal jitter, as for sends: workers that failed together do not
		// retry together.
		wait := delay/2 + rand.N(delay/2+1)
		if w.now().Add(wait).After(deadline) {
			return false, fmt.Errorf("after %d tries: %w", try, err)
		}
		w.log.Warn("email outbox: cannot record the outcome yet; retrying", "email", it.Email.ID,
			"state", out.State, "try", try, "retry_in", wait, "err", err)
		time.Sleep(wait)
		delay = min(2*delay, 2*time.Second)
	}
}

// logOutcome tells on-call what became of an email, without its address:
// Mailgun's error messages often quote the recipient, so the error is
// logged with email addresses redacted.
func (w *Worker) logOutcome(it hogpipe.OutboxItem, out hogpipe.EmailOutcome) {
	attrs := []any{"email", it.Email.ID, "event", it.Email.EventID, "attempt", it.Email.Attempts}
	if out.LastError != "" {
		msg, _ := redact.Text(out.LastError, []string{redact.Email})
		attrs = append(attrs, "err", msg)
	}
	switch out.State {
	case hogpipe.EmailFailed:
		w.log.Warn("email failed; replay with hogpipe replay emails --state failed", attrs...)
	case hogpipe.EmailRetrying:
		w.log.Info("email will be retried", append(attrs, "next_attempt_at", out.NextAttemptAt)...)
	default:
		w.log.Debug("email "+string(out.State), attrs...)
	}
}

// Render makes the message a claimed email becomes (also for previews of
// dry-run emails).
func (w *Worker) Render(it hogpipe.OutboxItem) (hogpipe.Message, error) {
	d := dataFor(it)
	m := hogpipe.Message{From: w.cfg.From, To: it.Email.Recipient, EventID: it.Email.EventID, Headers: map[string]string{}}
	if u := w.cfg.Unsubscribe; u != nil {
		d.UnsubscribeURL = u.URL(it.Email.Recipient, it.Email.Template)
		// RFC 2369 and RFC 8058: the https target is what one-click
		// receivers (Gmail, Yahoo) POST to; mailto is for the rest.
		v := "<" + d.UnsubscribeURL + ">"
		if u.Mailto != "" {
			v += ", <mailto:" + u.Mailto + "?subject=unsubscribe>"
		}
		m.Headers["List-Unsubscribe"] = v
		m.Headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
	}
	if w.cfg.ReplyTo != "" {
		m.Headers["Reply-To"] = w.cfg.ReplyTo
	}
	var err error
	m.Subject, m.Text, m.HTML, err = w.cfg.Templates.Render(d)
	return m, err
}

// suppressedNow re-checks the suppression list just before a send: the
// recipient may have unsubscribed, bounced or complained since the email
// was queued. A store error lets the send go ahead (the list was checked
// at queueing); it is logged.
func (w *Worker) suppressedNow(it hogpipe.OutboxItem) *hogpipe.Suppression {
	ctx, cancel := context.WithTimeout(context.Background(), w.cfg.Timeout)
	defer cancel()
	sp, err := w.queue.SuppressionOf(ctx, it.Email.Recipient)
	if err != nil {
		w.log.Warn("email outbox: cannot re-check the suppression list; sending", "email", it.Email.ID, "err", err)
		return nil
	}
	return sp
}

func (w *Worker) attempt(it hogpipe.OutboxItem) hogpipe.EmailOutcome {
	msg, err := w.Render(it)
	subject := msg.Subject
	if err != nil {
		return hogpipe.EmailOutcome{State: hogpipe.EmailFailed, LastError: err.Error()}
	}
	if w.sender == nil {
		return hogpipe.EmailOutcome{State: hogpipe.EmailDryRun, Subject: subject}
	}
	if sp := w.suppressedNow(it); sp != nil {
		return hogpipe.EmailOutcome{State: hogpipe.EmailSuppressed, Subject: subject,
			LastError: fmt.Sprintf("not sent: recipient put on the suppression list (%s, %s) after the email was queued", sp.Reason, sp.Source)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), w.cfg.Timeout)
	defer cancel()
	id, err := w.sender.Send(ctx, msg)
	if err == nil {
		return hogpipe.EmailOutcome{State: hogpipe.EmailSent, MessageID: id, Subject: subject}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("no answer within %s: %w", w.cfg.Timeout, err)
	}
	var se *hogpipe.SendError
	permanent := errors.As(err, &se) && se.Permanent
	if permanent {
		return hogpipe.EmailOutcome{State: hogpipe.EmailFailed, LastError: err.Error(), Subject: subject}
	}
	if it.Email.Attempts >= w.cfg.MaxAttempts {
		return hogpipe.EmailOutcome{State: hogpipe.EmailFailed, Subject: subject,
			LastError: fmt.Sprintf("gave up after %d attempts: %v", it.Email.Attempts, err)}
	}
	delay := w.backoff(it.Email.Attempts)
	if se != nil && se.RetryAfter > delay {
		delay = min(se.RetryAfter, time.Hour)
	}
	next := w.now().Add(delay)
	return hogpipe.EmailOutcome{State: hogpipe.EmailRetrying, LastError: err.Error(), Subject: subject, NextAttemptAt: &next}
}

// backoff is exponential with "equal jitter": half fixed, half random, so
// a burst of failures does not retry in lockstep.
func (w *Worker) backoff(attempts int) time.Duration {
	d := w.cfg.BackoffBase << min(attempts-1, 20)
	if d <= 0 || d > w.cfg.BackoffMax {
		d = w.cfg.BackoffMax
	}
	return d/2 + rand.N(d/2+1)
}
