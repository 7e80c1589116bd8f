// Package e2e drives the real built web app, with the real posthog-js, in a
// real headless Chromium against a real hogpipe process.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hogpipe/hogpipe/internal/proctest"
)

// A desktop Chrome user agent: posthog-js drops every event from a browser
// that calls itself HeadlessChrome.
const userAgent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"

func chromiumPath() string {
	for _, p := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	return ""
}

type hogpipe struct {
	URL, Dir, TrainingFile string
}

// startHogpipe builds the binary (with the web app embedded by
// `make build-web`) and runs it on a free port in a fresh directory.
func startHogpipe(t *testing.T) *hogpipe {
	t.Helper()
	_, err := os.Stat("../server/webdist/index.html")
	proctest.Need(t, err == nil, "web app not built (run make build-web)")
	dir := t.TempDir()
	bin := filepath.Join(dir, "hogpipe")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/hogpipe").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	p := proctest.Start(t, bin, dir, nil, "--log-level", "warn")
	return &hogpipe{URL: p.URL, Dir: dir, TrainingFile: filepath.Join(dir, "training_data.jsonl")}
}

func browser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath()
	proctest.Need(t, path != "", "Chromium not installed (apt-get install chromium)")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Flag("headless", "new"),
		chromedp.Flag("enable-automation", false), // it sets navigator.webdriver, and posthog-js drops bots
		chromedp.Flag("disable-blink-features", "AutomationControlled"),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.UserAgent(userAgent),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	return ctx
}

// screenshotOnFailure saves what the page showed when the test failed.
func screenshotOnFailure(t *testing.T, ctx context.Context) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Logf("no screenshot: %v", err)
			return
		}
		os.MkdirAll("artifacts", 0o755)
		p, _ := filepath.Abs(filepath.Join("artifacts", t.Name()+".png"))
		if err := os.WriteFile(p, png, 0o644); err == nil {
			t.Logf("screenshot: %s", p)
		}
	})
}

// letters spells n in the letters a–j, so it is unique per run and holds
// nothing the PII redaction would replace.
func letters(n int64) string {
	var b []byte
	for _, d := range strconv.FormatInt(n, 10) {
		b = append(b, byte('a'+d-'0'))
	}
	return string(b)
}

func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// eventEmail is the email an event queued, as GET /api/events/{id} shows it.
type eventEmail struct {
	ID        float64 `json:"id"`
	State     string  `json:"state"`
	Recipient string  `json:"recipient"`
}

// emailOf is the email the event eventID queued, nil while there is none.
func emailOf(url, eventID string) (*eventEmail, error) {
	var out struct {
		Email *eventEmail `json:"email"`
	}
	err := getJSON(url+"/api/events/"+eventID, &out)
	return out.Email, err
}

func TestBrowserFlow(t *testing.T) {
	h := startHogpipe(t)
	ctx := browser(t)
	screenshotOnFailure(t, ctx)

	// Letters only: a long digit run in the prompt can pass the Luhn check and
	// be redacted as [CARD], as it should be, and the line would not match.
	prompt := "draw a lighthouse at dusk " + letters(time.Now().UnixNano())
	email := fmt.Sprintf("ada+%d@example.com", time.Now().UnixNano()%100000)

	if err := chromedp.Do(ctx,
		chromedp.Navigate(h.URL),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="mode"]`)),
	); err != nil {
		t.Fatal(err)
	}
	proctest.Eventually(t, "the page says it is in local mode", 10*time.Second, func() error {
		mode, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`[data-testid="mode"]`)))
		if err != nil || !strings.Contains(mode, "Local mode") {
			return fmt.Errorf("mode line %q (%v)", mode, err)
		}
		return nil
	})
	proctest.Eventually(t, "the demo panel", 10*time.Second, func() error {
		return chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`textarea[name="prompt"]`)))
	})

	// Generation failure → a v1 line with that prompt in training_data.jsonl.
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`textarea[name="prompt"]`), prompt),
		chromedp.Click(chromedp.CSS(`button.bg-rose-600`)),
	); err != nil {
		t.Fatal(err)
	}
	var line map[string]any
	proctest.Eventually(t, "training line for the prompt", 15*time.Second, func() error {
		b, err := os.ReadFile(h.TrainingFile)
		if err != nil {
			return err
		}
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil && m["input_prompt"] == prompt {
				line = m
				return nil
			}
		}
		return fmt.Errorf("no line with the prompt %q yet; file: %s", prompt, b)
	})
	if line["schema"] != float64(1) || line["source"] != "capture" || line["failure_reason"] != "timeout" || line["event"] != "generation_failed" {
		t.Errorf("training line = %v", line)
	}

	// Feature usage → a feature_used event whose person carries the email.
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`input[name="email"]`), email),
		chromedp.Click(chromedp.CSS(`button.bg-indigo-600`)),
	); err != nil {
		t.Fatal(err)
	}
	var featureID string
	proctest.Eventually(t, "feature_used with the email", 15*time.Second, func() error {
		var r struct {
			Events []struct {
				ID     string         `json:"id"`
				Event  string         `json:"event"`
				Person map[string]any `json:"person"`
			} `json:"events"`
		}
		if err := getJSON(h.URL+"/api/events?limit=50", &r); err != nil {
			return err
		}
		var seen []string
		for _, e := range r.Events {
			if e.Event == "feature_used" && e.Person["email"] == email {
				featureID = e.ID
				return nil
			}
			seen = append(seen, fmt.Sprintf("%s person=%v", e.Event, e.Person))
		}
		return fmt.Errorf("not stored yet; events: %v", seen)
	})

	// Queued for the email destination (dry-run: no Mailgun configured).
	proctest.Eventually(t, "email for the feature_used event", 10*time.Second, func() error {
		e, err := emailOf(h.URL, featureID)
		if err != nil {
			return err
		}
		if e == nil || e.Recipient != email || (e.State != "queued" && e.State != "dry_run") {
			return fmt.Errorf("email = %+v", e)
		}
		return nil
	})

	// The dashboard shows both without a reload, and the demo the outcome.
	proctest.Eventually(t, "dashboard counts", 10*time.Second, func() error {
		gf, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`[data-testid="stat-generation-failed"]`)))
		if err != nil {
			return err
		}
		fu, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`[data-testid="stat-feature-used"]`)))
		if err != nil {
			return err
		}
		if gf != "1" || fu != "1" {
			return fmt.Errorf("generation_failed=%s feature_used=%s", gf, fu)
		}
		return nil
	})
	proctest.Eventually(t, "feature_used row in the latest events", 10*time.Second, func() error {
		return chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`table tr[data-event-id="`+featureID+`"]`)))
	})
	proctest.Eventually(t, "outcome of the generation failure in the demo", 10*time.Second, func() error {
		txt, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`li[data-event-id="`+line["id"].(string)+`"] [data-testid="outcome"]`)))
		if err != nil {
			return err
		}
		if !strings.Contains(txt, "training example written") {
			return fmt.Errorf("outcome %q", txt)
		}
		return nil
	})
}
