package main

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hogpipe/hogpipe/internal/mailguntest"
	"github.com/hogpipe/hogpipe/unsubscribe"
)

// A page on another site can make the operator's browser send requests
// to hogpipe on 127.0.0.1, which the admin API trusts as local. Writes from
// such a page (a "simple" cross-site POST needs no CORS preflight) must be
// refused with nothing changed; the dashboard's own requests (same origin)
// and non-browser clients (curl: no Origin, no Sec-Fetch-Site) still work.
func TestAdminWritesRefuseCrossSiteRequests(t *testing.T) {
	mg := newMailgun(t)
	ts := startServer(t, feedbackEnv(mg, nil))
	// An email that failed: the replay endpoint has something to requeue.
	mg.Then(mailguntest.Response{Status: 400, Message: "'to' parameter is not a valid address"})
	post(t, ts.URL+"/api/webhooks/feature-used", featureBody("x-failed", "fail@example.com"))
	if e := emailOf(t, ts, "x-failed"); e["state"] != "failed" {
		t.Fatalf("email: %v", e)
	}
	if r := post(t, ts.URL+"/api/suppressions", `{"address":"kept@example.com"}`); r.Status != 200 {
		t.Fatalf("add: %v", r)
	}
	cross := [][]string{
		{"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"},
		{"Sec-Fetch-Site", "cross-site"},
		{"Sec-Fetch-Site", "same-site", "Origin", "https://evil.hogpipe.example.com"},
		{"Origin", "https://evil.example"}, // a browser without Sec-Fetch-Site
		{"Origin", "null"},                 // a sandboxed iframe or a data: page
	}
	writes := []struct{ method, path, body string }{
		{"POST", "/api/suppressions", `{"address":"victim@example.com","reason":"manual"}`},
		{"DELETE", "/api/suppressions/kept@example.com", ""},
		{"POST", "/api/emails/replay?state=failed", ""},
	}
	for _, w := range writes {
		for _, h := range cross {
			req := mustRequest(t, w.method, ts.URL+w.path, w.body)
			req.Header.Set("Content-Type", "text/plain")
			for i := 0; i+1 < len(h); i += 2 {
				req.Header.Set(h[i], h[i+1])
			}
			r := do(t, req)
			if r.Status != http.StatusForbidden || r.Body["code"] == nil || !strings.Contains(r.Body["error"].(string), "cross") {
				t.Errorf("%s %s with %v: %d %v, want 403 naming the cross-origin request", w.method, w.path, h, r.Status, r.Body)
			}
		}
	}
	sup := suppressionsOf(t, ts)
	if list := sup["suppressions"].([]any); len(list) != 1 || list[0].(map[string]any)["address"] != "kept@example.com" {
		t.Errorf("cross-site requests changed the suppression list: %v", sup)
	}
	if e := emailOf(t, ts, "x-failed"); e["state"] != "failed" {
		t.Errorf("a cross-site request replayed the failed email: %v", e)
	}
	// Reads from the dashboard pass; a read from another site is not
	// local (server/crosssite.go), so without the admin token it is 401.
	req := mustRequest(t, "GET", ts.URL+"/api/suppressions", "")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if r := do(t, req); r.Status != 200 {
		t.Errorf("same-origin GET: %d %v", r.Status, r.Body)
	}
	req = mustRequest(t, "GET", ts.URL+"/api/suppressions", "")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if r := do(t, req); r.Status != 401 {
		t.Errorf("cross-site GET: %d %v, want 401", r.Status, r.Body)
	}
	// The dashboard (same origin) and curl (no browser headers) may write.
	if r := post(t, ts.URL+"/api/suppressions", `{"address":"dash@example.com"}`, "Sec-Fetch-Site", "same-origin", "Origin", ts.URL); r.Status != 200 {
		t.Errorf("same-origin POST: %d %v", r.Status, r.Body)
	}
	if r := post(t, ts.URL+"/api/suppressions", `{"address":"curl@example.com"}`); r.Status != 200 {
		t.Errorf("POST without browser headers: %d %v", r.Status, r.Body)
	}
	// Unsubscribe links are not admin: a valid token is the credential,
	// from wherever the POST comes (a mail client, a webmail page).
	post(t, ts.URL+"/api/webhooks/feature-used", featureBody("x-sent", "reader@example.com"))
	if e := emailOf(t, ts, "x-sent"); e["state"] != "sent" || len(mg.Messages()) != 1 {
		t.Fatalf("email: %v", e)
	}
	link := linkRE.FindString(mg.Messages()[0].Headers["List-Unsubscribe"])
	if r := post(t, localURL(t, ts, link), "List-Unsubscribe=One-Click", "Content-Type", "application/x-www-form-urlencoded",
		"Sec-Fetch-Site", "cross-site", "Origin", "https://mail.example"); r.Status != 200 {
		t.Errorf("cross-site one-click POST: %d %v", r.Status, r.Body)
	}
}

