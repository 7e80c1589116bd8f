package outbox

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hogpipe/hogpipe"
	"github.com/hogpipe/hogpipe/internal/cli"
	"github.com/hogpipe/hogpipe/mailgun"
)

// SuppressionList is the store's suppression list (*sqlstore.Store), which
// the queue consults when an email is queued and again before it is sent.
type SuppressionList interface {
	ListSuppressions(ctx context.Context, reason hogpipe.SuppressionReason, limit int) ([]hogpipe.Suppression, error)
	AddSuppressions(ctx context.Context, list []hogpipe.Suppression) (int, error)
	RemoveSuppression(ctx context.Context, addr string) (bool, error)
}

// SuppressionsUsage is what hogpipe suppressions takes.
const SuppressionsUsage = "hogpipe suppressions list | add ADDRESS... | remove ADDRESS... | sync"

// Suppressions is hogpipe suppressions: the operator's hands on the list.
// list shows the newest entries, add and remove take addresses, sync
// imports Mailgun's own unsubscribes, bounces and complaints.
type Suppressions struct {
	Sub            string   // list, add, remove or sync
	Addrs          []string // for add and remove
	Reason, Detail string
	Limit          int
	Mailgun        mailgun.Config // for sync
	reason         hogpipe.SuppressionReason
	sender         *mailgun.Sender
}

// Args takes the subcommand and the addresses, which come before the
// flags, and returns the rest.
func (c *Suppressions) Args(args []string) []string {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		c.Sub, args = args[0], args[1:]
	}
	for len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		c.Addrs, args = append(c.Addrs, args[0]), args[1:]
	}
	return args
}

// Flags binds the command's flags.
func (c *Suppressions) Flags(fs *cli.FlagSet) {
	fs.StringVar(&c.Reason, "reason", "HOGPIPE_SUPPRESSIONS_REASON", "", "list: only this reason; add: the reason recorded (unsubscribed, bounced, complained, manual; default manual)")
	fs.StringVar(&c.Detail, "detail", "HOGPIPE_SUPPRESSIONS_DETAIL", "", "add: a note kept with the entry")
	fs.IntVar(&c.Limit, "limit", "HOGPIPE_SUPPRESSIONS_LIMIT", 100, "list: how many entries")
	c.Mailgun.SyncFlags(fs)
}

// Check refuses what cannot work, with usage errors, before the store
// opens.
func (c *Suppressions) Check() error {
	if c.Reason != "" {
		r, err := hogpipe.ParseSuppressionReason(c.Reason)
		if err != nil {
			return cli.Usage(err)
		}
		c.reason = r
	}
	switch c.Sub {
	case "list", "sync":
		if len(c.Addrs) > 0 {
			return cli.Usagef("suppressions %s takes no addresses", c.Sub)
		}
	case "add", "remove":
		if len(c.Addrs) == 0 {
			return cli.Usagef("say which addresses: hogpipe suppressions %s ADDRESS...", c.Sub)
		}
		for _, a := range c.Addrs {
			if !hogpipe.ValidEmail(hogpipe.NormalizeAddress(a)) {
				return cli.Usagef("%q is not an email address", a)
			}
		}
	case "":
		return cli.Usagef("say what to do: %s", SuppressionsUsage)
	default:
		return cli.Usagef("unknown subcommand %q: use list, add, remove or sync", c.Sub)
	}
	if c.Limit < 1 || c.Limit > 100000 {
		return cli.Usagef("--limit must be from 1 to 100000")
	}
	if c.Sub == "sync" {
		if err := c.Mailgun.Validate(); err != nil {
			return cli.Usagef("suppressions sync reads Mailgun: %v", err)
		}
		var err error
		if c.sender, err = mailgun.New(c.Mailgun); err != nil {
			return cli.Usage(err)
		}
	}
	return nil
}

// Run does what Check accepted and reports to w.
func (c *Suppressions) Run(ctx context.Context, store SuppressionList, w io.Writer) error {
	switch c.Sub {
	case "list":
		list, err := store.ListSuppressions(ctx, c.reason, c.Limit)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ADDRESS\tREASON\tSOURCE\tSINCE\tDETAIL")
		for _, s := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Address, s.Reason, s.Source, s.CreatedAt.Format(time.RFC3339), s.Detail)
		}
		return tw.Flush()
	case "add":
		reason := c.reason
		if reason == "" {
			reason = hogpipe.SuppressManual
		}
		list := make([]hogpipe.Suppression, len(c.Addrs))
		for i, a := range c.Addrs {
			list[i] = hogpipe.Suppression{Address: a, Reason: reason, Source: "cli", Detail: c.Detail, CreatedAt: time.Now()}
		}
		n, err := store.AddSuppressions(ctx, list)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "added %d (%d already on the list)\n", n, len(list)-n)
	case "remove":
		n := 0
		for _, a := range c.Addrs {
			ok, err := store.RemoveSuppression(ctx, a)
			if err != nil {
				return err
			}
			if ok {
				n++
			} else {
				fmt.Fprintf(w, "%s was not on the list\n", hogpipe.NormalizeAddress(a))
			}
		}
		fmt.Fprintf(w, "removed %d\n", n)
	case "sync":
		return c.sync(ctx, store, w)
	}
	return nil
}

// sync adds Mailgun's lists to hogpipe's; entries that are not email
// addresses (Mailgun keeps whatever it was given) are skipped and counted.
func (c *Suppressions) sync(ctx context.Context, store SuppressionList, w io.Writer) error {
	list, err := c.sender.Suppressions(ctx)
	if err != nil {
		return err
	}
	var valid []hogpipe.Suppression
	byReason := map[hogpipe.SuppressionReason]int{}
	for _, s := range list {
		if hogpipe.ValidEmail(hogpipe.NormalizeAddress(s.Address)) {
			valid = append(valid, s)
			byReason[s.Reason]++
		}
	}
	n, err := store.AddSuppressions(ctx, valid)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "Mailgun lists %d unsubscribed, %d bounced, %d complained; %d new on hogpipe's suppression list\n",
		byReason[hogpipe.SuppressUnsubscribed], byReason[hogpipe.SuppressBounced], byReason[hogpipe.SuppressComplained], n)
	if skipped := len(list) - len(valid); skipped > 0 {
		fmt.Fprintf(w, "skipped %d entries that are not email addresses\n", skipped)
	}
	return nil
}
