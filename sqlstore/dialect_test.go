package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// jsonTextCase is a stored line and a member to read from it.
type jsonTextCase struct {
	name, line, key string
}

// hostileJSONLines are lines whose members the dialects' jsonText must read
// alike: escapes PostgreSQL's text cannot hold (\u0000) beside text that
// only looks like them, line and paragraph separators, surrogate pairs,
// nested values, missing members and nulls, numbers beyond float64.
func hostileJSONLines() []jsonTextCase {
	cs := []jsonTextCase{
		{"plain", `{"input_prompt":"draw a cat"}`, "input_prompt"},
		{"empty string", `{"input_prompt":""}`, "input_prompt"},
		{"nul escape", `{"input_prompt":"a\u0000b"}`, "input_prompt"},
		{"two nul escapes", `{"input_prompt":"\u0000\u0000"}`, "input_prompt"},
		{"nul elsewhere in the line", `{"other":"\u0000","input_prompt":"kept"}`, "input_prompt"},
		{"escaped backslash then u0000", `{"input_prompt":"a\\u0000b"}`, "input_prompt"},
		{"escaped backslash then nul", `{"input_prompt":"\\\u0000"}`, "input_prompt"},
		{"two escaped backslashes then u0000", `{"input_prompt":"\\\\u0000"}`, "input_prompt"},
		{"three backslashes and nul at the end", `{"input_prompt":"x\\\\\\\u0000"}`, "input_prompt"},
		{"backslash-heavy key elsewhere", `{"a\\u0000":"\\","input_prompt":"\\\\"}`, "input_prompt"},
		{"line separators raw", "{\"input_prompt\":\"a\u2028b\u2029c\"}", "input_prompt"},
		{"line separators escaped", `{"input_prompt":"a\u2028b\u2029c"}`, "input_prompt"},
		{"surrogate pair", `{"input_prompt":"\ud83d\ude00 \u00e9"}`, "input_prompt"},
		{"quotes and controls", `{"input_prompt":"\"q\" \n\t\r\/ \u001f <b>&amp;"}`, "input_prompt"},
		{"json inside a string", `{"input_prompt":"{\"a\":[1,\"x\"]}"}`, "input_prompt"},
		{"big number as a string", `{"user_id":"98765432109876543210"}`, "user_id"},
		{"missing member", `{"input_prompt":"x"}`, "user_id"},
		{"null member", `{"user_id":null}`, "user_id"},
		{"nested member", `{"properties": {"a": [1, "x\u0000", {"b": null}], "c": true}}`, "properties"},
		{"integer", `{"n":42}`, "n"},
		{"decimal with a trailing zero", `{"n":1.50}`, "n"},
		{"integer beyond int64", `{"n":-98765432109876543210}`, "n"},
		{"near float64's max", `{"n":1e308}`, "n"},
		{"whitespace around", " \t{ \"input_prompt\" :\n\"spaced\" } ", "input_prompt"},
		{"long prompt", `{"input_prompt":"` + strings.Repeat(`ab\u0000\\u0000\u2028`, 4000) + `"}`, "input_prompt"},
	}
	// Random strings over an alphabet of the characters that matter,
	// encoded by Go's encoder: \u0000 escapes next to backslashes, u and 0.
	rng := rand.New(rand.NewPCG(15, 10))
	alphabet := []string{"\x00", `\`, "u", "0", `"`, "\u2028", "\u2029", "😀", "\n", "\x01", "a", "é", "\ufffd", "/"}
	for i := range 200 {
		var b strings.Builder
		for range rng.IntN(24) {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		line, _ := json.Marshal(map[string]string{"input_prompt": b.String(), "z": "\x00"})
		cs = append(cs, jsonTextCase{fmt.Sprintf("random %d", i), string(line), "input_prompt"})
	}
	return cs
}

// wantJSONText is what jsonText promises for a case, decided in Go:
// the member's value (nil when missing or null), U+0000 as U+FFFD.
func wantJSONText(t *testing.T, c jsonTextCase) any {
	d := json.NewDecoder(strings.NewReader(c.line))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatalf("%s: test line does not parse: %v", c.name, err)
	}
	if s, ok := m[c.key].(string); ok {
		return strings.ReplaceAll(s, "\x00", "\uFFFD")
	}
	return m[c.key]
}

// TestDialectJSONText runs each dialect's jsonText over lines stored in
// the real database and compares every answer with Go's reading of the
// line: strings exactly (U+0000 as U+FFFD), missing members and nulls as
// NULL, numbers as the same float64, nested values as the same JSON. Both
// dialects agreeing with Go, they agree with each other. Before the
// dialect had named methods, rebind patched "line ->> " into a replace of
// '\u0000' alone, which read the text \\u0000 (a backslash, then "u0000")
// as \\ufffd on PostgreSQL: the escaped-backslash cases fail there.
func TestDialectJSONText(t *testing.T) {
	cases := hostileJSONLines()
	backends(t, func(t *testing.T, open func(Options) *Store) {
		s := open(Options{})
		ctx := context.Background()
		for i, c := range cases {
			if _, err := s.w.ExecContext(ctx, s.d.rebind(`INSERT INTO training_examples (event_uuid, failure_reason, timestamp, line) VALUES (?, ?, ?, ?)`),
				strconv.Itoa(i), c.key, "2026-11-29T00:00:00.000Z", c.line); err != nil {
				t.Fatalf("%s: store the line: %v", c.name, err)
			}
		}
		// One query per key, over every row: the expression must hold
		// up against every line in the table, not only the one it reads.
		got := map[string]sql.NullString{}
		for _, key := range []string{"input_prompt", "user_id", "properties", "n"} {
			rows, err := s.r.QueryContext(ctx, `SELECT event_uuid, `+s.d.jsonText("line", key)+` FROM training_examples WHERE failure_reason = ?`, key)
			if err != nil {
				t.Fatalf("jsonText(line, %s): %v", key, err)
			}
			for rows.Next() {
				var id string
				var v sql.NullString
				if err := rows.Scan(&id, &v); err != nil {
					t.Fatal(err)
				}
				got[id] = v
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				t.Fatalf("jsonText(line, %s): %v", key, err)
			}
		}
		if len(got) != len(cases) {
			t.Fatalf("%d answers for %d lines", len(got), len(cases))
		}
		for i, c := range cases {
			g := got[strconv.Itoa(i)]
			switch want := wantJSONText(t, c).(type) {
			case nil:
				if g.Valid {
					t.Errorf("%s: got %.80q, want NULL", c.name, g.String)
				}
			case string:
				if !g.Valid || g.String != want {
					t.Errorf("%s: got %.80q (valid %v), want %.80q", c.name, g.String, g.Valid, want)
				}
			case json.Number:
				w, _ := strconv.ParseFloat(want.String(), 64)
				f, err := strconv.ParseFloat(g.String, 64)
				if !g.Valid || err != nil || math.Abs(f-w) > math.Abs(w)*1e-15 {
					t.Errorf("%s: got %.80q, want the number %s", c.name, g.String, want)
				}
			default:
				// Nested: the same JSON value, however each database
				// spaces it; a \u0000 escape inside may read as \ufffd.
				var gv any
				d := json.NewDecoder(bytes.NewReader([]byte(g.String)))
				d.UseNumber()
				if err := d.Decode(&gv); err != nil || !reflect.DeepEqual(nulAsFFFD(gv), nulAsFFFD(want)) {
					t.Errorf("%s: got %.80q (%v), want the JSON value %.80v", c.name, g.String, err, want)
				}
			}
		}
	})
}

// nulAsFFFD replaces U+0000 in every string of a decoded JSON value.
func nulAsFFFD(v any) any {
	switch v := v.(type) {
	case string:
		return strings.ReplaceAll(v, "\x00", "\uFFFD")
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = nulAsFFFD(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = nulAsFFFD(e)
		}
		return out
	}
	return v
}

// TestDialectRebind: only ? outside string literals becomes a placeholder.
func TestDialectRebind(t *testing.T) {
	pg := newPostgresDialect()
	for _, c := range []struct{ in, want string }{
		{`SELECT 1`, `SELECT 1`},
		{`SELECT a FROM t WHERE b = ? AND c IN (?, ?)`, `SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)`},
		{`SELECT '?', ? FROM t WHERE x = 'it''s ?' AND y = ?`, `SELECT '?', $1 FROM t WHERE x = 'it''s ?' AND y = $2`},
		{`SELECT line ->> 'k' FROM t WHERE a = ?`, `SELECT line ->> 'k' FROM t WHERE a = $1`},
	} {
		if got := pg.rebind(c.in); got != c.want {
			t.Errorf("postgres rebind(%q) = %q, want %q", c.in, got, c.want)
		}
		if got := (sqliteDialect{}).rebind(c.in); got != c.in {
			t.Errorf("sqlite rebind(%q) = %q, want it unchanged", c.in, got)
		}
	}
}