// At info level the log holds no recipient: not in request paths (the
// suppression API takes the address in its path; an unsubscribe token
// carries it in base64, also under an unclean path the server redirects),
// not from the Mailgun webhook (signed or not); nor the unsubscribe key or
// the webhook signing key.
func TestFeedbackLogsHoldNoAddresses(t *testing.T) {
	const to, other = "grace.hopper@example.com", "ada.lovelace@example.com"
	mg := newMailgun(t)
	ts := startServer(t, feedbackEnv(mg, nil), "--log-level", "info")
	post(t, ts.URL+"/api/webhooks/feature-used", featureBody("l1", to))
	if e := emailOf(t, ts, "l1"); e["state"] != "sent" {
		t.Fatalf("email: %v", e)
	}
	link := linkRE.FindString(mg.Messages()[0].Headers["List-Unsubscribe"])
	page := localURL(t, ts, link)
	tok := page[strings.LastIndex(page, "/")+1:]
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, u := range []string{page, ts.URL + "//unsubscribe/" + tok, ts.URL + "/x/../unsubscribe/" + tok} {
		req, _ := http.NewRequest("GET", u, nil)
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if r := post(t, page, "List-Unsubscribe=One-Click"); r.Status != 200 {
		t.Fatalf("unsubscribe: %v", r)
	}
	post(t, ts.URL+"/api/suppressions", `{"address":"`+other+`"}`)
	do(t, mustRequest(t, "DELETE", ts.URL+"/api/suppressions/"+other, ""))
	do(t, mustRequest(t, "DELETE", ts.URL+"/api/suppressions/"+other, "")) // 404 now
	webhook(t, ts, mailguntest.Sign(testSigningKey, time.Now(), mailguntest.Event{Event: "failed", Severity: "permanent", Recipient: to, EventID: "l1"}))

	logs := ts.Logs()
	if n := strings.Count(logs, `"msg":"request"`); n < 8 {
		t.Fatalf("only %d request lines; the test needs them to mean anything:\n%s", n, logs)
	}
	webhook(t, ts, mailguntest.Sign("wrong-"+testSigningKey, time.Now(), mailguntest.Event{Event: "complained", Recipient: to, EventID: "l1"}))
	for _, s := range []string{to, other, "grace.hopper", "ada.lovelace", tok, strings.SplitN(tok, ".", 2)[0], testUnsubSecret, testSigningKey} {
		if strings.Contains(logs, s) {
			t.Errorf("the log holds %q:\n%s", s, logs)
		}
	}
}

// Replaying no_consent emails would send to people who never consented
// (the worker does not look at consent again): refused, by the API and
// the CLI, and nothing is sent.
func TestReplayRefusesNoConsent(t *testing.T) {
	mg := newMailgun(t)
	env := feedbackEnv(mg, nil, "HOGPIPE_EMAIL_REQUIRE_CONSENT", "marketing_consent")
	ts := startServer(t, env)
	post(t, ts.URL+"/api/webhooks/feature-used", featureBody("nc1", "nc@example.com"))
	if e := emailOf(t, ts, "nc1"); e["state"] != "no_consent" {
		t.Fatalf("email: %v", e)
	}
	r := post(t, ts.URL+"/api/emails/replay?state=no_consent", "")
	if r.Status != 400 || !strings.Contains(r.Body["error"].(string), "consent") {
		t.Errorf("API replay of no_consent: %d %v", r.Status, r.Body)
	}
	var out, errb strings.Builder
	err := run(t.Context(), []string{"hogpipe", "replay", "emails", "--state", "no_consent", "--data-dir", ts.DataDir},
		func(k string) string { return env[k] }, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "consent") {
		t.Errorf("CLI replay of no_consent: %v %s", err, out.String())
	}
	// Give a wrongly requeued email the time to go out before looking.
	post(t, ts.URL+"/api/webhooks/feature-used", `{"event":{"uuid":"nc2","event":"feature_used","distinct_id":"d"},"person":{"properties":{"email":"yes@example.com","marketing_consent":true}}}`)
	emailOf(t, ts, "nc2")
	if e := emailOf(t, ts, "nc1"); e["state"] != "no_consent" {
		t.Errorf("after the refused replays: %v", e)
	}
	for _, m := range mg.Messages() {
		if m.To == "nc@example.com" {
			t.Errorf("sent to a person without consent: %+v", m.Subject)
		}
	}
}

// hostileTokens turns a valid token into altered, forged, expired and
// damaged ones: none may unsubscribe anybody.
func hostileTokens(valid string) map[string]string {
	payload, mac, _ := strings.Cut(valid, ".")
	flip := func(s string, i int) string {
		b := []byte(s)
		switch c := b[i]; {
		case c >= 'a' && c <= 'z':
			b[i] = c - 32
		case c >= 'A' && c <= 'Z':
			b[i] = c + 32
		default:
			b[i] = 'A'
		}
		return string(b)
	}
	now := time.Now()
	mine := unsubscribe.NewSigner(testUnsubSecret, time.Hour)
	evePayload, _, _ := strings.Cut(mine.Token("eve@example.com", "feature_used", now), ".")
	return map[string]string{
		"upper case":          strings.ToUpper(valid),
		"lower case":          strings.ToLower(valid),
		"payload letter case": flip(valid, 3),
		"mac letter case":     payload + "." + flip(mac, 5),
		"padding":             valid + "=",
		"padded payload":      payload + "==." + mac,
		"mac cut by one":      valid[:len(valid)-1],
		"mac cut by two":      valid[:len(valid)-2],
		"no mac":              payload + ".",
		"no dot":              payload + mac,
		"payload only":        payload,
		"extra part":          valid + ".x",
		"payload cut":         payload[:len(payload)-4] + "." + mac,
		"other payload":       evePayload + "." + mac,
		"other key":           unsubscribe.NewSigner(strings.Repeat("k", 40), time.Hour).Token("ada@example.com", "feature_used", now),
		"expired":             mine.TokenExpiring("ada@example.com", "feature_used", now.Add(-time.Second)),
		"expires now":         mine.TokenExpiring("ada@example.com", "feature_used", now),
		"huge":                strings.Repeat("A", 3000) + "." + mac,
		"standard base64":     strings.NewReplacer("-", "+", "_", "/").Replace(payload) + "+/." + mac,
		"nul":                 payload + "%00." + mac,
		"space":               "%20" + valid,
	}
}

// Over the real server, on both databases: every hostile token is refused
// with a 4xx (an HTML page for GET and for browsers, JSON with a code for
// one-click POSTs) and changes nothing; GET and HEAD of a valid link
// change nothing, other methods are 405; the one-click POST works as RFC
// 8058 has it sent (form-encoded) and also multipart; a token for another
// kind of email still unsubscribes the address; the page escapes what it
// shows.
func TestUnsubscribeHostileRequests(t *testing.T) {
	onBothDatabases(t, func(t *testing.T, db map[string]string) {
		_, ts := feedbackServer(t, db)
		mine := unsubscribe.NewSigner(testUnsubSecret, time.Hour)
		valid := mine.Token("Ada@Example.com", "feature_used", time.Now())
		base := ts.URL + "/unsubscribe/"
		empty := func(what string) {
			t.Helper()
			if list := suppressionsOf(t, ts)["suppressions"].([]any); len(list) != 0 {
				t.Fatalf("%s changed the suppression list: %v", what, list)
			}
		}
		for name, tok := range hostileTokens(valid) {
			r := post(t, base+tok, "List-Unsubscribe=One-Click", "Content-Type", "application/x-www-form-urlencoded")
			if r.Status != 400 && r.Status != 403 && r.Status != 410 || r.Body["code"] == nil || r.Body["error"] == "" {
				t.Errorf("POST %s: %d %v", name, r.Status, r.Body)
			}
			for _, method := range []string{"GET", "POST"} {
				req := mustRequest(t, method, base+tok, "List-Unsubscribe=One-Click")
				req.Header.Set("Accept", "text/html")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != r.Status || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(b), `data-state="error"`) {
					t.Errorf("%s %s (browser): %d %q %.200s, want %d and the error page", method, name, resp.StatusCode, resp.Header.Get("Content-Type"), b, r.Status)
				}
			}
		}
		empty("a hostile token")

		for _, method := range []string{"GET", "HEAD"} {
			resp, err := http.DefaultClient.Do(mustRequest(t, method, base+valid, ""))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("%s: %d", method, resp.StatusCode)
			}
		}
		for _, method := range []string{"PUT", "DELETE", "PATCH", "OPTIONS"} {
			r := do(t, mustRequest(t, method, base+valid, "List-Unsubscribe=One-Click"))
			if r.Status != 405 || !strings.Contains(r.Header.Get("Allow"), "POST") {
				t.Errorf("%s: %d %v", method, r.Status, r.Body)
			}
		}
		empty("GET, HEAD and other methods")

		// The page shows the address from the token, escaped.
		xss := mine.Token(`x"><img src=x onerror=alert(1)>@example.com`, "feature_used", time.Now())
		resp, err := http.Get(base + xss)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), "<img") || !strings.Contains(string(b), "&lt;img") {
			t.Errorf("the page does not escape the address: %s", b)
		}

		// multipart/form-data, as some senders of one-click POSTs use.
		var mp bytes.Buffer
		mw := multipart.NewWriter(&mp)
		mw.WriteField("List-Unsubscribe", "One-Click")
		mw.Close()
		if r := post(t, base+valid, mp.String(), "Content-Type", mw.FormDataContentType()); r.Status != 200 || r.Body["unsubscribed"] != true {
			t.Errorf("multipart one-click POST: %d %v", r.Status, r.Body)
		}
		other := mine.Token("bea@example.com", "weekly_digest", time.Now())
		req := mustRequest(t, "POST", base+other, "List-Unsubscribe=One-Click")
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "text/html")
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), `data-state="done"`) || !strings.Contains(string(b), "bea@example.com") {
			t.Errorf("browser POST for another kind: %d %s", resp.StatusCode, b)
		}
		got := map[string]bool{}
		for _, s := range suppressionsOf(t, ts)["suppressions"].([]any) {
			got[s.(map[string]any)["address"].(string)] = true
		}
		if len(got) != 2 || !got["ada@example.com"] || !got["bea@example.com"] {
			t.Errorf("suppressions: %v", got)
		}
	})
}

