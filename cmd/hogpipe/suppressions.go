package main

import (
	"context"
	"fmt"
	"github.com/hogpipe/hogpipe/internal/cli"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hogpipe/hogpipe"
	"github.com/hogpipe/hogpipe/mailgun"
	"github.com/hogpipe/hogpipe/sqlstore"
)

const suppressionsSummary = "Manage the suppression list: hogpipe suppressions list | add ADDRESS... | remove ADDRESS... | sync."

// runSuppressions: "hogpipe suppressions list|add|remove|sync". Addresses
// come right after the subcommand, flags after them.
func runSuppressions(ctx context.Context, args []string, env *environment) error {
	sub := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:]
	}
	var addrs []string
	for len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		addrs, args = append(addrs, args[0]), args[1:]
	}
	fs := env.flags("suppressions", suppressionsSummary+
		"\nlist shows the newest entries; add and remove take addresses (case does not matter); sync imports Mailgun's own unsubscribes, bounces and complaints for MAILGUN_DOMAIN.")
	var dataDir, trainingFile, database string
	addDataFlags(fs, &dataDir, &trainingFile)
	addDatabaseFlag(fs, &database)
	reasonName := fs.String("reason", "HOGPIPE_SUPPRESSIONS_REASON", "", "list: only this reason; add: the reason recorded (unsubscribed, bounced, complained, manual; default manual)")
	detail := fs.String("detail", "HOGPIPE_SUPPRESSIONS_DETAIL", "", "add: a note kept with the entry")
	limit := fs.Int("limit", "HOGPIPE_SUPPRESSIONS_LIMIT", 100, "list: how many entries")
	var cfg mailgun.Config
	cfg.SyncFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	var reason hogpipe.SuppressionReason
	if *reasonName != "" {
		r, err := hogpipe.ParseSuppressionReason(*reasonName)
		if err != nil {
			return cli.Usage(err)
		}
		reason = r
	}
	switch sub {
	case "list", "sync":
		if len(addrs) > 0 {
			return cli.Usagef("suppressions %s takes no addresses", sub)
		}
	case "add", "remove":
		if len(addrs) == 0 {
			return cli.Usagef("say which addresses: hogpipe suppressions %s ADDRESS...", sub)
		}
		for _, a := range addrs {
			if !hogpipe.ValidEmail(hogpipe.NormalizeAddress(a)) {
				return cli.Usagef("%q is not an email address", a)
			}
		}
	case "":
		return cli.Usagef("say what to do: hogpipe suppressions list | add ADDRESS... | remove ADDRESS... | sync")
	default:
		return cli.Usagef("unknown subcommand %q: use list, add, remove or sync", sub)
	}
	if *limit < 1 || *limit > 100000 {
		return cli.Usagef("--limit must be from 1 to 100000")
	}
	var sender *mailgun.Sender
	if sub == "sync" {
		if err := cfg.Validate(); err != nil {
			return cli.Usagef("suppressions sync reads Mailgun: %v", err)
		}
		var err error
		if sender, err = mailgun.New(cfg); err != nil {
			return cli.Usage(err)
		}
	}
	store, err := openExisting(ctx, dataDir, database, sqlstore.Options{})
	if err != nil {
		return err
	}
	defer store.Close()
	switch sub {
	case "list":
		list, err := store.ListSuppressions(ctx, reason, *limit)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ADDRESS\tREASON\tSOURCE\tSINCE\tDETAIL")
		for _, s := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Address, s.Reason, s.Source, s.CreatedAt.Format(time.RFC3339), s.Detail)
		}
		return tw.Flush()
	case "add":
		if reason == "" {
			reason = hogpipe.SuppressManual
		}
		list := make([]hogpipe.Suppression, len(addrs))
		for i, a := range addrs {
			list[i] = hogpipe.Suppression{Address: a, Reason: reason, Source: "cli", Detail: *detail, CreatedAt: time.Now()}
		}
		n, err := store.AddSuppressions(ctx, list)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "added %d (%d already on the list)\n", n, len(list)-n)
	case "remove":
		n := 0
		for _, a := range addrs {
			ok, err := store.RemoveSuppression(ctx, a)
			if err != nil {
				return err
			}
			if ok {
				n++
			} else {
				fmt.Fprintf(env.stdout, "%s was not on the list\n", hogpipe.NormalizeAddress(a))
			}
		}
		fmt.Fprintf(env.stdout, "removed %d\n", n)
	case "sync":
		list, err := sender.Suppressions(ctx)
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
		fmt.Fprintf(env.stdout, "Mailgun lists %d unsubscribed, %d bounced, %d complained; %d new on hogpipe's suppression list\n",
			byReason[hogpipe.SuppressUnsubscribed], byReason[hogpipe.SuppressBounced], byReason[hogpipe.SuppressComplained], n)
		if skipped := len(list) - len(valid); skipped > 0 {
			fmt.Fprintf(env.stdout, "skipped %d entries that are not email addresses\n", skipped)
		}
	}
	return nil
}
