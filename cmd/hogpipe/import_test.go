package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hogpipe/hogpipe/internal/pgtest"
	"github.com/hogpipe/hogpipe/internal/proctest"
)

// nestLines is a training file as the original NestJS service wrote it:
// its 4-key lines, with what real files collect over time: the same line
// twice, non-ASCII, escapes, HTML, a blank line, a Windows line end, an
// extra key, and "failure_reason" in capitals.
func nestLines(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, `{"timestamp":"2024-05-%02dT10:%02d:00.000Z","user_id":"user-%d","failure_reason":"timeout","input_prompt":"draw cat %d"}`+"\n",
			1+i%28, i%60, i, i%5)
	}
	b.WriteString(`{"timestamp":"2024-06-01T09:00:00.000Z","user_id":"u-x","failure_reason":"Rate_Limited","input_prompt":"naïve café 猫 \"quoted\" \\ <b>bold</b> \u2028 end"}` + "\n")
	b.WriteString(`{"timestamp":"2024-06-01T09:00:00.000Z","user_id":"u-x","failure_reason":"Rate_Limited","input_prompt":"naïve café 猫 \"quoted\" \\ <b>bold</b> \u2028 end"}` + "\n")
	b.WriteString("\n")
	b.WriteString(`{"timestamp": "2024-06-02T09:00:00.000Z", "user_id": "u-y", "failure_reason": "content_policy", "input_prompt": "spaced out", "model": "gpt-x"}` + "\r\n")
	b.WriteString(`{"timestamp":"2024-06-03T09:00:00.000Z","user_id":"u-z","failure_reason":"","input_prompt":"last one"}` + "\n")
	return b.Bytes()
}

// nestExamples is how many examples nestLines(n) holds (the blank line is
// not one).
func nestExamples(n int) int { return n + 4 }

// importBackend runs a test on SQLite and on PostgreSQL. env is what every
// hogpipe process of the test gets; dataDir is set on SQLite; dir is an
// empty directory of the test's own and file the training file in it.
type importBackend struct {
	name    string
	env     []string
	dataDir string
	dir     string
	file    string
}

// importBackends runs test on each backend; it skips under -short, as
// every test it runs starts the binary.
func importBackends(t *testing.T, test func(t *testing.T, b importBackend)) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	backend := func(t *testing.T, name string, env []string) importBackend {
		dir := t.TempDir()
		return importBackend{name: name, env: env, dataDir: filepath.Join(t.TempDir(), "data"), dir: dir, file: filepath.Join(dir, "training_data.jsonl")}
	}
	t.Run("sqlite", func(t *testing.T) {
		test(t, backend(t, "sqlite", nil))
	})
	t.Run("postgres", func(t *testing.T) {
		url := pgtest.URL(t)
		test(t, backend(t, "postgres", []string{"DATABASE_URL=" + url}))
	})
}

// cliEnv is the environment of a command (import, rebuild-training-file)
// run against the backend's setup and b.file.
func (b importBackend) cliEnv() []string {
	return append([]string{"HOGPIPE_DATA_DIR=" + b.dataDir, "HOGPIPE_TRAINING_FILE=" + b.file}, b.env...)
}

// noCopies fails the test if a copy of file was made beside it.
func noCopies(t *testing.T, file string) {
	t.Helper()
	if c := copies(t, file); len(c) != 0 {
		t.Errorf("copies made: %v", c)
	}
}

// hogpipe runs the binary with args and returns its output and exit code.
func runBin(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	// Bounded: a serve that should refuse to start but serves instead
	// fails the test rather than hanging it.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return out.String(), errb.String(), ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), 0
}

func (b importBackend) serve(t *testing.T, file string) *proctest.Proc {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	return proctest.Start(t, bin, "", b.env, "--data-dir", b.dataDir, "--training-file", file, "--log-level", "warn")
}

// command is bin serve on a free port with the backend's data directory
// and environment and the training file file, not started.
func (b importBackend) command(bin, file string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", b.dataDir, "--training-file", file}, args...)...)
	cmd.Env = append(os.Environ(), b.env...)
	return cmd
}