// Mailgun signs only timestamp and token, not the event: whoever sees one
// signed webhook can put any event under its signature while it is fresh.
// hogpipe remembers the token of every event it acts on; it must also
// remember those of events it ignores (accepted, ...), else such a
// signature, once seen, can carry a complaint or a bounce. Over the real
// server, on both databases.
func TestMailgunIgnoredEventTokenCannotBeReused(t *testing.T) {
	onBothDatabases(t, func(t *testing.T, db map[string]string) {
		_, ts := feedbackServer(t, db)
		e := sentEmail(t, ts, "ig1", "ivy@example.com")
		now := time.Now()
		accepted := mailguntest.Sign(testSigningKey, now, mailguntest.Event{Event: "accepted", Recipient: "ivy@example.com", EventID: "ig1"})
		if st, body := webhook(t, ts, accepted); st != 200 || !strings.Contains(body, "ignored") {
			t.Fatalf("accepted: %d %s", st, body)
		}
		// Mailgun redelivers it: still fine.
		if st, body := webhook(t, ts, accepted); st != 200 {
			t.Errorf("accepted again: %d %s", st, body)
		}
		for _, forged := range []mailguntest.Event{
			{Event: "complained", Recipient: "ivy@example.com", EventID: "ig1"},
			{Event: "failed", Severity: "permanent", Recipient: "ivy@example.com", EventID: "ig1"},
			{Event: "unsubscribed", Recipient: "zoe@example.com"},
		} {
			sg := mailguntest.Sign(testSigningKey, now, forged)
			sg.Timestamp, sg.Token, sg.Signature = accepted.Timestamp, accepted.Token, accepted.Signature
			if st, body := webhook(t, ts, sg); st != 406 {
				t.Errorf("%s under the accepted event's signature: %d %s, want 406", forged.Event, st, body)
			}
		}
		if got := emailByID(t, ts, e["id"]); got["state"] != "sent" || got["history"] != nil {
			t.Errorf("email changed: %v", got)
		}
		if list := suppressionsOf(t, ts)["suppressions"].([]any); len(list) != 0 {
			t.Errorf("suppressions: %v", list)
		}
	})
}

