package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/hogpipe/hogpipe"
)

// checkPersonBound is an oracle property: no person, and no person that
// hogpipe resolved into a captured event's row, is larger than
// hogpipe.MaxPersonBytes, whatever was sent. (A webhook's event keeps the
// person PostHog sent, bounded by the body size: one copy per request.)
func (o *oracle) checkPersonBound(t testing.TB) {
	t.Helper()
	for _, q := range []string{`SELECT coalesce(max(length(properties)), 0) FROM persons`,
		`SELECT coalesce(max(length(person)), 0) FROM events WHERE source = 'capture'`} {
		var n int64
		if err := o.s.r.QueryRowContext(context.Background(), q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if n > hogpipe.MaxPersonBytes {
			t.Fatalf("%s = %d, past MaxPersonBytes %d", q, n, hogpipe.MaxPersonBytes)
		}
	}
}

// One client holding the public capture token grows one person with fresh
// $set keys, request after request, then sends small events of that user.
// Before the bound the person grew by each request's ~100 KB (to 3 MB
// here, without end in practice), and every later event of that user made
// the one committer decode and re-encode it and copied it into the event
// row. Every request is still acknowledged with stored events; the person
// stays within MaxPersonBytes; $set keys past MaxProperties or names past
// MaxNameLen are refused at the door.
func TestPersonGrowthIsBounded(t *testing.T) {
	backends(t, func(t *testing.T, open func(Options) *Store) {
		o := newOracle(open(Options{}))
		value := strings.Repeat("v", 100)
		for i := range 30 {
			set := map[string]string{}
			for j := range 800 {
				set[fmt.Sprintf("k%02d_%04d", i, j)] = value
			}
			b, _ := json.Marshal(map[string]any{"api_key": oracleToken, "event": "x", "distinct_id": "grower", "$set": set})
			o.checkIngest(t, 3, b)
			o.checkPersonBound(t)
		}
		o.checkIngest(t, 3, []byte(`{"api_key":"phc_hogpipe_local","event":"x","distinct_id":"grower","$set":{"small":1}}`))
		o.checkPersonBound(t)

		many := map[string]int{}
		for j := range hogpipe.MaxProperties + 1 {
			many[fmt.Sprint(j)] = j
		}
		for name, set := range map[string]any{"many keys": many, "long key": map[string]int{strings.Repeat("k", hogpipe.MaxNameLen+1): 1}} {
			for _, where := range []string{`"$set":%s`, `"$set_once":%s`, `"properties":{"$set":%s}`} {
				js, _ := json.Marshal(set)
				body := fmt.Sprintf(`{"api_key":"phc_hogpipe_local","event":"x","distinct_id":"d",`+where+`}`, js)
				if w := o.do("POST", "/e/", "application/json", []byte(body)); w.Code != 422 {
					t.Errorf("%s in %s: %d %s, want 422", name, where, w.Code, w.Body.String())
				}
			}
		}
	})
}
