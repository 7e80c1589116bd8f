package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hogpipe/hogpipe/internal/mailguntest"
	"github.com/hogpipe/hogpipe/internal/pgtest"
	"github.com/hogpipe/hogpipe/unsubscribe"
)

// testPublicURL is the public URL tests configure; links in emails point
// there and tests send their requests to the real server at the same path.
const testPublicURL = "https://hogpipe.example.com"

const (
	testUnsubSecret = "test-unsubscribe-secret-0123456789abcdef"
	testSigningKey  = "test-webhook-signing-key"
)

// onBothDatabases runs f on SQLite and on PostgreSQL (required under CI).
func onBothDatabases(t *testing.T, f func(t *testing.T, env map[string]string)) {
	t.Run("sqlite", func(t *testing.T) { f(t, map[string]string{}) })
	t.Run("postgres", func(t *testing.T) { f(t, map[string]string{"DATABASE_URL": pgtest.URL(t)}) })
}

// feedbackServer is a server sending through a new fake Mailgun, with
// feedbackEnv(mg, db, extra...).
func feedbackServer(t *testing.T, db map[string]string, extra ...string) (*mailguntest.Server, *testServer) {
	t.Helper()
	mg := newMailgun(t)
	return mg, startServer(t, feedbackEnv(mg, db, extra...))
}

func feedbackEnv(mg *mailguntest.Server, db map[string]string, extra ...string) map[string]string {
	env := mailEnv(mg, append([]string{"HOGPIPE_UNSUBSCRIBE_SECRET", testUnsubSecret, "MAILGUN_WEBHOOK_SIGNING_KEY", testSigningKey,
		"MAIL_REPLY_TO", "team@mg.example.com"}, extra...)...)
	for k, v := range db {
		env[k] = v
	}
	return env
}

var linkRE = regexp.MustCompile(`https?://[^\s"<>]+/unsubscribe/[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+`)

// localURL maps a link in an email (public URL) to the test server.
func localURL(t *testing.T, ts *testServer, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	return ts.URL + u.Path
}

func suppressionsOf(t *testing.T, ts *testServer) map[string]any {
	t.Helper()
	r := get(t, ts.URL+"/api/suppressions")
	if r.Status != 200 {
		t.Fatalf("GET /api/suppressions: %d %v", r.Status, r.Body)
	}
	return r.Body
}