// hogpipe suppressions sync reads every page of each of Mailgun's lists
// (1000 per page through mailgun-go): with lists longer than a page, and
// one exactly a page long, nothing is missed or counted twice.
func TestSuppressionsSyncReadsEveryPage(t *testing.T) {
	mg := newMailgun(t)
	env := feedbackEnv(mg, nil)
	ts := startServer(t, env)
	for i := range 2345 {
		mg.AddUnsubscribe(fmt.Sprintf("u%d@example.com", i))
	}
	for i := range 1000 {
		mg.AddBounce(fmt.Sprintf("b%d@example.com", i), "550", "No such user")
	}
	mg.AddComplaint("c0@example.com")
	var out, errb strings.Builder
	err := run(t.Context(), []string{"hogpipe", "suppressions", "sync", "--data-dir", ts.DataDir},
		func(k string) string { return env[k] }, &out, &errb)
	if err != nil || !strings.Contains(out.String(), "2345 unsubscribed, 1000 bounced, 1 complained; 3346 new") {
		t.Fatalf("sync: %v %q %s", err, out.String(), errb.String())
	}
	counts := suppressionsOf(t, ts)["counts"].(map[string]any)
	if counts["unsubscribed"] != 2345.0 || counts["bounced"] != 1000.0 || counts["complained"] != 1.0 {
		t.Errorf("counts: %v", counts)
	}
}