// serveAsync is serve for a goroutine: it reports a failure to start with
// t.Error and returns nil.
func (b importBackend) serveAsync(t *testing.T, file string) *proctest.Proc {
	bin, err := buildBinary()
	if err != nil {
		t.Error(err)
		return nil
	}
	cmd := b.command(bin, file, "--log-level", "warn")
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		t.Error(err)
		return nil
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if addr, ok := strings.CutPrefix(sc.Text(), "hogpipe listening on "); ok {
			go io.Copy(io.Discard, stdout)
			return &proctest.Proc{Cmd: cmd, URL: addr}
		}
	}
	t.Error("hogpipe did not start")
	return nil
}

func stopProc(t *testing.T, p *proctest.Proc) {
	t.Helper()
	p.Cmd.Process.Signal(syscall.SIGTERM)
	if err := p.Cmd.Wait(); err != nil {
		t.Errorf("serve exited with %v", err)
	}
}

// waitFileLines waits until file holds n lines (the mirror appends within
// about a second, also for examples another process stored).
func waitFileLines(t *testing.T, file string, n int) []byte {
	t.Helper()
	var b []byte
	proctest.Eventually(t, fmt.Sprintf("%s holding %d lines", file, n), 20*time.Second, func() error {
		var err error
		if b, err = os.ReadFile(file); err != nil {
			return err
		}
		if got := bytes.Count(b, []byte("\n")); got != n {
			return fmt.Errorf("%d lines", got)
		}
		return nil
	})
	return b
}

func copies(t *testing.T, file string) []string {
	t.Helper()
	m, err := filepath.Glob(file + ".orig-*")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func postGF(t *testing.T, url, id, prompt string) {
	t.Helper()
	body := fmt.Sprintf(`{"event":{"uuid":%q,"event":"generation_failed","distinct_id":"new-user","timestamp":"2026-11-28T12:00:00.000Z","properties":{"failure_reason":"timeout","input_prompt":%q}}}`, id, prompt)
	resp, err := http.Post(url+"/api/webhooks/generation-failed", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("post %s: %d", id, resp.StatusCode)
	}
}

func exportV(t *testing.T, url, format string) []map[string]any {
	t.Helper()
	resp, err := http.Get(url + "/api/training-data?format=" + format)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []map[string]any
	dec := json.NewDecoder(resp.Body)
	for dec.More() {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("export %s: %v", format, err)
		}
		out = append(out, m)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("export %s: %d", format, resp.StatusCode)
	}
	return out
}

