//go:build !rehearsal

package sqlstore

import "github.com/pressly/goose/v3"

// extraMigrations is empty in every shipped build; see rehearsal.go.
func extraMigrations(string) []*goose.Migration { return nil }