func TestUnsubscribeOneClick(t *testing.T) {
	onBothDatabases(t, func(t *testing.T, db map[string]string) {
		mg, ts := feedbackServer(t, db)
		sentEmail(t, ts, "u1", "Ada@Example.com")
		msgs := mg.Messages()
		if len(msgs) != 1 {
			t.Fatalf("messages: %v", msgs)
		}
		m := msgs[0]
		// The headers Gmail and Yahoo read, an https link and a mailto,
		// and the same link in both bodies' footers.
		lu := m.Headers["List-Unsubscribe"]
		link := linkRE.FindString(lu)
		if !strings.HasPrefix(lu, "<"+testPublicURL+"/unsubscribe/") || link == "" ||
			!strings.Contains(lu, "<mailto:team@mg.example.com?subject=unsubscribe>") ||
			m.Headers["List-Unsubscribe-Post"] != "List-Unsubscribe=One-Click" {
			t.Fatalf("headers: %v", m.Headers)
		}
		if !strings.Contains(m.Text, link) || !strings.Contains(m.HTML, `href="`+link+`"`) {
			t.Errorf("footer link %s missing:\ntext: %s\nhtml: %s", link, m.Text, m.HTML)
		}
		page := localURL(t, ts, link)

		// GET (a link scanner, or a person) changes nothing.
		for range 2 {
			resp, err := http.Get(page)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.Contains(string(b), `id="confirm-unsubscribe"`) || !strings.Contains(string(b), "ada@example.com") {
				t.Fatalf("GET page: %d %s", resp.StatusCode, b)
			}
		}
		if n := len(suppressionsOf(t, ts)["suppressions"].([]any)); n != 0 {
			t.Fatalf("GET changed the suppression list: %d entries", n)
		}

		// Forged, damaged and expired tokens are refused and change nothing.
		payload, mac, _ := strings.Cut(page[strings.LastIndex(page, "/")+1:], ".")
		otherKey := unsubscribe.NewSigner(strings.Repeat("z", 40), time.Hour).Token("ada@example.com", "feature_used", time.Now())
		expired := unsubscribe.NewSigner(testUnsubSecret, time.Hour).TokenExpiring("ada@example.com", "feature_used", time.Now().Add(-time.Minute))
		evePayload, _, _ := strings.Cut(unsubscribe.NewSigner(testUnsubSecret, time.Hour).Token("eve@example.com", "feature_used", time.Now()), ".")
		_ = payload
		for _, c := range []struct {
			tok    string
			status int
		}{
			{otherKey, 403}, {evePayload + "." + mac, 403}, {expired, 410}, {"garbage", 400}, {payload + ".", 403},
		} {
			r := post(t, ts.URL+"/unsubscribe/"+c.tok, "List-Unsubscribe=One-Click", "Content-Type", "application/x-www-form-urlencoded")
			if r.Status != c.status {
				t.Errorf("token %q: %d %v, want %d", c.tok, r.Status, r.Body, c.status)
			}
		}
		if n := len(suppressionsOf(t, ts)["suppressions"].([]any)); n != 0 {
			t.Fatalf("a refused token changed the suppression list: %d entries", n)
		}

		// The one-click POST as RFC 8058 has mailbox providers send it.
		r := post(t, page, "List-Unsubscribe=One-Click", "Content-Type", "application/x-www-form-urlencoded")
		if r.Status != 200 || r.Body["unsubscribed"] != true {
			t.Fatalf("one-click POST: %d %v", r.Status, r.Body)
		}
		sup := suppressionsOf(t, ts)
		list := sup["suppressions"].([]any)
		if len(list) != 1 || list[0].(map[string]any)["address"] != "ada@example.com" ||
			list[0].(map[string]any)["reason"] != "unsubscribed" || sup["counts"].(map[string]any)["unsubscribed"] != float64(1) {
			t.Fatalf("suppressions: %v", sup)
		}
		// A second POST (a double click) is fine and adds nothing.
		if r := post(t, page, "List-Unsubscribe=One-Click"); r.Status != 200 {
			t.Errorf("second POST: %d %v", r.Status, r.Body)
		}

		// The next feature_used, under another spelling of the address, is
		// suppressed (before the frequency cap could say anything).
		post(t, ts.URL+"/api/webhooks/feature-used", featureBody("u2", " ADA@example.COM. "))
		e := emailOf(t, ts, "u2")
		if e["state"] != "suppressed" || !strings.Contains(e["reason"].(string), "unsubscribed") {
			t.Errorf("next email: %v", e)
		}
		if n := len(mg.Messages()); n != 1 {
			t.Errorf("Mailgun got %d messages, want 1", n)
		}
	})
}

// webhook sends a signed Mailgun event and returns the answer.
func webhook(t *testing.T, ts *testServer, sg mailguntest.Signed) (int, string) {
	t.Helper()
	status, body, err := mailguntest.Deliver(ts.URL+"/api/webhooks/mailgun", sg)
	if err != nil {
		t.Fatal(err)
	}
	return status, body
}

func emailByID(t *testing.T, ts *testServer, id any) map[string]any {
	t.Helper()
	r := get(t, fmt.Sprintf("%s/api/emails/%v", ts.URL, id))
	if r.Status != 200 {
		t.Fatalf("GET /api/emails/%v: %d %v", id, r.Status, r.Body)
	}
	return r.Body
}