// Hostile and odd Mailgun webhooks over the real server, on both
// databases: each gets its status with a JSON error naming the problem,
// and only the ones that should change something do.
func TestMailgunWebhookHostileTable(t *testing.T) {
	onBothDatabases(t, func(t *testing.T, db map[string]string) {
		_, ts := feedbackServer(t, db)
		ann := sentEmail(t, ts, "h-ann", "ann@example.com")
		now := time.Now()
		raw := func(body string) mailguntest.Signed { return mailguntest.Signed{Timestamp: "raw", Token: body} }
		for _, c := range []struct {
			name   string
			sg     mailguntest.Signed
			status int
			code   string
		}{
			{"not JSON", raw(`{"signature":`), 400, "malformed"},
			{"an array", raw(`[]`), 400, "malformed"},
			{"no signature", raw(`{"event-data":{"event":"complained","recipient":"ann@example.com"}}`), 401, "unauthorized"},
			{"signature of numbers", raw(`{"signature":{"timestamp":1,"token":2,"signature":3}}`), 400, "malformed"},
			{"signature not hex", func() mailguntest.Signed {
				sg := mailguntest.Sign(testSigningKey, now, mailguntest.Event{Event: "complained", Recipient: "ann@example.com", EventID: "h-ann"})
				sg.Signature = "zz" + sg.Signature[2:]
				return sg
			}(), 401, "unauthorized"},
			{"signature upper case", func() mailguntest.Signed {
				sg := mailguntest.Sign("wrong-key", now, mailguntest.Event{Event: "complained", Recipient: "ann@example.com", EventID: "h-ann"})
				sg.Signature = strings.ToUpper(sg.Signature)
				return sg
			}(), 401, "unauthorized"},
			{"far future", mailguntest.Sign(testSigningKey, now.Add(6*time.Minute), mailguntest.Event{Event: "complained", Recipient: "ann@example.com", EventID: "h-ann"}), 406, "rejected"},
			{"year 2300", mailguntest.Sign(testSigningKey, now.AddDate(274, 0, 0), mailguntest.Event{Event: "complained", Recipient: "ann@example.com", EventID: "h-ann"}), 406, "rejected"},
			{"epoch", mailguntest.Sign(testSigningKey, time.Unix(0, 0), mailguntest.Event{Event: "complained", Recipient: "ann@example.com", EventID: "h-ann"}), 406, "rejected"},
			{"another recipient's complaint naming ann's email", mailguntest.Sign(testSigningKey, now, mailguntest.Event{Event: "complained", Recipient: "mal@example.com", EventID: "h-ann"}), 200, ""},
			{"delivered for an unknown email", mailguntest.Sign(testSigningKey, now, mailguntest.Event{Event: "delivered", Recipient: "ann@example.com", EventID: "no-such-event"}), 200, ""},
		} {
			var st int
			var body string
			if c.sg.Timestamp == "raw" {
				resp, err := http.Post(ts.URL+"/api/webhooks/mailgun", "application/json", strings.NewReader(c.sg.Token))
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				st, body = resp.StatusCode, string(b)
			} else {
				st, body = webhook(t, ts, c.sg)
			}
			if st != c.status || (c.code != "" && !strings.Contains(body, `"code":"`+c.code+`"`)) {
				t.Errorf("%s: %d %s, want %d %s", c.name, st, body, c.status, c.code)
			}
		}
		if got := emailByID(t, ts, ann["id"]); got["state"] != "sent" || got["history"] != nil {
			t.Errorf("ann's email changed: %v", got)
		}
		sup := suppressionsOf(t, ts)["suppressions"].([]any)
		if len(sup) != 1 || sup[0].(map[string]any)["address"] != "mal@example.com" {
			t.Errorf("suppressions: want only mal@example.com (its own complaint), got %v", sup)
		}
		// Within the 5 minutes of allowed clock skew: accepted.
		if st, body := webhook(t, ts, mailguntest.Sign(testSigningKey, now.Add(4*time.Minute), mailguntest.Event{Event: "delivered", Recipient: "ann@example.com", EventID: "h-ann"})); st != 200 {
			t.Errorf("4 minutes ahead: %d %s", st, body)
		}
		if got := emailByID(t, ts, ann["id"]); got["state"] != "delivered" {
			t.Errorf("ann's email after delivered: %v", got)
		}
		// A body over the limit: 413, as JSON.
		big := `{"signature":{},"event-data":{"x":"` + strings.Repeat("a", 2<<20) + `"}}`
		resp, err := http.Post(ts.URL+"/api/webhooks/mailgun", "application/json", strings.NewReader(big))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 413 || !strings.Contains(string(b), `"code":"too_large"`) {
			t.Errorf("huge body: %d %.200s", resp.StatusCode, b)
		}
	})
}

