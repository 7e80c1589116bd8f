package server

import (
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hogpipe/hogpipe/internal/cli"
)

// buildSettings parses args and env as serve would and builds the Config.
func buildSettings(t *testing.T, env map[string]string, args ...string) (Config, []string, error) {
	t.Helper()
	var s Settings
	fs := cli.New("serve", "test", func(k string) string { return env[k] }, io.Discard)
	s.Flags(fs)
	if err := fs.Parse(args); err != nil {
		return Config{}, nil, err
	}
	var notices []string
	cfg, err := s.Build(func(n string) { notices = append(notices, n) })
	return cfg, notices, err
}

// TestSettingsRefuse: every bad setting is a usage error (exit 2) that
// names the flag or variable to fix, and never echoes a secret.
func TestSettingsRefuse(t *testing.T) {
	dir := t.TempDir()
	emptyFile := filepath.Join(dir, "empty")
	if err := os.WriteFile(emptyFile, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	secret := "0123456789abcdef-secret"
	for _, c := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"exposed without authentication", nil, []string{"--addr", ":3000"}, "refusing to listen on :3000"},
		{"PORT alone is exposed", map[string]string{"PORT": "8080"}, nil, "refusing to listen on :8080"},
		{"every interface, IPv6", nil, []string{"--addr", "[::]:3000"}, "reachable from other machines"},
		{"negative write timeout", nil, []string{"--write-timeout", "-1s"}, "--write-timeout cannot be negative"},
		{"tiny body limit", nil, []string{"--max-body-bytes", "1023"}, "--max-body-bytes 1023 is too small"},
		{"no capture token", nil, []string{"--capture-tokens", " , ,"}, "--capture-tokens is empty"},
		{"short webhook secret", map[string]string{"HOGPIPE_WEBHOOK_SECRET": "short"}, nil, "HOGPIPE_WEBHOOK_SECRET is 5 characters"},
		{"short admin token", nil, []string{"--admin-token", "tiny"}, "HOGPIPE_ADMIN_TOKEN is 4 characters"},
		{"secret twice", map[string]string{"HOGPIPE_WEBHOOK_SECRET": secret, "HOGPIPE_WEBHOOK_SECRET_FILE": emptyFile}, nil, "not both"},
		{"empty secret file", nil, []string{"--admin-token-file", emptyFile}, "HOGPIPE_ADMIN_TOKEN_FILE " + emptyFile + " is empty"},
		{"bad signing secret", nil, []string{"--webhook-signing-secret", "whsec_!!!"}, "HOGPIPE_WEBHOOK_SIGNING_SECRET:"},
		{"NaN rate", nil, []string{"--rate-limit", "NaN"}, "--rate-limit NaN"},
		{"infinite rate", nil, []string{"--rate-limit", "+Inf"}, "--rate-limit +Inf"},
		{"negative rate", nil, []string{"--rate-limit", "-1"}, "cannot be negative"},
		{"negative burst", nil, []string{"--rate-burst", "-1"}, "cannot be negative"},
		{"negative in flight", nil, []string{"--max-in-flight", "-1"}, "cannot be negative"},
		{"negative per client", nil, []string{"--max-per-client", "-1"}, "cannot be negative"},
		{"negative clients", nil, []string{"--rate-limit-clients", "-1"}, "cannot be negative"},
		{"IPv6 prefix 0", nil, []string{"--ipv6-prefix", "0"}, "--ipv6-prefix 0"},
		{"IPv6 prefix 129", nil, []string{"--ipv6-prefix", "129"}, "--ipv6-prefix 129"},
		{"proxy that is no address", nil, []string{"--trusted-proxies", "10.0.0.1, proxy.local"}, `"proxy.local" is neither`},
		{"request memory below two bodies", nil, []string{"--max-request-memory", "1MiB", "--max-body-bytes", "600000"},
			"--max-request-memory 1MiB must hold at least two bodies of --max-body-bytes 600000"},
		{"request memory not a size", nil, []string{"--max-request-memory", "lots"}, "max-request-memory"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := buildSettings(t, c.env, c.args...)
			if !cli.IsUsage(err) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v; want a usage error containing %q", err, c.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error shows the secret: %v", err)
			}
		})
	}
}

