package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hogpipe/hogpipe/internal/pgtest"
	"github.com/hogpipe/hogpipe/internal/proctest"
)

// previousRelease is the commit the rolling-upgrade test upgrades from:
// main before replicas could be deployed one by one (no migration lock, no
// protocol, no hand-off on SIGTERM). HOGPIPE_REHEARSAL_FROM overrides it
// (make deploy-rehearsal FROM=<tag or commit>).
const previousRelease = "56144a1"

// buildRelease builds cmd/hogpipe as it was at ref, from this repository's
// history (git archive into a temporary directory: the repository and its
// work tree are left alone).
func buildRelease(t *testing.T, ref string) string {
	t.Helper()
	_, err := exec.LookPath("git")
	proctest.Need(t, err == nil, "git is not installed (the previous release is built from this repository's history)")
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	proctest.Need(t, err == nil, "not inside a git clone of hogpipe (the previous release is built from its history)")
	git := func(args ...string) *exec.Cmd {
		return exec.Command("git", append([]string{"-C", strings.TrimSpace(string(top))}, args...)...)
	}
	if out, err := git("cat-file", "-e", ref+"^{commit}").CombinedOutput(); err != nil {
		t.Fatalf("commit %s is not in this clone's history (a shallow clone? fetch it): %v %s", ref, err, out)
	}
	src := t.TempDir()
	tarball := filepath.Join(src, "src.tar")
	if out, err := git("archive", "-o", tarball, ref).CombinedOutput(); err != nil {
		t.Fatalf("git archive %s: %v %s", ref, err, out)
	}
	if out, err := exec.Command("tar", "-xf", tarball, "-C", src).CombinedOutput(); err != nil {
		t.Fatalf("unpack %s: %v %s", ref, err, out)
	}
	bin := filepath.Join(t.TempDir(), "hogpipe-"+ref)
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/hogpipe")
	cmd.Dir = src
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", ref, err, out)
	}
	return bin
}

// buildRehearsal builds the working tree with -tags rehearsal: the new
// release, carrying a schema change of its own (sqlstore/rehearsal.go).
func buildRehearsal(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "hogpipe-new")
	if out, err := exec.Command("go", "build", "-tags", "rehearsal", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build the new release: %v\n%s", err, out)
	}
	return bin
}

