package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hogpipe/hogpipe/internal/mailguntest"
	"github.com/hogpipe/hogpipe/internal/proctest"
)

// TestEmailCrashLosesNothing kills hogpipe with SIGKILL during a burst of
// sends. After a restart every queued email must be sent; a duplicate is
// possible only for an email Mailgun accepted just before the kill, so at
// most one per worker (32 by default) per crash.
func TestEmailCrashLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test builds and kills the binary")
	}
	mg := newMailgun(t)
	mg.Always(&mailguntest.Response{Delay: 5 * time.Millisecond})
	// No send limits: a burst of 400 to one domain.
	env := mailProcEnv(mg.URL, "HOGPIPE_EMAIL_BACKOFF=20ms", "HOGPIPE_EMAIL_TIMEOUT=2s")
	dir := t.TempDir()
	dataDir, file := filepath.Join(dir, "data"), filepath.Join(dir, "training_data.jsonl")

	const n = 400
	c := startChild(t, dataDir, file, env...)
	var batch []string
	for i := range n {
		batch = append(batch, fmt.Sprintf(`{"event":"feature_used","uuid":"crash-%d","person":{"properties":{"email":"u%d@example.com"}}}`, i, i))
	}
	resp, err := http.Post(c.URL+"/api/webhooks/posthog", "application/json", strings.NewReader("["+strings.Join(batch, ",")+"]"))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("burst not acknowledged: %v %v", err, resp)
	}
	resp.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for len(mg.Messages()) < n/4 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	c.cmd.Process.Signal(syscall.SIGKILL)
	c.cmd.Wait()
	before := len(mg.Messages())
	if before >= n {
		t.Fatalf("all %d sent before the kill: the crash tested nothing", before)
	}

	c = startChild(t, dataDir, file, env...)
	proctest.Eventually(t, "all sent after restart", 30*time.Second, func() error {
		var st struct {
			Emails map[string]int64 `json:"emails_by_state"`
		}
		r, err := http.Get(c.URL + "/api/stats")
		if err == nil {
			json.NewDecoder(r.Body).Decode(&st)
			r.Body.Close()
		}
		if st.Emails["sent"] != n {
			return fmt.Errorf("by state: %v", st.Emails)
		}
		return nil
	})
	perEvent := map[string]int{}
	for _, m := range mg.Messages() {
		perEvent[m.Vars["hogpipe-event-id"]]++
	}
	dups := 0
	for i := range n {
		switch k := perEvent[fmt.Sprintf("crash-%d", i)]; {
		case k == 0:
			t.Errorf("crash-%d was never sent", i)
		case k > 1:
			dups += k - 1
		}
	}
	if dups > 32 {
		t.Errorf("%d duplicate sends after one crash; at most 32 (one per worker) can be explained", dups)
	}
	t.Logf("%d sent before the kill, %d messages in all, %d duplicates", before, len(mg.Messages()), dups)
}