// TestSettingsBuild: accepted settings land in the Config as given, and
// the operator is warned exactly when webhooks are open or all refused.
func TestSettingsBuild(t *testing.T) {
	secret := "0123456789abcdef0123"
	keyFile := filepath.Join(t.TempDir(), "admin")
	if err := os.WriteFile(keyFile, []byte("  admin-token-from-a-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	defaults, notices, err := buildSettings(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Addr: "127.0.0.1:3000", MaxBodyBytes: 1 << 20, CaptureTokens: []string{DefaultCaptureToken}, WriteTimeout: 30e9,
		Security: Security{RatePerClient: 200, RateBurst: 400, MaxInFlight: 1024, MaxPerClient: 64, RateClients: 100000, IPv6Prefix: 64, MaxRequestMemory: 128 << 20}}
	if !reflect.DeepEqual(defaults, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", defaults, want)
	}
	if len(notices) != 1 || !strings.Contains(notices[0], "only requests from this machine") {
		t.Errorf("defaults: notices %q", notices)
	}

	cfg, notices, err := buildSettings(t, map[string]string{"HOGPIPE_WEBHOOK_SECRET": secret, "HOGPIPE_ADMIN_TOKEN_FILE": keyFile},
		"--addr", ":0", "--capture-tokens", "phc_a, phc_b,", "--trusted-proxies", "10.1.2.3/8, ::ffff:192.0.2.7, 2001:db8::/32",
		"--max-request-memory", "256MiB", "--trust-local=false", "--ipv6-prefix", "128")
	if err != nil {
		t.Fatal(err)
	}
	if len(notices) != 0 {
		t.Errorf("authenticated, exposed: notices %q", notices)
	}
	sec := cfg.Security
	if sec.WebhookSecret != secret || sec.AdminToken != "admin-token-from-a-file" || !sec.DistrustLocal || sec.IPv6Prefix != 128 ||
		sec.MaxRequestMemory != 256<<20 || !reflect.DeepEqual(cfg.CaptureTokens, []string{"phc_a", "phc_b"}) {
		t.Errorf("built %+v", cfg)
	}
	wantProxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"), netip.MustParsePrefix("2001:db8::/32")}
	if !reflect.DeepEqual(sec.TrustedProxies, wantProxies) {
		t.Errorf("trusted proxies %v, want %v (masked, IPv4-mapped unmapped)", sec.TrustedProxies, wantProxies)
	}

	signing := "whsec_MDEyMzQ1Njc4OWFiY2RlZg==" // 16 bytes
	for _, c := range []struct {
		name   string
		args   []string
		notice string // "" : none
	}{
		{"insecure, exposed", []string{"--addr", "0.0.0.0:3000", "--insecure"}, "WARNING: --insecure"},
		{"local, distrusted", []string{"--trust-local=false"}, "every webhook is refused"},
		{"local, insecure, distrusted", []string{"--trust-local=false", "--insecure"}, "only requests from this machine"},
		{"signed, exposed", []string{"--addr", ":3000", "--webhook-signing-secret", signing}, ""},
		{"signed, local", []string{"--webhook-signing-secret", signing}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, notices, err := buildSettings(t, nil, c.args...)
			if err != nil {
				t.Fatal(err)
			}
			if c.notice == "" && len(notices) != 0 || c.notice != "" && (len(notices) != 1 || !strings.Contains(notices[0], c.notice)) {
				t.Errorf("notices %q, want one containing %q", notices, c.notice)
			}
			if strings.Contains(strings.Join(c.args, " "), "signing") && cfg.Security.SigningKey == nil {
				t.Error("signing secret not built into a key")
			}
		})
	}
}
