package mailgun

import "github.com/hogpipe/hogpipe/internal/cli"

// Flags binds the account's flags as serve shows them.
func (c *Config) Flags(fs *cli.FlagSet) {
	fs.StringVar(&c.APIKey, "mailgun-api-key", "MAILGUN_API_KEY", "", "Mailgun API key; unset (with the domain) means dry-run")
	fs.StringVar(&c.Domain, "mailgun-domain", "MAILGUN_DOMAIN", "", "Mailgun sending domain, e.g. mg.example.com")
	fs.StringVar(&c.APIBase, "mailgun-api-base", "MAILGUN_API_BASE", DefaultAPIBase, "Mailgun API origin (EU: https://api.eu.mailgun.net)")
}

// SyncFlags binds the same flags for hogpipe suppressions sync, which
// reads the account's suppression lists.
func (c *Config) SyncFlags(fs *cli.FlagSet) {
	fs.StringVar(&c.APIKey, "mailgun-api-key", "MAILGUN_API_KEY", "", "sync: Mailgun API key")
	fs.StringVar(&c.Domain, "mailgun-domain", "MAILGUN_DOMAIN", "", "sync: Mailgun sending domain")
	fs.StringVar(&c.APIBase, "mailgun-api-base", "MAILGUN_API_BASE", DefaultAPIBase, "sync: Mailgun API origin (EU: https://api.eu.mailgun.net)")
}