// Links in emails already sent must keep working (CAN-SPAM: at least 30
// days) after the operator turns email off or opts out of unsubscribe
// handling. On both databases, with the key hogpipe made itself.
func TestUnsubscribeLinksOutliveTheEmailSetting(t *testing.T) {
	onBothDatabases(t, func(t *testing.T, db map[string]string) {
		mg := newMailgun(t)
		env := feedbackEnv(mg, db)
		delete(env, "HOGPIPE_UNSUBSCRIBE_SECRET") // the key kept in the data directory or the database
		ts := startServer(t, env)
		for i, who := range []string{"old1@example.com", "old2@example.com"} {
			id := fmt.Sprint("ol", i)
			post(t, ts.URL+"/api/webhooks/feature-used", featureBody(id, who))
			if e := emailOf(t, ts, id); e["state"] != "sent" {
				t.Fatalf("email: %v", e)
			}
		}
		var links []string
		for _, m := range mg.Messages() {
			links = append(links, linkRE.FindString(m.Headers["List-Unsubscribe"]))
		}
		ts.stop()
		for i, change := range []struct {
			env  map[string]string
			args []string
		}{
			{nil, []string{"--email-events="}}, // email off
			{map[string]string{"HOGPIPE_EMAIL_WITHOUT_UNSUBSCRIBE": "true", "HOGPIPE_PUBLIC_URL": ""}, nil}, // sending without links
		} {
			env2 := feedbackEnv(mg, db)
			delete(env2, "HOGPIPE_UNSUBSCRIBE_SECRET")
			for k, v := range change.env {
				env2[k] = v
			}
			ts = restartServer(t, ts, env2, change.args...)
			if r := post(t, localURL(t, ts, links[i]), "List-Unsubscribe=One-Click"); r.Status != 200 {
				t.Errorf("after %v, a link sent before: %d %v", change, r.Status, r.Body)
			}
			ts.stop()
		}
		ts = restartServer(t, ts, env)
		if n := len(suppressionsOf(t, ts)["suppressions"].([]any)); n != 2 {
			t.Errorf("%d suppressions, want 2", n)
		}
	})
}
