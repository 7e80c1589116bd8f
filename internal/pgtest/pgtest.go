// Package pgtest gives tests their own PostgreSQL schema on the server
// named by HOGPIPE_TEST_DATABASE_URL (.ci/run starts one and sets it).
package pgtest

import (
	"database/sql"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
)

// URL creates a fresh schema, dropped after the test, and returns a URL
// whose connections use it. Without HOGPIPE_TEST_DATABASE_URL the test
// fails under CI and is skipped elsewhere.
func URL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("HOGPIPE_TEST_DATABASE_URL")
	if base == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("HOGPIPE_TEST_DATABASE_URL is not set: PostgreSQL tests are required under CI (.ci/run starts it)")
		}
		t.Skip("HOGPIPE_TEST_DATABASE_URL not set; skipping PostgreSQL (set CI to make this a failure)")
	}
	schema := fmt.Sprintf("t_%d", time.Now().UnixNano())
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		db.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
		db.Close()
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}
