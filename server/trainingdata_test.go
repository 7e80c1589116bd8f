package server

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/hogpipe/hogpipe/internal/cli"
	"github.com/hogpipe/hogpipe/trainingfile"
)

// GET /api/training-data and hogpipe export accept and refuse the same
// option values: each hostile value, tried alone through the real handler
// and through the command line's real flags, gets a 200 from one exactly
// when the other takes it, and a refusal names the same option (400
// bad_parameter with field=NAME; a usage error naming --NAME). Before they
// shared a parser, the command line took --split -0 (as no split) where
// the API refused it. The flag's 0, its default, means no split, so values
// that read as 0 are left out.
func TestTrainingDataOptionsMatchExportFlags(t *testing.T) {
	values := map[string][]string{
		"format":         {"v1", "original", "classification", "csv", "V1", " v1", "v1,original"},
		"since":          {"2026-11-28", "2026-11-28T12:00:00Z", "2026-11-28T12:00:00+02:00", "yesterday", "2026-13-01", "2026-11-28 12:00"},
		"until":          {"2026-12-01", "2026-02-30", "0", "2026-11-28T12:00:00"},
		"reason":         {"timeout", "TimeOut, Rate_Limited ,,", ",", "OOM"},
		"dedupe-content": {"true", "false", "TRUE", "1", "0", "t", "yes", "maybe", "on"},
		"split":          {"0.5", "0.9", "5e-324", "0x1p-2", "NaN", "nan", "Inf", "-Inf", "-0", "1", "0.99999999999999999", "-0.1", "half"},
	}
	srv := New(Config{}, Deps{Store: &fakeStore{}, Log: slog.New(slog.DiscardHandler)})
	for name, vs := range values {
		for _, v := range vs {
			q := url.Values{name: {v}}
			args := []string{"--" + name + "=" + v}
			if name == "split" {
				q.Set("part", "train")
				args = append(args, "-o", "out.jsonl")
			}
			req := httptest.NewRequest("GET", "/api/training-data?"+q.Encode(), nil)
			req.RemoteAddr, req.Host = "127.0.0.1:40000", "127.0.0.1:3000"
			w := httptest.NewRecorder()
			srv.Handler().ServeHTTP(w, req)
			var body errorBody
			json.Unmarshal(w.Body.Bytes(), &body)

			fs := cli.New("export", "", func(string) string { return "" }, io.Discard)
			var c trainingfile.ExportConfig
			c.Flags(fs)
			ferr := fs.Parse(args)
			if ferr == nil {
				_, ferr = c.Request()
			}
			switch {
			case (w.Code == 200) != (ferr == nil):
				t.Errorf("%s=%q: API answers %d %s, command line %v", name, v, w.Code, w.Body.String(), ferr)
			case w.Code != 200 && (w.Code != 400 || body.Code != "bad_parameter" || body.Field != name):
				t.Errorf("%s=%q: API answers %d %s; want 400 bad_parameter naming %s", name, v, w.Code, w.Body.String(), name)
			case ferr != nil && (!cli.IsUsage(ferr) || !strings.Contains(ferr.Error(), "-"+name)):
				t.Errorf("--%s=%q: %v; want a usage error naming the flag", name, v, ferr)
			}
		}
	}
}
