package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hogpipe/hogpipe/internal/proctest"
)

// TestBrowserUnsubscribeFromDryRunEmail opens a dry-run email's rendered
// HTML, clicks its footer unsubscribe link, sees the confirmation page
// (which changes nothing by itself), confirms, and finds the address on
// the suppression list.
func TestBrowserUnsubscribeFromDryRunEmail(t *testing.T) {
	h := startHogpipe(t)
	ctx := browser(t)
	screenshotOnFailure(t, ctx)

	id := fmt.Sprintf("unsub-%d", time.Now().UnixNano())
	addr := fmt.Sprintf("Lee+%d@Example.com", time.Now().UnixNano()%100000)
	body := fmt.Sprintf(`{"event":{"uuid":%q,"event":"feature_used","distinct_id":"lee","properties":{"feature":"export"}},"person":{"properties":{"email":%q}}}`, id, addr)
	resp, err := http.Post(h.URL+"/api/webhooks/feature-used", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("webhook: %s", resp.Status)
	}
	var emailID float64
	proctest.Eventually(t, "the email is rendered as dry_run", 10*time.Second, func() error {
		e, err := emailOf(h.URL, id)
		if err != nil {
			return err
		}
		if e == nil || e.State != "dry_run" {
			return fmt.Errorf("email: %+v", e)
		}
		emailID = e.ID
		return nil
	})

	if err := chromedp.Do(ctx,
		chromedp.Navigate(fmt.Sprintf("%s/api/emails/%d/preview", h.URL, int64(emailID))),
		chromedp.WaitVisible(chromedp.CSS(`a#unsubscribe`)),
		chromedp.Click(chromedp.CSS(`a#unsubscribe`)),
		chromedp.WaitVisible(chromedp.CSS(`#unsubscribe-page[data-state="confirm"] #confirm-unsubscribe`)),
	); err != nil {
		t.Fatal(err)
	}
	if n := suppressed(t, h.URL); n != 0 {
		t.Fatalf("showing the confirmation page suppressed %d addresses", n)
	}
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#confirm-unsubscribe`)),
		chromedp.WaitVisible(chromedp.CSS(`#unsubscribe-page[data-state="done"]`)),
	); err != nil {
		t.Fatal(err)
	}
	title, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`h1`)))
	if err != nil {
		t.Fatal(err)
	}
	if title != "You are unsubscribed" {
		t.Errorf("confirmation: %q", title)
	}
	var list struct {
		Suppressions []struct{ Address, Reason, Source string } `json:"suppressions"`
	}
	if err := getJSON(h.URL+"/api/suppressions", &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Suppressions) != 1 || list.Suppressions[0].Address != strings.ToLower(addr) ||
		list.Suppressions[0].Reason != "unsubscribed" || list.Suppressions[0].Source != "unsubscribe-link" {
		t.Errorf("suppressions: %+v", list.Suppressions)
	}
}

func suppressed(t *testing.T, base string) int {
	t.Helper()
	var list struct {
		Suppressions []any `json:"suppressions"`
	}
	if err := getJSON(base+"/api/suppressions", &list); err != nil {
		t.Fatal(err)
	}
	return len(list.Suppressions)
}
