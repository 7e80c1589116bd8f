package redact

import (
	"math"
	"regexp"
	"strings"
)

// secretRule is one credential format: the regexp runs only around the
// literal markers the format holds (a window from back bytes before a
// marker to maxLen after it), so the dozens of formats cost one substring
// search each on a prompt that holds none, and stay linear on one that
// holds many. The whole match is the secret unless group 1 is set, then
// group 1 is.
type secretRule struct {
	name    string
	markers []string
	re      *regexp.Regexp
	// back is how far before a marker a match may start; 0: the match
	// starts at the marker, and the regexp runs anchored there.
	back     int
	anchored *regexp.Regexp
}

// secretMaxLen bounds the text a rule reads after its marker (a private
// key block reads to its end marker).
const secretMaxLen = 1024

func init() {
	for i := range secretRules {
		r := &secretRules[i]
		if r.back == 0 {
			r.anchored = regexp.MustCompile(`^(?:` + r.re.String() + `)`)
		}
	}
}

// secretRules are the formats with a fixed, documented shape. They follow
// the prefixes and lengths the vendors publish (and that gitleaks' default
// rule set encodes; see docs/training-data.md for how the two compare on
// the corpus).
var secretRules = []secretRule{
	{"private-key", []string{"-----BEGIN"}, regexp.MustCompile(`-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----[\s\S]*?-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----`), 0, nil},
	{"jwt", []string{"eyJ"}, regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{0,}`), 0, nil},
	{"aws-access-key", []string{"AKIA", "ASIA", "ABIA", "ACCA", "A3T"}, regexp.MustCompile(`\b(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}\b`), 0, nil},
	{"google-api-key", []string{"AIza"}, regexp.MustCompile(`\bAIza[0-9A-Za-z_-]{35}`), 0, nil},
	{"github-token", []string{"ghp_", "gho_", "ghu_", "ghs_", "ghr_"}, regexp.MustCompile(`\bgh[pousr]_[A-Za-z0-9]{36,255}\b`), 0, nil},
	{"github-fine-grained", []string{"github_pat_"}, regexp.MustCompile(`\bgithub_pat_[A-Za-z0-9_]{22,255}\b`), 0, nil},
	{"gitlab-token", []string{"glpat-", "gldt-", "glrt-", "glptt-", "glsoat-", "GR1348941"}, regexp.MustCompile(`\b(?:glpat|gldt|glrt|glptt|glsoat)-[A-Za-z0-9_.-]{20,}|\bGR1348941[A-Za-z0-9_-]{20,}`), 0, nil},
	{"huggingface", []string{"hf_", "api_org_"}, regexp.MustCompile(`\b(?:hf_[A-Za-z0-9]{30,}|api_org_[A-Za-z0-9]{30,})\b`), 0, nil},
	{"stripe", []string{"sk_live_", "rk_live_", "sk_test_", "rk_test_", "sk_prod_", "rk_prod_", "whsec_"}, regexp.MustCompile(`\b(?:(?:sk|rk)_(?:live|test|prod)_[A-Za-z0-9]{10,247}|whsec_[A-Za-z0-9+/=]{24,})\b`), 0, nil},
	{"twilio", []string{"SK"}, regexp.MustCompile(`\bSK[0-9a-fA-F]{32}\b`), 0, nil},
	{"slack-token", []string{"xox", "xapp-"}, regexp.MustCompile(`\bxox[abposre]-[0-9A-Za-z-]{10,}|\bxapp-\d-[A-Z0-9]+-\d+-[a-z0-9]+`), 0, nil},
	{"slack-webhook", []string{"https://hooks.slack.com", "http://hooks.slack.com", "hooks.slack.com"}, regexp.MustCompile(`(?:https?://)?hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/_-]{20,}`), 0, nil},
	{"openai-anthropic", []string{"sk-"}, regexp.MustCompile(`\bsk-(?:ant-(?:api|admin)\d\d-|proj-|svcacct-|admin-|or-v1-|live-|test-)?[A-Za-z0-9_-]{20,}`), 0, nil},
	{"posthog", []string{"phc_", "phx_"}, regexp.MustCompile(`\bph[cx]_[A-Za-z0-9]{20,}`), 0, nil},
	{"mailgun", []string{"key-"}, regexp.MustCompile(`\bkey-[0-9a-f]{32}\b`), 0, nil},
	{"sendgrid", []string{"SG."}, regexp.MustCompile(`\bSG\.[A-Za-z0-9_-]{20,24}\.[A-Za-z0-9_-]{39,50}`), 0, nil},
	{"npm", []string{"npm_"}, regexp.MustCompile(`\bnpm_[A-Za-z0-9]{36}\b`), 0, nil},
	{"pypi", []string{"pypi-"}, regexp.MustCompile(`\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}`), 0, nil},
	{"digitalocean", []string{"dop_v1_", "doo_v1_", "dor_v1_"}, regexp.MustCompile(`\bdo[opr]_v1_[a-f0-9]{64}\b`), 0, nil},
	{"shopify", []string{"shpat_", "shpca_", "shppa_", "shpss_"}, regexp.MustCompile(`\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}\b`), 0, nil},
	{"databricks", []string{"dapi"}, regexp.MustCompile(`\bdapi[a-f0-9]{32}(?:-\d)?\b`), 0, nil},
	{"groq-replicate-perplexity", []string{"gsk_", "r8_", "pplx-", "xai-"}, regexp.MustCompile(`\b(?:gsk_[A-Za-z0-9]{48,}|r8_[A-Za-z0-9]{37}|pplx-[A-Za-z0-9]{40,}|xai-[A-Za-z0-9]{60,})\b`), 0, nil},
	{"linear-notion-postman", []string{"lin_api_", "ntn_", "secret_", "PMAK-"}, regexp.MustCompile(`\b(?:lin_api_[A-Za-z0-9]{40}|ntn_[A-Za-z0-9]{40,}|secret_[A-Za-z0-9]{43}|PMAK-[a-f0-9]{24}-[a-f0-9]{34})\b`), 0, nil},
	{"grafana-sentry-vault", []string{"glc_", "glsa_", "sntrys_", "sntryu_", "hvs.", "hvb."}, regexp.MustCompile(`\b(?:glc_[A-Za-z0-9+/]{32,}={0,2}|glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}|sntry[su]_[A-Za-z0-9+/=_]{40,}|hv[sb]\.[A-Za-z0-9_-]{24,})`), 0, nil},
	{"age", []string{"AGE-SECRET-KEY-1"}, regexp.MustCompile(`AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}`), 0, nil},
	{"azure-storage", []string{"AccountKey="}, regexp.MustCompile(`AccountKey=([A-Za-z0-9+/]{86}==)`), 0, nil},
	{"telegram-bot", []string{":AA"}, regexp.MustCompile(`\b\d{8,10}:AA[0-9A-Za-z_-]{33}\b`), 12, nil},
	{"url-password", []string{"://"}, regexp.MustCompile(`[a-z][a-z0-9+.-]{1,20}://[^\s:@/]{1,64}:([^\s:@/]{3,128})@[A-Za-z0-9.-]+`), 24, nil},
}

// findSecrets applies every rule, then the generic high-entropy rule.
func findSecrets(s string, spans []Span) []Span {
	for i := range secretRules {
		r := &secretRules[i]
		hay := s
		for _, m := range r.markers {
			done := 0 // the text before done has been searched
			for off := 0; ; {
				k := strings.Index(hay[off:], m)
				if k < 0 {
					break
				}
				p := off + k
				off = p + len(m)
				if p < done {
					continue
				}
				to := min(len(s), p+secretMaxLen)
				if r.name == "private-key" {
					to = len(s) // a key block is as long as it is
				}
				if r.anchored != nil {
					// A format that starts at a word boundary does not
					// start inside a word.
					if p > 0 && strings.HasPrefix(r.re.String(), `\b`) && (isAlnum(s[p-1]) || s[p-1] == '_') {
						continue
					}
					loc := r.anchored.FindStringSubmatchIndex(s[p:to])
					if loc == nil {
						continue
					}
					start, end := p+loc[0], p+loc[1]
					if len(loc) >= 4 && loc[2] >= 0 {
						start, end = p+loc[2], p+loc[3]
					}
					spans = append(spans, Span{Secret, start, end})
					done = p + loc[1]
					continue
				}
				from := max(done, p-r.back)
				to = min(to, p+320) // the formats found around a marker are short
				for _, loc := range r.re.FindAllStringSubmatchIndex(s[from:to], -1) {
					start, end := from+loc[0], from+loc[1]
					if len(loc) >= 4 && loc[2] >= 0 {
						start, end = from+loc[2], from+loc[3]
					}
					spans = append(spans, Span{Secret, start, end})
					done = from + loc[1]
				}
				done = max(done, to-r.back)
			}
		}
	}
	spans = findAssignments(s, asciiLower(s), spans)
	return findRandomTokens(s, spans, len(spans))
}

// credentialNames end the name of a setting whose value is a credential
// (password=…, api_key: …, client_secret => …, AWS_SECRET_ACCESS_KEY=…).
var credentialNames = []string{"password", "passwd", "secret", "token", "key", "credential"}

// findAssignments finds "name = value" where the name ends with a
// credential word: only the value goes, and only when it looks made up.
func findAssignments(s, low string, spans []Span) []Span {
	for _, kw := range credentialNames {
		for off := 0; ; {
			k := strings.Index(low[off:], kw)
			if k < 0 {
				break
			}
			j := off + k + len(kw)
			off = j
			if j < len(s) && low[j] == 's' {
				j++
			}
			if j < len(s) && (s[j] == '"' || s[j] == '\'') {
				j++
			}
			for n := 0; n < 3 && j < len(s) && s[j] == ' '; n++ {
				j++
			}
			switch {
			case strings.HasPrefix(s[j:], ":="), strings.HasPrefix(s[j:], "=>"):
				j += 2
			case strings.HasPrefix(s[j:], "="), strings.HasPrefix(s[j:], ":"):
				j++
			default:
				continue
			}
			for n := 0; n < 3 && j < len(s) && s[j] == ' '; n++ {
				j++
			}
			if j < len(s) && (s[j] == '"' || s[j] == '\'') {
				j++
			}
			start := j
			for j < len(s) && j-start < 200 && credentialByte(s[j]) {
				j++
			}
			// A sentence's full stop or comma is not part of the value.
			for j > start && strings.IndexByte(".,;", s[j-1]) >= 0 {
				j--
			}
			if j-start >= 12 && (j == len(s) || !credentialByte(s[j]) || strings.IndexByte(".,;", s[j]) >= 0) && credentialValue(s[start:j]) {
				spans = append(spans, Span{Secret, start, j})
			}
		}
	}
	return spans
}

// asciiLower lower-cases ASCII letters only, so offsets into the result
// are offsets into s (strings.ToLower may change a character's length).
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func credentialByte(c byte) bool {
	return isAlnum(c) || strings.IndexByte("+/=_.~!@#$%^&*-", c) >= 0
}

// credentialValue: a value after "password=" must look made up, not like
// a word or a placeholder ("password: changeme", "token: <your token>").
func credentialValue(v string) bool {
	v = strings.TrimRight(v, ".,;")
	if len(v) < 12 {
		return false
	}
	lower, upper, digit := false, false, false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c >= 'a' && c <= 'z':
			lower = true
		case c >= 'A' && c <= 'Z':
			upper = true
		case isDigit(c):
			digit = true
		}
	}
	classes := 0
	for _, b := range []bool{lower, upper, digit} {
		if b {
			classes++
		}
	}
	return classes >= 2 && entropy(v) >= 3.0
}