// TestAdoptExistingTrainingFile drops hogpipe in where the NestJS service
// ran: its training_data.jsonl beside a fresh data directory. The file
// keeps its bytes, its lines become examples (source import), new examples
// are appended after them, and restarts, imports, exports and a rebuild
// keep all of that. On PostgreSQL two replicas start at once; the one that
// writes the file adopts it.
func TestAdoptExistingTrainingFile(t *testing.T) {
	importBackends(t, func(t *testing.T, b importBackend) {
		dir, file := b.dir, b.file
		size := 40
		if b.name == "postgres" {
			size = 20000 // adopting takes a while: the other replica must wait
		}
		orig := nestLines(size)
		n := nestExamples(size)
		if err := os.WriteFile(file, orig, 0o644); err != nil {
			t.Fatal(err)
		}
		var procs []*proctest.Proc
		posted := 0
		if b.name == "postgres" {
			// Two replicas at once: one adopts the file, the other waits
			// for it before it serves. An event goes to whichever answers
			// first: had it served before the adoption, its example would
			// come before the adopted lines, and the file could not keep
			// its head.
			second := b
			second.dataDir = filepath.Join(dir, "data2")
			up := make(chan *proctest.Proc, 2)
			for _, r := range []importBackend{b, second} {
				go func() { up <- r.serveAsync(t, file) }()
			}
			for range 2 {
				p := <-up
				if p == nil {
					t.FailNow()
				}
				if len(procs) == 0 {
					postGF(t, p.URL, "race-0", "sent as soon as a replica answers")
					posted++
				}
				procs = append(procs, p)
			}
		} else {
			procs = append(procs, b.serve(t, file))
		}
		for i, p := range procs {
			postGF(t, p.URL, fmt.Sprintf("new-%d", i), fmt.Sprintf("new prompt %d", i))
			posted++
		}
		lines := posted + bytes.Count(orig, []byte("\n"))
		got := waitFileLines(t, file, lines)
		if !bytes.HasPrefix(got, orig) {
			t.Fatalf("the file's head changed:\n%q\nwant it to start with\n%q", got[:min(len(got), len(orig))], orig)
		}
		for i, l := range bytes.Split(bytes.TrimSuffix(got[len(orig):], []byte("\n")), []byte("\n")) {
			var m map[string]any
			if err := json.Unmarshal(l, &m); err != nil || m["source"] != "webhook" {
				t.Errorf("appended line %d: %s (%v)", i, l, err)
			}
		}
		if c := copies(t, file); len(c) != 0 {
			t.Errorf("copies made of a file that was adopted whole: %v", c)
		}

		// Exports hold the imported examples: v1 keeps the four keys, with
		// a stable id and source import; "original" gives the lines back.
		v1 := exportV(t, procs[0].URL, "v1")
		if len(v1) != n+posted {
			t.Fatalf("v1 export: %d lines, want %d", len(v1), n+posted)
		}
		var origObjs []map[string]any
		for _, l := range bytes.Split(orig, []byte("\n")) {
			if len(bytes.TrimSpace(l)) > 0 {
				var m map[string]any
				json.Unmarshal(l, &m)
				origObjs = append(origObjs, m)
			}
		}
		ids := map[string]bool{}
		for i, o := range origObjs {
			e := v1[i]
			id, _ := e["id"].(string)
			if e["source"] != "import" || !strings.HasPrefix(id, "import-") || e["schema"] != float64(1) || e["event"] != "generation_failed" {
				t.Errorf("v1 export of imported line %d: %v", i, e)
			}
			ids[id] = true
			for _, k := range []string{"timestamp", "user_id", "input_prompt"} {
				if e[k] != o[k] {
					t.Errorf("v1 export of imported line %d: %s = %q, the line has %q", i, k, e[k], o[k])
				}
			}
			want := strings.ToLower(o["failure_reason"].(string))
			if want == "" {
				want = "unknown"
			}
			if e["failure_reason"] != want {
				t.Errorf("v1 export of imported line %d: failure_reason %q, want %q", i, e["failure_reason"], want)
			}
		}
		if len(ids) != n {
			t.Errorf("%d distinct ids for %d imported lines (the same line twice must get two ids)", len(ids), n)
		}
		if p, _ := v1[n-2]["properties"].(map[string]any); p["model"] != "gpt-x" {
			t.Errorf("the extra key of an imported line is not in properties: %v", v1[n-2])
		}
		if o := exportV(t, procs[0].URL, "original"); len(o) != n+posted || o[0]["input_prompt"] != "draw cat 0" || len(o[0]) != 4 {
			t.Errorf("original export: %d lines, first %v", len(o), o[0])
		}
		// One line per distinct (prompt, reason): "draw cat 0" … "draw cat 4"
		// (8 each), the line that is there twice, two more, and the new ones.
		dd := exportV(t, procs[0].URL, "v1&dedupe-content=true")
		if len(dd) != 5+3+posted || dd[0]["count"] != float64(size/5) || dd[5]["count"] != float64(2) || dd[5]["source"] != "import" {
			t.Errorf("dedupe-content export: %d lines: %v", len(dd), dd)
		}
		if st := get(t, procs[0].URL+"/api/training-stats").Body; st["total"] != float64(n+posted) {
			t.Errorf("training stats: %v", st)
		}

		// Importing the live training file, or the original file again,
		// adds nothing while hogpipe runs.
		importEnv := b.cliEnv()
		if out, errOut, code := runBin(t, importEnv, "import", file); code != 0 || !strings.Contains(out, "nothing imported") {
			t.Errorf("import of the live file: exit %d\n%s%s", code, out, errOut)
		}
		again := filepath.Join(dir, "again.jsonl")
		os.WriteFile(again, orig, 0o644)
		if out, errOut, code := runBin(t, importEnv, "import", again); code != 0 || !strings.Contains(out, "imported 0 examples") {
			t.Errorf("import of the same lines again: exit %d\n%s%s", code, out, errOut)
		}
		for _, p := range procs {
			stopProc(t, p)
		}
		if b2, _ := os.ReadFile(file); !bytes.Equal(b2, got) {
			t.Fatalf("the file changed after imports that add nothing:\n%s", b2)
		}

		// Restart: nothing changes, nothing is copied; a new example goes after.
		p := b.serve(t, file)
		postGF(t, p.URL, "after-restart", "after restart")
		got2 := waitFileLines(t, file, lines+1)
		if !bytes.HasPrefix(got2, got) {
			t.Fatalf("restart changed the file")
		}
		stopProc(t, p)
		if out, errOut, code := runBin(t, importEnv, "import", file); code != 0 || !strings.Contains(out, "adopted 0 lines") {
			t.Errorf("import of the live file, stopped: exit %d\n%s%s", code, out, errOut)
		}
		// A rebuild renders the events' examples again and keeps the
		// imported lines as they are.
		if out, errOut, code := runBin(t, importEnv, "rebuild-training-file"); code != 0 {
			t.Fatalf("rebuild: exit %d\n%s%s", code, out, errOut)
		}
		if got3, _ := os.ReadFile(file); !bytes.Equal(got3, got2) {
			t.Errorf("rebuild changed the file:\n%s\nwant\n%s", got3, got2)
		}
		noCopies(t, file)
	})
}

