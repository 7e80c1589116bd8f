package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hogpipe/hogpipe/internal/pgtest"
	"github.com/hogpipe/hogpipe/internal/proctest"
)

// TestReplicasOnPostgres runs three hogpipe processes on one PostgreSQL
// database and sends every event to two different replicas at once. Each
// uuid must be stored once, the training file must hold one line per
// example, and Mailgun must get one email per feature_used event.
func TestReplicasOnPostgres(t *testing.T) { replicaRun(t, false) }

// TestReplicasSurviveKills is the same with the training file's writer and
// another replica (an email worker) killed with SIGKILL in the middle: the
// last replica takes over the file and, after their leases, the emails.
func TestReplicasSurviveKills(t *testing.T) { replicaRun(t, true) }

func replicaRun(t *testing.T, kill bool) {
	dir, file := processTest(t, "runs three processes")
	url := pgtest.URL(t)
	mg := newMailgun(t)
	env := mailProcEnv(mg.URL, "DATABASE_URL="+url, "HOGPIPE_EMAIL_BACKOFF=50ms", "HOGPIPE_EMAIL_TIMEOUT=1s")
	var reps []*child
	for i := range 3 {
		reps = append(reps, startChild(t, filepath.Join(dir, fmt.Sprintf("data%d", i)), file, env...))
	}
	alive := []bool{true, true, true}
	var aliveMu sync.Mutex

	const n = 600
	client := &http.Client{Timeout: 5 * time.Second}
	// post sends one body to replica r, and, like a load balancer, to the
	// next live one when r is down.
	post := func(r int, body string) bool {
		for k := range 3 {
			i := (r + k) % 3
			aliveMu.Lock()
			up := alive[i]
			aliveMu.Unlock()
			if !up {
				continue
			}
			resp, err := client.Post(reps[i].URL+"/api/webhooks/posthog", "application/json", strings.NewReader(body))
			if err != nil {
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return true
			}
		}
		return false
	}
	failed := 0
	var fmu sync.Mutex
	jobs, wait := pool(8, func(i int) {
		var body string
		if i%2 == 0 {
			body = fmt.Sprintf(`{"event":{"uuid":"r-%d","event":"generation_failed","properties":{"input_prompt":"replica prompt %d"}}}`, i, i)
		} else {
			body = fmt.Sprintf(`{"event":{"uuid":"r-%d","event":"feature_used"},"person":{"properties":{"email":"r%d@example.com"}}}`, i, i)
		}
		// The same event to two different replicas at the same time.
		var ok [2]bool
		var pw sync.WaitGroup
		for k := range 2 {
			pw.Add(1)
			go func() { defer pw.Done(); ok[k] = post((i+k)%3, body) }()
		}
		pw.Wait()
		if !ok[0] && !ok[1] {
			fmu.Lock()
			failed++
			fmu.Unlock()
		}
	})
	for i := range n {
		if kill && i == n/2 {
			// The first replica started first and writes the file.
			for _, k := range []int{0, 1} {
				aliveMu.Lock()
				alive[k] = false
				aliveMu.Unlock()
				reps[k].cmd.Process.Signal(syscall.SIGKILL)
				reps[k].cmd.Wait()
			}
		}
		jobs <- i
	}
	close(jobs)
	wait()
	if failed > 0 {
		t.Fatalf("%d events were never acknowledged by any replica", failed)
	}

	// Wait for the end state, as a surviving replica sees it.
	last := reps[2]
	proctest.Eventually(t, "end state", 60*time.Second, func() error {
		var st struct {
			Events int64            `json:"events"`
			Lag    int64            `json:"training_file_lag"`
			Emails map[string]int64 `json:"emails_by_state"`
		}
		if r, err := http.Get(last.URL + "/api/stats"); err == nil {
			json.NewDecoder(r.Body).Decode(&st)
			r.Body.Close()
		}
		lines := 0
		if b, err := readFileLines(file); err == nil {
			lines = b
		}
		if st.Events == n && st.Emails["sent"] == n/2 && lines == n/2 {
			return nil
		}
		return fmt.Errorf("events %d (want %d), sent %v (want %d), file lines %d (want %d)",
			st.Events, n, st.Emails, n/2, lines, n/2)
	})
	eachOnce(t, idCounts(t, file), numbered("r", n, 2))
	perEvent := map[string]int{}
	for _, m := range mg.Messages() {
		perEvent[m.Vars["hogpipe-event-id"]]++
	}
	dups := 0
	for i := 1; i < n; i += 2 {
		switch k := perEvent[fmt.Sprintf("r-%d", i)]; {
		case k == 0:
			t.Errorf("r-%d got no email", i)
		case k > 1:
			dups += k - 1
		}
	}
	if !kill && dups > 0 {
		t.Errorf("%d duplicate emails without any crash", dups)
	}
	if dups > 2*32 {
		t.Errorf("%d duplicate emails after killing two replicas; at most one per worker of each can be explained", dups)
	}
	t.Logf("%d events over 3 replicas (kill=%v): %d messages at Mailgun, %d duplicates", n, kill, len(mg.Messages()), dups)
}

func readFileLines(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strings.Count(string(b), "\n"), nil
}
