package trainingfile_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hogpipe/hogpipe/sqlstore"
	"github.com/hogpipe/hogpipe/trainingfile"
)

// adoptionCases are training files as they are found in the wild.
var adoptionCases = map[string]string{
	"4-key lines":                 `{"timestamp":"2024-01-01T00:00:00.000Z","user_id":"u","failure_reason":"timeout","input_prompt":"a"}` + "\n",
	"repeated line":               "{\"input_prompt\":\"a\"}\n{\"input_prompt\":\"a\"}\n",
	"blank lines":                 "\n\n{\"input_prompt\":\"a\"}\n\n  \n{\"input_prompt\":\"b\"}\n\n",
	"CRLF":                        "{\"input_prompt\":\"a\"}\r\n{\"input_prompt\":\"b\"}\r\n",
	"no newline at the end":       "{\"input_prompt\":\"a\"}\n{\"input_prompt\":\"b\"}",
	"trailing spaces, no newline": "{\"input_prompt\":\"a\"}\n   ",
	"torn last line":              "{\"input_prompt\":\"a\"}\n{\"input_prompt\":\"b",
	"torn inside a character":     "{\"input_prompt\":\"a\"}\n{\"input_prompt\":\"\xe7\x8c",
	"only a torn line":            "{\"input_pro",
	"only blank lines":            "\n\n  \n",
	"big numbers and escapes":     `{"input_prompt":"\u2028\"x\"\\","n":1e999,"id":12345678901234567891}` + "\n",
	"not an object":               "{\"input_prompt\":\"a\"}\n[1]\n",
	"text":                        "hello\n",
	"invalid UTF-8":               "{\"input_prompt\":\"\xff\"}\n",
	"two values on a line":        "{\"a\":1} {\"b\":2}\n",
	"binary":                      "\x00\x01\x02\x03",
	"JSON array file":             "[{\"a\":1},\n{\"b\":2}]\n",
}

// TestAdoptionProperty: whatever the file holds, opening the mirror on it
// with a fresh store either refuses it (wrapping ErrNotJSONL) and changes
// nothing, or leaves a file that starts with every byte it had that was
// not a torn last line, whose bytes are exactly the stored examples' lines
// up to the watermark, keeping a copy whenever bytes were dropped; and
// opening it again changes nothing.
func TestAdoptionProperty(t *testing.T) {
	cases := map[string]string{}
	for k, v := range adoptionCases {
		cases[k] = v
	}
	// Random files from the same pieces.
	pieces := []string{"{\"input_prompt\":\"p\"}\n", "{\"input_prompt\":\"q\", \"x\":[1,2]}\n", "\n", " \n", "\r\n",
		"{\"input_prompt\":\"猫\"}\r\n", "{\"input_prompt\":\"torn", "{}\n", "[]\n", "x\n"}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 40 {
		var b strings.Builder
		for range r.IntN(8) {
			b.WriteString(pieces[r.IntN(len(pieces))])
		}
		cases[fmt.Sprintf("random %d", i)] = b.String()
	}
	adopted, refused := 0, 0
	defer func() {
		// Both outcomes must have been exercised, or the table is not
		// testing what it claims.
		if adopted < 10 || refused < 5 {
			t.Errorf("%d files adopted, %d refused", adopted, refused)
		}
	}()
	for name, content := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "training_data.jsonl")
			os.WriteFile(path, []byte(content), 0o644)
			store, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(dir, "hogpipe.db"), sqlstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			log := slog.New(slog.DiscardHandler)
			m, err := trainingfile.Open(context.Background(), path, store, log)
			got, _ := os.ReadFile(path)
			copies, _ := filepath.Glob(path + ".orig-*")
			if err != nil {
				if !errors.Is(err, trainingfile.ErrNotJSONL) || !strings.Contains(err.Error(), path) {
					t.Fatalf("refused with %v", err)
				}
				if string(got) != content || len(copies) != 0 {
					t.Errorf("a refused file changed (%q) or was copied (%v)", got, copies)
				}
				refused++
				return
			}
			adopted++
			defer m.Close()
			whole := content
			if i := strings.LastIndexByte(content, '\n'); i >= 0 && strings.TrimSpace(content[i+1:]) != "" && !jsonValidObject(content[i+1:]) {
				whole = content[:i+1] // a torn last line is dropped
			} else if i < 0 && strings.TrimSpace(content) != "" && !jsonValidObject(content) {
				whole = ""
			}
			if strings.TrimSpace(whole) == "" {
				whole = ""
			}
			if !strings.HasPrefix(string(got), whole) || len(got) > len(whole)+1 {
				t.Errorf("file after adoption %q; want %q (plus at most a newline)", got, whole)
			}
			dropped := len(whole) < len(content)
			if dropped != (len(copies) == 1) || len(copies) > 1 {
				t.Errorf("dropped bytes: %v, copies: %v", dropped, copies)
			}
			for _, c := range copies {
				if b, _ := os.ReadFile(c); string(b) != content {
					t.Errorf("the copy holds %q, want %q", b, content)
				}
			}
			var stored bytes.Buffer
			lines, err := store.ExamplesAfter(context.Background(), 0, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range lines {
				stored.Write(l.Line)
				if l.V1 == nil || !bytes.HasSuffix(l.Line, []byte("\n")) {
					t.Errorf("stored example %+v", l)
				}
			}
			if stored.String() != string(got) || m.Position().Bytes != int64(len(got)) {
				t.Errorf("stored lines %q, watermark %v; the file is %q", stored.String(), m.Position(), got)
			}
			m.Close()
			// Again: nothing changes.
			m2, err := trainingfile.Open(context.Background(), path, store, log)
			if err != nil {
				t.Fatal(err)
			}
			m2.Close()
			again, _ := os.ReadFile(path)
			copies2, _ := filepath.Glob(path + ".orig-*")
			if !bytes.Equal(again, got) || len(copies2) != len(copies) {
				t.Errorf("second open changed the file (%q) or copied it (%v)", again, copies2)
			}
			if n, _ := store.LastExampleSeq(context.Background()); n != int64(len(lines)) {
				t.Errorf("second open stored more: %d, had %d", n, len(lines))
			}
		})
	}
}

func jsonValidObject(s string) bool {
	s = strings.TrimSpace(s)
	return strings.HasPrefix(s, "{") && json.Valid([]byte(s))
}