// TestRollingUpgrade replaces two replicas of the previous release with two
// of this one, one at a time, under continuous ingest from clients that
// retry as PostHog does: the first new replica migrates the schema (this
// release's migrations and a test-only expand change) while the old ones
// serve on it, then each old one is stopped with SIGTERM. Every
// acknowledged event must be stored once, each generation_failed in the
// training file once (no torn line), each feature_used emailed once, and
// the training file's writer role must pass from an old replica to a new
// one.
func TestRollingUpgrade(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two releases and runs four processes")
	}
	url := pgtest.URL(t)
	from := os.Getenv("HOGPIPE_REHEARSAL_FROM")
	if from == "" {
		from = previousRelease
	}
	oldBin := buildRelease(t, from)
	newBin := buildRehearsal(t)

	mg := newMailgun(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "training_data.jsonl")
	env := mailProcEnv(mg.URL, "DATABASE_URL="+url, "HOGPIPE_EMAIL_BACKOFF=50ms", "HOGPIPE_EMAIL_TIMEOUT=2s")
	n := 0
	start := func(name, bin string) *replica {
		n++
		return launch(t, name, bin, env, "--data-dir", filepath.Join(dir, fmt.Sprint(n)), "--training-file", file).ready(t)
	}

	old1, old2 := start("old 1 ("+from+")", oldBin), start("old 2 ("+from+")", oldBin)
	lb := &loadBalancer{client: &http.Client{Timeout: 5 * time.Second}}
	lb.set(old1.URL, old2.URL)

	var mu sync.Mutex
	gf, fu := map[string]bool{}, map[string]bool{}
	attempts := 0
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := underLoad(8, func(_ context.Context, w, i int) {
		id := fmt.Sprintf("u-%d-%d", w, i)
		path, body, set := "/api/webhooks/generation-failed", gfBody(id, "upgrade prompt "+id), gf
		if i%3 == 2 {
			path, set = "/api/webhooks/posthog", fu
			body = fmt.Sprintf(`{"event":{"uuid":%q,"event":"feature_used"},"person":{"properties":{"email":"%s@example.com"}}}`, id, id)
		}
		ok, k := lb.send(ctx, path, body)
		mu.Lock()
		attempts += k
		if ok {
			set[id] = true
		}
		mu.Unlock()
	})
	// more waits until another k events are acknowledged: each step of the
	// upgrade happens under traffic.
	more := func(k int) {
		mu.Lock()
		target := len(gf) + len(fu) + k
		mu.Unlock()
		proctest.Eventually(t, "acknowledged events", 60*time.Second, func() error {
			mu.Lock()
			defer mu.Unlock()
			if got := len(gf) + len(fu); got < target {
				return fmt.Errorf("%d acknowledged, want %d", got, target)
			}
			return nil
		})
	}
	more(200)

	new1 := start("new 1", newBin) // migrates while the old ones serve
	checkUpgradedSchema(t, url)
	// The dashboard polls the new replica's training statistics, folding
	// in examples while the old replicas write them (checked at the end).
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		for ctx.Err() == nil {
			if resp, err := lb.client.Get(new1.URL + "/api/training-stats?top=3"); err == nil {
				resp.Body.Close()
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	defer func() { cancel(); <-polled }()
	oldAcks := lb.acked(old1.URL) + lb.acked(old2.URL)
	lb.set(old1.URL, old2.URL, new1.URL)
	more(200)
	if lb.acked(old1.URL)+lb.acked(old2.URL) == oldAcks {
		t.Fatal("the old replicas acknowledged nothing on the migrated schema")
	}
	if lb.acked(new1.URL) == 0 {
		t.Fatal("the new replica acknowledged nothing")
	}

	// The old writer goes first, so that the role moves across versions.
	writer, other := old1, old2
	if !strings.Contains(old1.Logs(), "this replica is its writer") {
		writer, other = old2, old1
	}
	if !strings.Contains(writer.Logs(), "this replica is its writer") {
		t.Fatal("no old replica is the training file's writer")
	}
	// Each old replica stays in the balancer until it has exited, as with a
	// balancer that has not yet noticed /readyz: clients retry what its
	// closed listener refuses.
	if err := writer.stop(t); err != nil {
		t.Errorf("%s exited with %v after SIGTERM", writer.name, err)
	}
	lb.set(other.URL, new1.URL)
	more(200)
	new2 := start("new 2", newBin)
	lb.set(other.URL, new1.URL, new2.URL)
	more(200)
	if err := other.stop(t); err != nil {
		t.Errorf("%s exited with %v after SIGTERM", other.name, err)
	}
	lb.set(new1.URL, new2.URL)
	more(200)
	stop()
	cancel()

	proctest.Eventually(t, "a new replica taking the training file's writer role", 30*time.Second, func() error {
		if !strings.Contains(new1.Logs()+new2.Logs(), "this replica is its writer") {
			return fmt.Errorf("no new replica is the writer")
		}
		return nil
	})
	for _, r := range []*replica{old1, old2, new1, new2} {
		for _, line := range strings.Split(r.Logs(), "\n") {
			if strings.Contains(line, `"msg":"training file: `) {
				t.Logf("%s: %s", r.name, line)
			}
		}
	}
	emails := func() map[string]int {
		got := map[string]int{}
		for _, m := range mg.Messages() {
			got[m.Vars["hogpipe-event-id"]]++
		}
		return got
	}
	stored, written := checkExactlyOnce(t, new1.URL, file, gf, fu, emails)
	t.Logf("rolling upgrade %s → working tree: acknowledged %d (%d generation_failed, %d feature_used) in %d attempts; stored %d; written %d lines; %d emails",
		from, len(gf)+len(fu), len(gf), len(fu), attempts, stored, written, len(mg.Messages()))
	// Both new replicas stop cleanly too.
	for _, r := range []*replica{new1, new2} {
		if err := r.stop(t); err != nil {
			t.Errorf("%s exited with %v after SIGTERM", r.name, err)
		}
	}
}

// checkUpgradedSchema checks that the new release did change the schema
// under the old replicas: its migrations and the rehearsal column.
func checkUpgradedSchema(t *testing.T, url string) {
	t.Helper()
	db := openPG(t, url)
	var version int64
	var column bool
	if err := db.QueryRow(`SELECT max(version_id) FROM goose_db_version`).Scan(&version); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'events' AND column_name = 'rehearsal_tag')`).Scan(&column); err != nil {
		t.Fatal(err)
	}
	if version != 90001 || !column {
		t.Fatalf("schema after the new replica started: version %d, rehearsal column %v; want 90001 and true", version, column)
	}
}
