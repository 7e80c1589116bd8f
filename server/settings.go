package server

import (
	"math"
	"net/netip"
	"time"

	"github.com/hogpipe/hogpipe/internal/cli"
	"github.com/hogpipe/hogpipe/posthog"
)

// DefaultCaptureToken is the project token the built web app uses when it
// sends to hogpipe itself; PostHog project tokens are public by design.
const DefaultCaptureToken = "phc_hogpipe_local"

// Settings are serve's flags for the HTTP side: Flags registers them, Build
// checks them into a Config (usage errors: exit 2).
type Settings struct {
	Addr          string
	MaxBodyBytes  int64
	CaptureTokens string
	WriteTimeout  time.Duration
	Security      SecuritySettings
}

// Flags registers the settings on serve's flag set.
func (s *Settings) Flags(fs *cli.FlagSet) {
	fs.StringVar(&s.Addr, "addr", "PORT", "127.0.0.1:3000", "address to listen on; PORT may hold just a port number, which listens on every interface")
	fs.Int64Var(&s.MaxBodyBytes, "max-body-bytes", "HOGPIPE_MAX_BODY_BYTES", 1<<20, "largest request body accepted, in bytes")
	fs.StringVar(&s.CaptureTokens, "capture-tokens", "HOGPIPE_CAPTURE_TOKENS", DefaultCaptureToken, "comma-separated project tokens accepted by the capture endpoints")
	fs.DurationVar(&s.WriteTimeout, "write-timeout", "HOGPIPE_WRITE_TIMEOUT", 30*time.Second,
		"longest an answer may take to write; a training data download has it renewed per chunk, so only a client that stops reading is cut off")
	s.Security.Flags(fs)
}

// Build checks the settings and makes the server's Config (Feedback left
// for the caller). notice receives the warnings an operator should see
// once hogpipe serves.
func (s *Settings) Build(notice func(string)) (Config, error) {
	cfg := Config{Addr: s.Addr, MaxBodyBytes: s.MaxBodyBytes, WriteTimeout: s.WriteTimeout}
	if s.WriteTimeout < 0 {
		return cfg, cli.Usagef("--write-timeout cannot be negative (0: none)")
	}
	if s.MaxBodyBytes < 1024 {
		return cfg, cli.Usagef("--max-body-bytes %d is too small; use at least 1024", s.MaxBodyBytes)
	}
	if cfg.CaptureTokens = cli.SplitList(s.CaptureTokens); len(cfg.CaptureTokens) == 0 {
		return cfg, cli.Usagef("--capture-tokens is empty; give at least one project token")
	}
	var err error
	if cfg.Security, err = s.Security.Build(s.Addr, notice); err != nil {
		return cfg, err
	}
	if mem := cfg.Security.MaxRequestMemory; mem > 0 && s.MaxBodyBytes*2 > mem {
		return cfg, cli.Usagef("--max-request-memory %s must hold at least two bodies of --max-body-bytes %d", cli.FormatBytes(mem), s.MaxBodyBytes)
	}
	return cfg, nil
}

// SecuritySettings are the flags of serve's secrets and limits. Secrets
// come from a flag, an environment variable, or a file (…_FILE), and are
// never logged.
type SecuritySettings struct {
	signingSecret, webhookSecret, adminToken cli.Secret
	insecure, trustLocal                     bool
	rate                                     float64
	burst, maxInFlight                       int
	trustedProxies                           string
	maxPerClient, rateClients, ipv6Prefix    int
	maxRequestMemory                         cli.ByteSize
}

// Flags registers the security flags on serve's flag set.
func (c *SecuritySettings) Flags(fs *cli.FlagSet) {
	fs.SecretVar(&c.signingSecret, "webhook-signing-secret", "HOGPIPE_WEBHOOK_SIGNING_SECRET",
		"Standard Webhooks signing secret (whsec_…) of the PostHog destination")
	fs.SecretVar(&c.webhookSecret, "webhook-secret", "HOGPIPE_WEBHOOK_SECRET",
		"shared secret webhooks send as 'Authorization: Bearer …' or 'X-Hogpipe-Secret: …'")
	fs.SecretVar(&c.adminToken, "admin-token", "HOGPIPE_ADMIN_TOKEN",
		"token for the read API (/api/…) from anywhere but this machine")
	fs.BoolVar(&c.insecure, "insecure", "HOGPIPE_INSECURE", false, "accept unauthenticated webhooks from anywhere (not for the internet)")
	fs.BoolVar(&c.trustLocal, "trust-local", "HOGPIPE_TRUST_LOCAL", true,
		"treat requests from this machine (loopback peer and Host, no proxy header) as the operator's: no admin token, webhooks without "+
			"authentication, real emails from capture, no per-client limits; set false behind a tunnel or proxy that sends no X-Forwarded-For (ssh -R)")
	fs.Float64Var(&c.rate, "rate-limit", "HOGPIPE_RATE_LIMIT", 200, "requests per second per client IP (0: off); local requests are not limited")
	fs.IntVar(&c.burst, "rate-burst", "HOGPIPE_RATE_BURST", 400, "burst per client IP above --rate-limit")
	fs.IntVar(&c.maxInFlight, "max-in-flight", "HOGPIPE_MAX_IN_FLIGHT", 1024, "concurrent requests (counted once their body is read) before shedding load with 503")
	fs.IntVar(&c.maxPerClient, "max-per-client", "HOGPIPE_MAX_PER_CLIENT", 64, "concurrent requests per client, bodies still arriving included, before 429 (0: no cap); local requests are not limited")
	fs.IntVar(&c.rateClients, "rate-limit-clients", "HOGPIPE_RATE_LIMIT_CLIENTS", 100000, "most clients the rate limiter remembers; the least recently seen are forgotten first")
	fs.IntVar(&c.ipv6Prefix, "ipv6-prefix", "HOGPIPE_IPV6_PREFIX", 64, "leading bits of an IPv6 address that name one client for the per-client limits (128: each address)")
	c.maxRequestMemory = 128 << 20
	fs.Var(&c.maxRequestMemory, "max-request-memory", "HOGPIPE_MAX_REQUEST_MEMORY", "bytes all requests in flight may hold (bodies, decompressed and decoded payloads) before waiting, then 503; e.g. 256MiB")
	fs.StringVar(&c.trustedProxies, "trusted-proxies", "HOGPIPE_TRUSTED_PROXIES", "",
		"comma-separated addresses or CIDRs of reverse proxies whose X-Forwarded-For names the client for --rate-limit")
}