// TestAdoptionSurvivesKills kills hogpipe with SIGKILL at random moments
// while it adopts a large file, then lets it start: the file keeps its
// head, holds each line once, and the store holds each line once.
func TestAdoptionSurvivesKills(t *testing.T) {
	bin := needBinary(t)
	importBackends(t, func(t *testing.T, b importBackend) {
		file := b.file
		orig := nestLines(20000)
		n := nestExamples(20000)
		os.WriteFile(file, orig, 0o644)
		for range 4 {
			cmd := b.command(bin, file, "--log-level", "error")
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Duration(50+rand.IntN(700)) * time.Millisecond)
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
			if got, _ := os.ReadFile(file); !bytes.HasPrefix(got, orig) {
				t.Fatalf("after a kill the file lost its head (%d bytes, want at least %d)", len(got), len(orig))
			}
		}
		p := b.serve(t, file)
		got := waitFileLines(t, file, bytes.Count(orig, []byte("\n")))
		if !bytes.Equal(got, orig) {
			t.Fatalf("after kills the file is %d bytes, want the original %d", len(got), len(orig))
		}
		// Counted in an export: on PostgreSQL the stats' count is the
		// highest seq, and a killed transaction leaves gaps in a sequence.
		ex := exportV(t, p.URL, "v1")
		ids := map[any]bool{}
		for _, e := range ex {
			ids[e["id"]] = true
		}
		if len(ex) != n || len(ids) != n {
			t.Errorf("store holds %d examples (%d ids), want %d", len(ex), len(ids), n)
		}
		noCopies(t, file)
	})
}

// TestImportCommand: hogpipe import into a running setup; twice adds
// nothing; a file that is not JSONL is refused with nothing changed.
func TestImportCommand(t *testing.T) {
	importBackends(t, func(t *testing.T, b importBackend) {
		dir, file := b.dir, b.file
		env := b.cliEnv()
		p := b.serve(t, file)
		postGF(t, p.URL, "before-import", "before import")
		waitFileLines(t, file, 1)

		old := filepath.Join(dir, "nest.jsonl")
		orig := nestLines(10)
		os.WriteFile(old, orig, 0o644)
		out, errOut, code := runBin(t, env, "import", old)
		if code != 0 || !strings.Contains(out, fmt.Sprintf("imported %d examples", nestExamples(10))) {
			t.Fatalf("import: exit %d\n%s%s", code, out, errOut)
		}
		got := waitFileLines(t, file, 1+nestExamples(10))
		// Imported lines are appended as they were (a blank line is not an example).
		var want bytes.Buffer
		for _, l := range bytes.SplitAfter(orig, []byte("\n")) {
			if len(bytes.TrimSpace(l)) > 0 {
				want.Write(l)
			}
		}
		if i := bytes.IndexByte(got, '\n'); !bytes.Equal(got[i+1:], want.Bytes()) {
			t.Errorf("imported lines in the training file:\n%q\nwant\n%q", got[i+1:], want.Bytes())
		}
		out, errOut, code = runBin(t, env, "import", old)
		if code != 0 || !strings.Contains(out, "imported 0 examples") {
			t.Errorf("second import: exit %d\n%s%s", code, out, errOut)
		}
		// Importing hogpipe's own file by another name adds nothing either:
		// its v1 lines carry their ids.
		cp := filepath.Join(dir, "copy-of-training.jsonl")
		os.WriteFile(cp, got, 0o644)
		if out, errOut, code = runBin(t, env, "import", cp); code != 0 || !strings.Contains(out, "imported 0 examples") {
			t.Errorf("import of a copy of the training file: exit %d\n%s%s", code, out, errOut)
		}

		// Not JSONL: refused, exit 2, the message names the file and line.
		for name, body := range map[string][]byte{
			"csv":    []byte("timestamp,user_id\n2024-01-01,u1\n"),
			"array":  append(append([]byte{}, orig...), "[1,2,3]\n"...),
			"binary": {0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xfe, '\n', 0x00},
		} {
			bad := filepath.Join(dir, name+".jsonl")
			os.WriteFile(bad, body, 0o644)
			out, errOut, code := runBin(t, env, "import", bad)
			if code != 2 || !strings.Contains(errOut, bad) || !strings.Contains(errOut, "line") {
				t.Errorf("import of %s: exit %d, want 2 naming the file\n%s%s", name, code, out, errOut)
			}
		}
		if st := get(t, p.URL+"/api/stats").Body; st["training_examples"] != float64(1+nestExamples(10)) {
			t.Errorf("store holds %v examples after refused imports, want %d", st["training_examples"], 1+nestExamples(10))
		}
		time.Sleep(1200 * time.Millisecond) // a mirror pass would append anything stored
		if after, _ := os.ReadFile(file); !bytes.Equal(after, got) {
			t.Errorf("the training file changed after refused imports")
		}
	})
}