func TestMailgunEventWebhooks(t *testing.T) {
	onBothDatabases(t, func(t *testing.T, db map[string]string) {
		_, ts := feedbackServer(t, db)
		ids := map[string]any{}
		for _, who := range []string{"bob", "carol", "dan"} {
			post(t, ts.URL+"/api/webhooks/feature-used", featureBody("w-"+who, who+"@example.com"))
			e := emailOf(t, ts, "w-"+who)
			if e["state"] != "sent" {
				t.Fatalf("%s: %v", who, e)
			}
			ids[who] = e["id"]
		}
		now := time.Now()
		send := func(e mailguntest.Event) (int, string, mailguntest.Signed) {
			sg := mailguntest.Sign(testSigningKey, now, e)
			st, body := webhook(t, ts, sg)
			return st, body, sg
		}
		st, body, delivered := send(mailguntest.Event{Event: "delivered", Recipient: "bob@example.com", EventID: "w-bob"})
		if st != 200 {
			t.Fatalf("delivered: %d %s", st, body)
		}
		if e := emailByID(t, ts, ids["bob"]); e["state"] != "delivered" || len(e["history"].([]any)) != 1 {
			t.Fatalf("after delivered: %v", e)
		}
		if st, body, _ := send(mailguntest.Event{Event: "failed", Severity: "permanent", Reason: "bounce", Recipient: "Carol@Example.com", EventID: "w-carol"}); st != 200 {
			t.Fatalf("bounce: %d %s", st, body)
		}
		if st, body, _ := send(mailguntest.Event{Event: "complained", Recipient: "dan@example.com", EventID: "w-dan"}); st != 200 {
			t.Fatalf("complaint: %d %s", st, body)
		}
		for _, ev := range []mailguntest.Event{
			{Event: "failed", Severity: "temporary", Reason: "greylisted", Recipient: "bob@example.com", EventID: "w-bob"},
			{Event: "opened", Recipient: "bob@example.com", EventID: "w-bob"},
			{Event: "clicked", Recipient: "bob@example.com", EventID: "w-bob"},
		} {
			if st, body, _ := send(ev); st != 200 {
				t.Fatalf("%s: %d %s", ev.Event, st, body)
			}
		}
		bob := emailByID(t, ts, ids["bob"])
		hist := bob["history"].([]any)
		if bob["state"] != "delivered" || bob["opens"] != float64(1) || bob["clicks"] != float64(1) || len(hist) != 4 ||
			hist[1].(map[string]any)["event"] != "failed:temporary" {
			t.Errorf("bob after temporary failure, open, click: %v", bob)
		}
		if e := emailByID(t, ts, ids["carol"]); e["state"] != "bounced" {
			t.Errorf("carol: %v", e)
		}
		if e := emailByID(t, ts, ids["dan"]); e["state"] != "complained" {
			t.Errorf("dan: %v", e)
		}
		counts := suppressionsOf(t, ts)["counts"].(map[string]any)
		if counts["bounced"] != float64(1) || counts["complained"] != float64(1) || len(counts) != 2 {
			t.Errorf("suppression counts: %v", counts)
		}

		// Refused (or acknowledged and ignored) deliveries change nothing.
		before := func() []any {
			return []any{emailByID(t, ts, ids["bob"]), emailByID(t, ts, ids["carol"]), suppressionsOf(t, ts)}
		}
		snapshot := before()
		forged := mailguntest.Sign("not-the-key", now, mailguntest.Event{Event: "complained", Recipient: "bob@example.com", EventID: "w-bob"})
		stale := mailguntest.Sign(testSigningKey, now.Add(-13*time.Hour), mailguntest.Event{Event: "complained", Recipient: "bob@example.com", EventID: "w-bob"})
		future := mailguntest.Sign(testSigningKey, now.Add(time.Hour), mailguntest.Event{Event: "complained", Recipient: "bob@example.com", EventID: "w-bob"})
		// A captured signature is only over timestamp and token: replayed
		// with other event data it must be refused.
		replayed := mailguntest.Sign(testSigningKey, now, mailguntest.Event{Event: "complained", Recipient: "bob@example.com", EventID: "w-bob"})
		replayed.Timestamp, replayed.Token, replayed.Signature = delivered.Timestamp, delivered.Token, delivered.Signature
		retimed := delivered
		retimed.Timestamp = fmt.Sprint(now.Unix() + 1)
		unknown := mailguntest.Sign(testSigningKey, now, mailguntest.Event{Event: "accepted", Recipient: "bob@example.com", EventID: "w-bob"})
		for _, c := range []struct {
			name   string
			sg     mailguntest.Signed
			status int
		}{
			{"forged", forged, 401}, {"stale", stale, 406}, {"future", future, 406},
			{"replayed token", replayed, 406}, {"timestamp changed", retimed, 401},
			{"redelivery of the same event", delivered, 200}, {"unknown event", unknown, 200},
		} {
			if st, body := webhook(t, ts, c.sg); st != c.status {
				t.Errorf("%s: %d %s, want %d", c.name, st, body, c.status)
			}
			if after := before(); !reflect.DeepEqual(after, snapshot) {
				t.Errorf("%s changed something:\nbefore %v\nafter  %v", c.name, snapshot, after)
				snapshot = after
			}
		}
		resp, err := http.Post(ts.URL+"/api/webhooks/mailgun", "application/json", strings.NewReader(`{"signature":`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("malformed body: %d", resp.StatusCode)
		}

		// Mailgun's own unsubscribe link suppresses without touching the state.
		if st, body, _ := send(mailguntest.Event{Event: "unsubscribed", Recipient: "BOB@example.com", EventID: "w-bob"}); st != 200 {
			t.Fatalf("unsubscribed: %d %s", st, body)
		}
		if e := emailByID(t, ts, ids["bob"]); e["state"] != "delivered" {
			t.Errorf("bob after unsubscribing: %v", e)
		}
		if c := suppressionsOf(t, ts)["counts"].(map[string]any); c["unsubscribed"] != float64(1) {
			t.Errorf("counts after unsubscribed: %v", c)
		}

		// The bounced address gets nothing more.
		post(t, ts.URL+"/api/webhooks/feature-used", featureBody("w-carol-2", "carol@example.com"))
		if e := emailOf(t, ts, "w-carol-2"); e["state"] != "suppressed" || !strings.Contains(e["reason"].(string), "bounced") {
			t.Errorf("carol's next email: %v", e)
		}
	})
}

func TestMailgunWebhookNeedsItsKey(t *testing.T) {
	mg := newMailgun(t)
	env := mailEnv(mg) // no MAILGUN_WEBHOOK_SIGNING_KEY
	ts := startServer(t, env)
	// mailgun-go would fall back to the API key; hogpipe must not.
	sg := mailguntest.Sign(mg.APIKey, time.Now(), mailguntest.Event{Event: "complained", Recipient: "x@example.com", EventID: "x"})
	if st, body := webhook(t, ts, sg); st != 401 || !strings.Contains(body, "MAILGUN_WEBHOOK_SIGNING_KEY") {
		t.Errorf("%d %s", st, body)
	}
}

func TestRealSendingNeedsUnsubscribe(t *testing.T) {
	mg := newMailgun(t)
	env := mailEnv(mg)
	delete(env, "HOGPIPE_PUBLIC_URL")
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"hogpipe", "serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir()},
		func(k string) string { return env[k] }, &out, &errb)
	if err == nil || exitCode(err) != exitUsage || !strings.Contains(err.Error(), "HOGPIPE_PUBLIC_URL") ||
		!strings.Contains(err.Error(), "HOGPIPE_EMAIL_WITHOUT_UNSUBSCRIBE") {
		t.Fatalf("without a public URL: %v", err)
	}
	env["HOGPIPE_PUBLIC_URL"] = "http://hogpipe.example.com"
	err = run(context.Background(), []string{"hogpipe", "serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir()},
		func(k string) string { return env[k] }, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "must be https") {
		t.Fatalf("with an http public URL: %v", err)
	}
	// The explicit opt-out sends without the headers.
	delete(env, "HOGPIPE_PUBLIC_URL")
	env["HOGPIPE_EMAIL_WITHOUT_UNSUBSCRIBE"] = "true"
	ts := startServer(t, env)
	post(t, ts.URL+"/api/webhooks/feature-used", featureBody("n1", "ann@example.com"))
	if e := emailOf(t, ts, "n1"); e["state"] != "sent" {
		t.Fatal(e)
	}
	if m := mg.Messages()[0]; m.Headers["List-Unsubscribe"] != "" || strings.Contains(m.HTML, "/unsubscribe/") {
		t.Errorf("opted out, yet: %v", m.Headers)
	}
}

func TestConsentRequired(t *testing.T) {
	_, ts := mailServer(t, "HOGPIPE_EMAIL_REQUIRE_CONSENT", "marketing_consent")
	for i, c := range []struct {
		consent string // JSON value, "" for absent
		state   string
	}{
		{`true`, "sent"}, {`"true"`, "sent"}, {`false`, "no_consent"}, {``, "no_consent"}, {`"yes"`, "no_consent"}, {`1`, "no_consent"}, {`null`, "no_consent"},
	} {
		props := fmt.Sprintf(`"email":"c%d@example.com"`, i)
		if c.consent != "" {
			props += `,"marketing_consent":` + c.consent
		}
		id := fmt.Sprintf("c%d", i)
		post(t, ts.URL+"/api/webhooks/feature-used", fmt.Sprintf(`{"event":{"uuid":%q,"event":"feature_used","distinct_id":"d"},"person":{"properties":{%s}}}`, id, props))
		if e := emailOf(t, ts, id); e["state"] != c.state {
			t.Errorf("consent %s: %v, want %s", c.consent, e, c.state)
		}
	}
}

func TestSuppressionsAPIAndCLI(t *testing.T) {
	onBothDatabases(t, func(t *testing.T, db map[string]string) {
		mg := newMailgun(t)
		env := feedbackEnv(mg, db)
		ts := startServer(t, env)
		if r := post(t, ts.URL+"/api/suppressions", `{"address":"Eve@Example.com","detail":"asked by phone"}`); r.Status != 200 || r.Body["added"] != true {
			t.Fatalf("add: %v", r)
		}
		if r := post(t, ts.URL+"/api/suppressions", `{"address":"EVE@example.com"}`); r.Status != 200 || r.Body["added"] != false {
			t.Errorf("case variant added again: %v", r)
		}
		for _, bad := range []string{`{"address":"not-an-address"}`, `{"address":"a@b.co","reason":"annoyed"}`, `[`} {
			if r := post(t, ts.URL+"/api/suppressions", bad); r.Status != 422 && r.Status != 400 {
				t.Errorf("%s: %d %v", bad, r.Status, r.Body)
			}
		}
		// Mailgun's own lists, imported through mailgun-go.
		mg.AddUnsubscribe("Fay@Example.com")
		mg.AddBounce("gus@example.com", "550", "No such user")
		mg.AddComplaint("hal@example.com")
		mg.AddComplaint("eve@example.com") // already on the list
		mg.AddUnsubscribe("*")             // Mailgun's wildcard rows are not addresses
		cli := func(args ...string) string {
			var out, errb bytes.Buffer
			err := run(context.Background(), append([]string{"hogpipe", "suppressions"}, append(args, "--data-dir", ts.DataDir)...),
				func(k string) string { return env[k] }, &out, &errb)
			if err != nil {
				t.Fatalf("suppressions %v: %v\n%s", args, err, errb.String())
			}
			return out.String()
		}
		if out := cli("sync"); !strings.Contains(out, "1 unsubscribed, 1 bounced, 2 complained; 3 new") {
			t.Errorf("sync: %q", out)
		}
		if out := cli("sync"); !strings.Contains(out, "0 new") {
			t.Errorf("second sync: %q", out)
		}
		counts := suppressionsOf(t, ts)["counts"].(map[string]any)
		if !reflect.DeepEqual(counts, map[string]any{"manual": 1.0, "unsubscribed": 1.0, "bounced": 1.0, "complained": 1.0}) {
			t.Errorf("counts: %v", counts)
		}
		out := cli("list", "--reason", "bounced")
		if !strings.Contains(out, "gus@example.com") || strings.Contains(out, "fay@") {
			t.Errorf("list --reason bounced: %q", out)
		}
		cli("add", "Ivy@example.com", "--reason", "manual")
		if out := cli("remove", "FAY@example.com", "nobody@example.com"); !strings.Contains(out, "removed 1") {
			t.Errorf("remove: %q", out)
		}
		req, _ := http.NewRequest("DELETE", ts.URL+"/api/suppressions/GUS@example.com", nil)
		if r := do(t, req); r.Status != 200 {
			t.Errorf("DELETE: %v", r)
		}
		if r := do(t, req); r.Status != 404 {
			t.Errorf("DELETE again: %v", r)
		}
		list := suppressionsOf(t, ts)["suppressions"].([]any)
		var got []string
		for _, s := range list {
			got = append(got, s.(map[string]any)["address"].(string))
		}
		if strings.Join(got, ",") != "ivy@example.com,hal@example.com,eve@example.com" && len(got) != 3 {
			t.Errorf("left: %v", got)
		}
		// Removed means mail flows again.
		post(t, ts.URL+"/api/webhooks/feature-used", featureBody("s-fay", "fay@example.com"))
		if e := emailOf(t, ts, "s-fay"); e["state"] != "sent" {
			t.Errorf("fay after removal: %v", e)
		}
	})
}

// Without HOGPIPE_UNSUBSCRIBE_SECRET the key is made once, kept owner-only
// in the data directory, and links keep working across restarts.
func TestUnsubscribeKeyFileAndDryRunLink(t *testing.T) {
	ts := startServer(t, map[string]string{})
	post(t, ts.URL+"/api/webhooks/feature-used", featureBody("k1", "kim@example.com"))
	e := emailOf(t, ts, "k1")
	if e["state"] != "dry_run" {
		t.Fatal(e)
	}
	preview := func() string {
		resp, err := http.Get(fmt.Sprintf("%s/api/emails/%v/preview", ts.URL, e["id"]))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("preview: %d %s", resp.StatusCode, b)
		}
		return linkRE.FindString(string(b))
	}
	link := preview()
	if !strings.HasPrefix(link, ts.URL+"/unsubscribe/") {
		t.Fatalf("dry-run footer link %q does not point at this server %s", link, ts.URL)
	}
	fi, err := os.Stat(filepath.Join(ts.DataDir, "unsubscribe.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	ts.stop()
	ts = restartServer(t, ts, map[string]string{})
	page := localURL(t, ts, link)
	if r := post(t, page, "List-Unsubscribe=One-Click"); r.Status != 200 {
		t.Fatalf("link from before the restart: %d %v", r.Status, r.Body)
	}
}