// findRandomTokens catches credentials of no known format: a run of 32 or
// more base64/URL-safe characters that mixes upper case, lower case and
// digits and is as random as a key (Shannon entropy of at least 4.3 bits
// per character). Hex digests (git hashes, content ids) are left alone:
// they are identifiers far more often than secrets.
func findRandomTokens(s string, spans []Span, known int) []Span {
	// Findings of the named formats (spans[:known]) are more
	// exact: a random run overlapping one is left to it.
	covered := func(start, end int) bool {
		for _, sp := range spans[:known] {
			if sp.Kind == Secret && sp.Start < end && start < sp.End {
				return true
			}
		}
		return false
	}
	i := 0
	for i < len(s) {
		if !tokenByte(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && tokenByte(s[j]) {
			j++
		}
		if j-i >= 32 {
			t := strings.TrimRight(s[i:j], ".-_")
			// Paths, URLs and assignments split into parts; each part is
			// judged alone.
			for off := 0; off < len(t); {
				k := strings.IndexAny(t[off:], "/.=")
				part := t[off:]
				if k >= 0 {
					part = t[off : off+k]
				}
				if len(part) >= 32 && !sriHash(part) && randomToken(part) && !covered(i+off, i+off+len(part)) {
					spans = append(spans, Span{Secret, i + off, i + off + len(part)})
				}
				if k < 0 {
					break
				}
				off += k + 1
			}
		}
		i = j
	}
	return spans
}

// sriHash: a Subresource Integrity digest (package-lock.json, <script
// integrity>) is a content id, not a key.
func sriHash(t string) bool {
	return strings.HasPrefix(t, "sha1-") || strings.HasPrefix(t, "sha256-") || strings.HasPrefix(t, "sha384-") || strings.HasPrefix(t, "sha512-")
}

func tokenByte(c byte) bool {
	return isAlnum(c) || c == '+' || c == '/' || c == '_' || c == '-' || c == '=' || c == '.'
}

func randomToken(t string) bool {
	t = strings.TrimRight(t, "=")
	var lower, upper, digit, words int
	run := 0
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c >= 'a' && c <= 'z':
			lower++
			run++
		case c >= 'A' && c <= 'Z':
			upper++
			run = 1
		case isDigit(c):
			digit++
			run = 0
		default:
			run = 0
		}
		if run == 4 {
			words++
		}
	}
	// Identifiers (Chart2Container, Llama-3.1-70B-Instruct) are made of
	// words: several runs of four or more lower-case letters, or several
	// dash- or underscore-separated parts that are words.
	if upper == 0 || lower == 0 || digit < 2 || words*10 > len(t) || wordParts(t) >= 2 {
		return false
	}
	return entropy(t) >= 4.3
}

// wordParts counts the parts of t, split at - and _, that are words: four
// or more letters with a vowel.
func wordParts(t string) int {
	n := 0
	for _, p := range strings.FieldsFunc(t, func(r rune) bool { return r == '-' || r == '_' }) {
		if len(p) < 4 || !strings.ContainsAny(p, "aeiouAEIOU") {
			continue
		}
		letters := true
		for i := 0; i < len(p); i++ {
			if !isAlpha(p[i]) {
				letters = false
				break
			}
		}
		if letters {
			n++
		}
	}
	return n
}

// entropy is the Shannon entropy of s in bits per byte.
func entropy(s string) float64 {
	var counts [256]int
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
	}
	h, n := 0.0, float64(len(s))
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}