// TestStartRefusesNonJSONLTrainingFile: a training file that is not JSONL
// stops start-up (exit 2) with a message naming it, and is left as it was.
func TestStartRefusesNonJSONLTrainingFile(t *testing.T) {
	importBackends(t, func(t *testing.T, b importBackend) {
		for name, body := range map[string][]byte{
			"text":           []byte("hello\nworld\n"),
			"json not lines": []byte("[{\"a\":1},\n{\"b\":2}]\n"),
			"binary":         {0x7f, 'E', 'L', 'F', 0x02, 0x01, 0x00, 0x00, '\n', 0xff},
			"bad line later": append(nestLines(3), "{\"a\":\n"...),
		} {
			t.Run(name, func(t *testing.T) {
				dir := t.TempDir()
				file := filepath.Join(dir, "training_data.jsonl")
				os.WriteFile(file, body, 0o644)
				out, errOut, code := runBin(t, b.env, "serve", "--addr", "127.0.0.1:0", "--data-dir", b.dataDir, "--training-file", file)
				if code != 2 || !strings.Contains(errOut, file) || !strings.Contains(errOut, "move") {
					t.Errorf("exit %d, want 2 with a message naming the file and what to do\n%s%s", code, out, errOut)
				}
				if got, _ := os.ReadFile(file); !bytes.Equal(got, body) {
					t.Errorf("the file changed: %q", got)
				}
				noCopies(t, file)
			})
		}
	})
}

// TestAdoptFileWithTornLastLine: the original service died mid-write. The
// whole lines are adopted, the torn one is dropped from the file and kept
// in a copy beside it, which the log names.
func TestAdoptFileWithTornLastLine(t *testing.T) {
	importBackends(t, func(t *testing.T, b importBackend) {
		file := b.file
		orig := nestLines(5)
		torn := append(append([]byte{}, orig...), `{"timestamp":"2024-07-01T00:00:00.000Z","user_id":"u","failure_re`...)
		os.WriteFile(file, torn, 0o644)
		logs := newLog()
		cmd := b.command(needBinary(t), file)
		cmd.Stderr = logs
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
		buf := make([]byte, 4096)
		stdout.Read(buf) // "hogpipe listening on": recovery is done
		go func() {
			for {
				if _, err := stdout.Read(buf); err != nil {
					return
				}
			}
		}()
		if got, _ := os.ReadFile(file); !bytes.Equal(got, orig) {
			t.Errorf("file after adoption:\n%q\nwant the whole lines:\n%q", got, orig)
		}
		c := copies(t, file)
		if len(c) != 1 {
			t.Fatalf("copies: %v, want one", c)
		}
		if kept, _ := os.ReadFile(c[0]); !bytes.Equal(kept, torn) {
			t.Errorf("the copy is not the file as it was")
		}
		if !strings.Contains(logs.String(), c[0]) || !strings.Contains(logs.String(), "WARN") {
			t.Errorf("the log does not name the copy at WARN:\n%s", logs.String())
		}
	})
}

