package hogpipe

import (
	"net/mail"
	"testing"
)

// FuzzRecipientKey: an address hogpipe would mail is known by exactly one
// key. Wherever a mail parser (net/mail, as a stand-in for Mailgun's and
// the receiving server's) reads an accepted recipient as some mailbox, the
// key (NormalizeAddress) of what was sent equals the key of that mailbox:
// otherwise spellings of one mailbox — a quoted local part, a comment, a
// display name — would each pass the frequency cap and the suppression
// list.
func FuzzRecipientKey(f *testing.F) {
	for _, s := range []string{
		"victim@example.org", `"victim"@example.org`, "victim(x)@example.org", "victim@example.org(x)",
		"victim@(x)example.org", `"vic\tim"@example.org`, `vic"tim"@example.org`, "victim@[192.0.2.1]",
		"Victim@Example.org.", "a+tag@example.com", "v@example.org", `"a b"@example.org`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !ValidEmail(s) {
			return
		}
		a, err := mail.ParseAddress(s)
		if err != nil {
			return // not an address mail software reads; Mailgun refuses it
		}
		if NormalizeAddress(a.Address) != NormalizeAddress(s) {
			t.Fatalf("%q is accepted and read as mailbox %q, but keyed %q, not %q",
				s, a.Address, NormalizeAddress(s), NormalizeAddress(a.Address))
		}
	})
}