// Build turns the flags into the server's Security, refusing an exposed
// listener on addr that anyone could post to. notice receives warnings.
func (c *SecuritySettings) Build(addr string, notice func(string)) (Security, error) {
	var sec Security
	signing, err := c.signingSecret.Value()
	if err != nil {
		return sec, err
	}
	if signing != "" {
		key, err := posthog.ParseSigningSecret(signing)
		if err != nil {
			return sec, cli.Usagef("HOGPIPE_WEBHOOK_SIGNING_SECRET: %v", err)
		}
		sec.SigningKey = key
	}
	if sec.WebhookSecret, err = c.webhookSecret.Value(); err != nil {
		return sec, err
	}
	if sec.WebhookSecret != "" && len(sec.WebhookSecret) < 16 {
		return sec, cli.Usagef("HOGPIPE_WEBHOOK_SECRET is %d characters; use at least 16 (e.g. openssl rand -hex 24)", len(sec.WebhookSecret))
	}
	if sec.AdminToken, err = c.adminToken.Value(); err != nil {
		return sec, err
	}
	if sec.AdminToken != "" && len(sec.AdminToken) < 16 {
		return sec, cli.Usagef("HOGPIPE_ADMIN_TOKEN is %d characters; use at least 16", len(sec.AdminToken))
	}
	if math.IsNaN(c.rate) || math.IsInf(c.rate, 0) {
		// NaN passed the check below and turned the rate limit off.
		return sec, cli.Usagef("--rate-limit %v: give requests per second, e.g. 200 (0: off)", c.rate)
	}
	if c.rate < 0 || c.maxInFlight < 0 || c.burst < 0 || c.maxPerClient < 0 || c.rateClients < 0 || c.maxRequestMemory < 0 {
		return sec, cli.Usagef("--rate-limit, --rate-burst, --max-in-flight, --max-per-client, --rate-limit-clients and --max-request-memory cannot be negative")
	}
	if c.ipv6Prefix < 1 || c.ipv6Prefix > 128 {
		return sec, cli.Usagef("--ipv6-prefix %d: give a prefix length from 1 to 128 (64 is one subscriber's network)", c.ipv6Prefix)
	}
	sec.DistrustLocal = !c.trustLocal
	sec.Insecure, sec.RatePerClient, sec.RateBurst, sec.MaxInFlight = c.insecure, c.rate, c.burst, c.maxInFlight
	sec.MaxPerClient, sec.RateClients, sec.IPv6Prefix, sec.MaxRequestMemory = c.maxPerClient, c.rateClients, c.ipv6Prefix, int64(c.maxRequestMemory)
	for _, p := range cli.SplitList(c.trustedProxies) {
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			ip, ierr := netip.ParseAddr(p)
			if ierr != nil {
				return sec, cli.Usagef("--trusted-proxies: %q is neither an IP address nor a CIDR such as 10.0.0.0/8", p)
			}
			prefix = netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen())
		}
		sec.TrustedProxies = append(sec.TrustedProxies, prefix.Masked())
	}

	if sec.Exposed(addr) {
		if !c.insecure {
			return sec, cli.Usagef("refusing to listen on %s, reachable from other machines, with no webhook authentication: "+
				"set HOGPIPE_WEBHOOK_SECRET (a shared secret header) or HOGPIPE_WEBHOOK_SIGNING_SECRET (PostHog's signing secret), "+
				"listen on 127.0.0.1 with --addr, or pass --insecure to accept anyone's events", addr)
		}
		notice("WARNING: --insecure: webhooks from anywhere are accepted without authentication")
	}
	if !sec.WebhookAuthConfigured() && LoopbackAddr(addr) && !c.insecure && sec.DistrustLocal {
		notice("webhooks: no authentication configured and --trust-local=false, so every webhook is refused; set HOGPIPE_WEBHOOK_SECRET")
	} else if !sec.WebhookAuthConfigured() && LoopbackAddr(addr) {
		notice("webhooks: no authentication configured, so only requests from this machine are accepted; " +
			"set HOGPIPE_WEBHOOK_SECRET before exposing hogpipe through a tunnel")
	}
	return sec, nil
}
