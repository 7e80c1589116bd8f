package outbox_test

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hogpipe/hogpipe/internal/cli"
	"github.com/hogpipe/hogpipe/internal/mailguntest"
	"github.com/hogpipe/hogpipe/outbox"
	"github.com/hogpipe/hogpipe/sqlstore"
)

// suppressions parses a command line as hogpipe suppressions does.
func suppressions(t *testing.T, env map[string]string, args ...string) (*outbox.Suppressions, error) {
	t.Helper()
	c := &outbox.Suppressions{}
	rest := c.Args(args)
	fs := cli.New("suppressions", "", func(k string) string { return env[k] }, io.Discard)
	c.Flags(fs)
	if err := fs.Parse(rest); err != nil {
		return c, err
	}
	return c, c.Check()
}

// Every command line that cannot work is refused as a usage error naming
// the problem, before a store is opened.
func TestSuppressionsCheckRefuses(t *testing.T) {
	mg := map[string]string{"MAILGUN_API_KEY": "key-test", "MAILGUN_DOMAIN": "mg.example.com"}
	for _, c := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{nil, nil, "say what to do"},
		{[]string{"--limit", "5"}, nil, "say what to do"},
		{[]string{"purge"}, nil, `unknown subcommand "purge"`},
		{[]string{"list", "ann@example.com"}, nil, "takes no addresses"},
		{[]string{"sync", "ann@example.com"}, mg, "takes no addresses"},
		{[]string{"add"}, nil, "say which addresses"},
		{[]string{"remove", "--detail", "x"}, nil, "say which addresses"},
		{[]string{"add", "ann@example.com", "not-an-address"}, nil, `"not-an-address" is not an email address`},
		{[]string{"add", `"ann"@example.com`}, nil, "is not an email address"},
		{[]string{"list", "--reason", "spam"}, nil, "spam"},
		{[]string{"list", "--limit", "0"}, nil, "--limit"},
		{[]string{"list", "--limit", "100001"}, nil, "--limit"},
		{[]string{"sync"}, nil, "suppressions sync reads Mailgun: MAILGUN_API_KEY and MAILGUN_DOMAIN are not set"},
		{[]string{"sync"}, map[string]string{"MAILGUN_API_KEY": "key-test"}, "MAILGUN_DOMAIN is not"},
	} {
		_, err := suppressions(t, c.env, c.args...)
		if err == nil || !cli.IsUsage(err) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want a usage error naming %q", c.args, err, c.want)
		}
	}
}

// add, list, remove and sync against a real store and a local Mailgun.
func TestSuppressionsRun(t *testing.T) {
	ctx := context.Background()
	store, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "hogpipe.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	mg := mailguntest.New("key-test", "mg.example.com")
	defer mg.Close()
	mg.AddUnsubscribe("Cleo@Example.com")
	mg.AddBounce("dan@example.com", "550", "no such user")
	mg.AddComplaint("ann@example.com")
	mg.AddComplaint("*") // Mailgun keeps what it was given
	env := map[string]string{"MAILGUN_API_KEY": "key-test", "MAILGUN_DOMAIN": "mg.example.com", "MAILGUN_API_BASE": mg.URL}
	run := func(args ...string) string {
		t.Helper()
		c, err := suppressions(t, env, args...)
		if err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		var out bytes.Buffer
		if err := c.Run(ctx, store, &out); err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		return out.String()
	}
	for _, step := range []struct {
		args []string
		want []string
	}{
		{[]string{"add", "Ann@Example.com", "bob@example.com", "ann@example.com", "--reason", "bounced", "--detail", "by hand"}, []string{"added 2 (1 already on the list)"}},
		{[]string{"list", "--reason", "bounced"}, []string{"ann@example.com  bounced", "bob@example.com", "by hand"}},
		{[]string{"remove", "BOB@example.com", "eve@example.com"}, []string{"eve@example.com was not on the list", "removed 1"}},
		{[]string{"sync"}, []string{"Mailgun lists 1 unsubscribed, 1 bounced, 1 complained; 2 new", "skipped 1 entries that are not email addresses"}},
		{[]string{"list"}, []string{"cleo@example.com", "dan@example.com", "ann@example.com"}},
	} {
		out := run(step.args...)
		for _, w := range step.want {
			if !strings.Contains(out, w) {
				t.Errorf("%q printed:\n%s\nwant it to say %q", step.args, out, w)
			}
		}
	}
	if out := run("list"); strings.Contains(out, "bob@example.com") {
		t.Errorf("bob was removed, but the list shows:\n%s", out)
	}
}
