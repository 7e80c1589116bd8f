package sqlstore

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/hogpipe/hogpipe"
	"github.com/hogpipe/hogpipe/trainingfile"
)

func captured(id, distinct string, set map[string]any) hogpipe.Event {
	e := ev(id, "$identify", nil)
	e.Source, e.DistinctID, e.Set = hogpipe.SourceCapture, distinct, set
	return e
}

// TestStoreKeepsNumbersExactly: a big integer set on a person survives the
// next $set (which reads the stored person back) with every digit. Before
// the fix the person was re-decoded into float64: 12345678901234567000.
func TestStoreKeepsNumbersExactly(t *testing.T) {
	backends(t, func(t *testing.T, open func(Options) *Store) {
		s := open(Options{})
		ctx := context.Background()
		const big = "12345678901234567891"
		if _, err := s.Ingest(ctx, []hogpipe.Event{captured("n1", "acct", map[string]any{"account_id": json.Number(big)})}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Ingest(ctx, []hogpipe.Event{captured("n2", "acct", map[string]any{"plan": "pro"})}); err != nil {
			t.Fatal(err)
		}
		var stored string
		if err := s.r.QueryRowContext(ctx, `SELECT properties FROM persons WHERE distinct_id = ?`, "acct").Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(stored, `"account_id":`+big) || !strings.Contains(stored, `"plan":"pro"`) {
			t.Errorf("person after two $set: %s; want account_id %s and plan", stored, big)
		}
		out, err := s.Event(ctx, "n2")
		if err != nil || !bytes.Contains(out.Event.Person, []byte(big)) {
			t.Errorf("second event's person: %s %v", out.Event.Person, err)
		}
	})
}

// TestStoreReadsSurviveOldBadData: values that are refused at the door
// now, but may sit in a store written before (or be imported), must not
// break later writes or reads: a person holding 1e999, a training line
// holding 1e999, a big integer and a \u0000 escape. Before the fix the
// person failed every later event of that user (503 forever), exports
// other than plain v1 stopped mid-stream and, on PostgreSQL, training
// stats failed on the jsonb cast.
func TestStoreReadsSurviveOldBadData(t *testing.T) {
	backends(t, func(t *testing.T, open func(Options) *Store) {
		s := open(Options{})
		ctx := context.Background()
		if _, err := s.w.ExecContext(ctx, s.d.rebind(`INSERT INTO persons (distinct_id, properties, updated_at) VALUES (?, ?, ?)`),
			"poisoned", `{"n":1e999,"email":"p@example.com"}`, "2026-11-28T12:00:00.000Z"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Ingest(ctx, []hogpipe.Event{captured("after-poison", "poisoned", map[string]any{"a": json.Number("1")})}); err != nil {
			t.Fatalf("event of a person stored with 1e999: %v", err)
		}
		if _, err := s.Ingest(ctx, []hogpipe.Event{gf("good"), gf("old")}); err != nil {
			t.Fatal(err)
		}
		old := `{"timestamp":"2026-11-28T12:00:00.000Z","user_id":"d-old","failure_reason":"timeout","input_prompt":"a\u0000b \u2028",` +
			`"id":"old","event":"generation_failed","received_at":"2026-11-28T12:00:00.000Z","source":"webhook","schema":1,` +
			`"properties":{"big":12345678901234567891,"huge":1e999}}` + "\n"
		if _, err := s.w.ExecContext(ctx, s.d.rebind(`UPDATE training_examples SET line = ? WHERE event_uuid = ?`), old, "old"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.TrainingStats(ctx, 10); err != nil {
			t.Errorf("training stats: %v", err)
		}
		for _, format := range trainingfile.Formats {
			for _, dedupe := range []bool{false, true} {
				var b bytes.Buffer
				n, err := trainingfile.ExportWith(ctx, s, trainingfile.Options{Format: format, DedupeContent: dedupe}, &b, nil)
				if err != nil || n != 2 {
					t.Errorf("export %s dedupe=%v: %d lines, %v", format, dedupe, n, err)
				}
				if format == trainingfile.FormatV1 && (!strings.Contains(b.String(), "12345678901234567891") || !strings.Contains(b.String(), "1e999")) {
					t.Errorf("export v1 dedupe=%v changed the numbers: %s", dedupe, b.String())
				}
			}
			var train, val bytes.Buffer
			n, err := trainingfile.ExportWith(ctx, s, trainingfile.Options{Format: format}, nil, &trainingfile.Split{Fraction: 0.5, Train: &train, Validation: &val})
			if err != nil || n != 2 {
				t.Errorf("split export %s: %d lines, %v", format, n, err)
			}
		}
	})
}

// TestIngestRefusesWhatCannotBeStored: over HTTP, on both databases, a
// value the rules refuse gets a 422 naming the field — or, in a capture
// batch, a "rejected" entry naming it while the other events are stored —
// and a big integer keeps its digits through a second $set.
func TestIngestRefusesWhatCannotBeStored(t *testing.T) {
	backends(t, func(t *testing.T, open func(Options) *Store) {
		o := newOracle(open(Options{}))
		cases := []struct {
			path, body string
			status     int
			field      string // of the error, or of rejected[0] for a 200
			stored     int
		}{
			{"/e/", oracleSeeds[0], 200, "batch[0].$set.n", 1},
			{"/e/", `{"api_key":"phc_hogpipe_local","batch":[{"event":"generation_failed","distinct_id":"a\u0000b","properties":{"input_prompt":"hi"}}]}`, 422, "distinct_id", 0},
			{"/batch/", `{"api_key":"phc_hogpipe_local","sent_at":"2026-11-28T12:00:00Z","batch":[{"event":"x","properties":{"k\u0000":1}},{"event":"y"}]}`, 200, "batch[0].properties (a key)", 1},
			{"/api/webhooks/posthog", `{"event":"generation_failed","properties":{"input_prompt":"x\u0000y"}}`, 422, "properties.input_prompt", 0},
			{"/api/webhooks/posthog", `{"event":"feature_used","person":{"properties":{"w":-1e999}}}`, 422, "person.properties.w", 0},
			{"/api/webhooks/posthog", `[{"event":"a"},{"event":{"event":"b","properties":{"n":[1e400]}}}]`, 422, "[1].event.properties.n[0]", 0},
		}
		for _, c := range cases {
			o.reset(t)
			w := o.do("POST", c.path, "application/json", []byte(c.body))
			var res struct {
				Field    string `json:"field"`
				Rejected []struct {
					Field string `json:"field"`
				} `json:"rejected"`
			}
			json.Unmarshal(w.Body.Bytes(), &res)
			field := res.Field
			if len(res.Rejected) > 0 {
				field = res.Rejected[0].Field
			}
			if w.Code != c.status || field != c.field {
				t.Errorf("%s %s: %d %s; want %d naming %q", c.path, c.body, w.Code, w.Body.String(), c.status, c.field)
			}
			if got := o.tally(t).events; got != int64(c.stored) {
				t.Errorf("%s %s: %d events stored, want %d", c.path, c.body, got, c.stored)
			}
		}

		o.reset(t)
		for _, body := range []string{oracleSeeds[2], `{"api_key":"phc_hogpipe_local","uuid":"second","event":"$identify","distinct_id":"big","$set":{"plan":"pro"}}`} {
			if w := o.do("POST", "/e/", "text/plain", []byte(body)); w.Code != http.StatusOK {
				t.Fatalf("%s: %d %s", body, w.Code, w.Body.String())
			}
		}
		w := o.do("GET", "/api/events/second", "", nil)
		if !strings.Contains(w.Body.String(), `"account_id":12345678901234567891`) {
			t.Errorf("person after a second $set: %s", w.Body.String())
		}
	})
}
