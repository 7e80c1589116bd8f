package main

import (
	"context"
	"strings"
	"testing"

	"github.com/hogpipe/hogpipe"
)

type nopSender struct{}

func (nopSender) Send(context.Context, hogpipe.Message) (string, error) { return "", nil }

// The public URL becomes the prefix of every List-Unsubscribe link, which
// mailbox providers POST to as is: a shape that makes a broken or
// redirected link (extra slashes, a query or fragment the path lands in,
// spaces) or that puts credentials into every email is refused at start,
// and a trailing slash, however many, is dropped.
func TestPublicURLShapes(t *testing.T) {
	for _, c := range []struct{ in, want, err string }{
		{"https://hogpipe.example.com", "https://hogpipe.example.com", ""},
		{"https://hogpipe.example.com/", "https://hogpipe.example.com", ""},
		{"https://hogpipe.example.com//", "https://hogpipe.example.com", ""},
		{"https://hogpipe.example.com/mail/", "https://hogpipe.example.com/mail", ""},
		{"https://hogpipe.example.com:8443", "https://hogpipe.example.com:8443", ""},
		{"https://user:pw@hogpipe.example.com", "", "user"},
		{"https://hogpipe.example.com/?", "", "HOGPIPE_PUBLIC_URL"},
		{"https://hogpipe.example.com/#", "", "HOGPIPE_PUBLIC_URL"},
		{"https://hogpipe.example.com/a b", "", "HOGPIPE_PUBLIC_URL"},
		{"https:///mail", "", "HOGPIPE_PUBLIC_URL"},
		{"http://hogpipe.example.com", "", "https"},
		{"ftp://hogpipe.example.com", "", "HOGPIPE_PUBLIC_URL"},
	} {
		fc := &feedbackConfig{publicURL: c.in, tokenTTL: 30 * 24 * 3600e9, webhookMaxAge: 3600e9}
		err := fc.check(&emailSetup{sender: nopSender{}})
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%q: %v", c.in, err)
		case c.err == "" && fc.publicURL != c.want:
			t.Errorf("%q: links start %q, want %q", c.in, fc.publicURL, c.want)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%q: %v, want an error naming %s", c.in, err, c.err)
		}
	}
}