// TestForeignBytesAreKeptInACopy: every path that drops or replaces bytes
// of the training file keeps a copy of the file first when those bytes are
// not hogpipe's, and the file ends up as the store says.
func TestForeignBytesAreKeptInACopy(t *testing.T) {
	importBackends(t, func(t *testing.T, b importBackend) {
		dir, file := b.dir, b.file
		env := b.cliEnv()
		foreign := []byte(`{"timestamp":"2024-01-01T00:00:00.000Z","user_id":"hand","failure_reason":"x","input_prompt":"added by hand"}` + "\n")
		appendForeign := func() []byte {
			t.Helper()
			f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write(foreign)
			f.Close()
			b, _ := os.ReadFile(file)
			return b
		}
		// checkCopy expects exactly one copy, holding the file as it was
		// before hogpipe dropped bytes, and the file to be want.
		checkCopy := func(what string, was, want []byte) {
			t.Helper()
			c := copies(t, file)
			if len(c) != 1 {
				t.Fatalf("%s: copies %v, want one", what, c)
			}
			if got, _ := os.ReadFile(c[0]); !bytes.Equal(got, was) {
				t.Errorf("%s: the copy holds\n%q\nwant the file as it was\n%q", what, got, was)
			}
			if got, _ := os.ReadFile(file); !bytes.Equal(got, want) {
				t.Errorf("%s: the file holds\n%q\nwant\n%q", what, got, want)
			}
			os.Remove(c[0])
		}

		p := b.serve(t, file)
		postGF(t, p.URL, "one", "first")
		good := waitFileLines(t, file, 1)
		// While serve runs: a line appended by hand would be overwritten
		// by the next append.
		was := appendForeign()
		postGF(t, p.URL, "two", "second")
		waitFileLines(t, file, 2)
		stopProc(t, p)
		good, _ = os.ReadFile(file)
		if !bytes.HasPrefix(good, was[:len(was)-len(foreign)]) || bytes.Contains(good, foreign) {
			t.Fatalf("file after the append: %q", good)
		}
		checkCopy("appended while serving", was, good)

		// Stopped, a line appended by hand: cut at the next start.
		was = appendForeign()
		stopProc(t, b.serve(t, file))
		checkCopy("appended while stopped", was, good)

		// Its last line edited: rebuilt from the store at the next start.
		// (Recovery checks the last line before the watermark, not every
		// line.)
		edited := bytes.Replace(good, []byte("second"), []byte("SECOND"), 1)
		os.WriteFile(file, edited, 0o644)
		stopProc(t, b.serve(t, file))
		checkCopy("edited", edited, good)

		// rebuild-training-file over a file with foreign bytes.
		was = appendForeign()
		if out, errOut, code := runBin(t, env, "rebuild-training-file"); code != 0 || !strings.Contains(errOut, ".orig-") {
			t.Fatalf("rebuild: exit %d\n%s%s", code, out, errOut)
		}
		checkCopy("rebuild-training-file", was, good)

		// A file adopted when the store already holds examples that are not
		// in it (the training file moved): its lines are stored, and the
		// file is rewritten in the store's order.
		moved := filepath.Join(dir, "moved.jsonl")
		nest := nestLines(3)
		os.WriteFile(moved, nest, 0o644)
		file = moved
		stopProc(t, b.serve(t, moved))
		var want bytes.Buffer
		want.Write(good)
		for _, l := range bytes.SplitAfter(nest, []byte("\n")) {
			if len(bytes.TrimSpace(l)) > 0 {
				want.Write(l)
			}
		}
		got, _ := os.ReadFile(moved)
		if !bytes.HasPrefix(got, good) || bytes.Count(got, []byte("\n")) != 2+nestExamples(3)+1 {
			t.Errorf("moved file after adoption:\n%s", got)
		}
		c := copies(t, moved)
		if len(c) != 1 {
			t.Fatalf("moved: copies %v, want one", c)
		}
		if kept, _ := os.ReadFile(c[0]); !bytes.Equal(kept, nest) {
			t.Errorf("moved: the copy is not the file as it was")
		}
		p = b.serve(t, moved)
		if ex := exportV(t, p.URL, "v1"); len(ex) != 2+nestExamples(3) {
			t.Errorf("%d examples, want %d", len(ex), 2+nestExamples(3))
		}
	})
}
