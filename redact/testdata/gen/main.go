// Command gen writes redact/testdata/generated.jsonl: labelled positives per
// kind and country or format, and hard negatives, from a fixed seed so the
// file is the same on every run. Run it from the repository root:
//
//	go run ./redact/testdata/gen > redact/testdata/generated.jsonl
//
// Card numbers pass Luhn, IBANs their mod-97 check; phone numbers are drawn
// from each country's numbering plan and kept only when libphonenumber
// calls them valid (or, for the North American 555 drama range, possible).
// Secrets are random strings in each vendor's published format; none is a
// real credential.
package main

import (
	"encoding/json"
	"fmt"
	"math/big"
	"math/rand/v2"
	"os"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

var rng = rand.New(rand.NewPCG(13, 2026))

type kase struct {
	Text string `json:"text"`
	Note string `json:"note,omitempty"`
}

var out = json.NewEncoder(os.Stdout)

func emit(note, text string) {
	out.SetEscapeHTML(false)
	if err := out.Encode(kase{Text: text, Note: note}); err != nil {
		panic(err)
	}
}

// mark labels a span: ⟦kind:value⟧.
func mark(kind, v string) string { return "⟦" + kind + ":" + v + "⟧" }

func pick[T any](xs []T) T { return xs[rng.IntN(len(xs))] }

func digitsN(n int) string {
	var b strings.Builder
	for range n {
		b.WriteByte(byte('0' + rng.IntN(10)))
	}
	return b.String()
}

func from(alphabet string, n int) string {
	var b strings.Builder
	for range n {
		b.WriteByte(alphabet[rng.IntN(len(alphabet))])
	}
	return b.String()
}

const (
	alnum   = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	upperD  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	hexL    = "0123456789abcdef"
	b64url  = alnum + "_-"
	letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// fill replaces each # with a random digit.
func fill(pattern string) string {
	var b strings.Builder
	for _, r := range pattern {
		if r == '#' {
			b.WriteByte(byte('0' + rng.IntN(10)))
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

var phoneContexts = []string{
	"call me at %s", "my number is %s.", "Reach me on %s or by email", "text %s when you land",
	"(mobile: %s)", "tel: %s", "WhatsApp %s please", "Kontakt: %s", "appelez-moi au %s", "bel me op %s",
	"llámame al %s", "chiamami al %s", "phone %s, ask for Sam", "Contact number - %s", "ring %s after 6pm",
}

type phoneFormat struct {
	country, region string
	patterns        []string // # = digit
}

var phoneFormats = []phoneFormat{
	{"UK mobile", "GB", []string{"07700 900###", "+44 7700 900###", "+447700900###", "07700900###", "+44 (0)7700 900###"}},
	{"UK London", "GB", []string{"020 7946 0###", "+44 20 7946 0###", "(020) 7946 0###"}},
	{"DE mobile", "DE", []string{"0171 #######", "+49 171 #######", "0049 171 #######", "0151 ########", "+49 151 ########"}},
	{"DE Berlin", "DE", []string{"030 ########", "030/########", "+49 30 ########", "030-########"}},
	{"FR", "FR", []string{"06 ## ## ## ##", "06.##.##.##.##", "+33 6 ## ## ## ##", "01 ## ## ## ##", "+33 1 ## ## ## ##", "+33 (0)6 ## ## ## ##"}},
	{"NL", "NL", []string{"06-########", "06 ########", "+31 6 ########", "+31 6 ## ## ## ##", "020-#######", "+31 20 ### ####"}},
	{"US", "US", []string{"(415) 555-####", "415-555-####", "415.555.####", "+1 415 555 ####", "+1-212-555-####", "(212) 555-####", "1-650-555-####", "+1 (646) 555-####"}},
	{"ES", "ES", []string{"612 ### ###", "+34 612 ### ###", "91 ### ## ##", "+34 91 ### ## ##", "699 ## ## ##"}},
	{"IT", "IT", []string{"333 ### ####", "+39 333 ### ####", "06 #### ####", "+39 06 #### ####", "347 #######"}},
	{"IN", "IN", []string{"98### #####", "+91 98### #####", "+91-98###-#####", "098### #####"}},
	{"BR", "BR", []string{"(11) 9####-####", "+55 11 9####-####", "+55 (21) 9####-####"}},
	{"AU", "AU", []string{"0412 ### ###", "+61 412 ### ###", "(02) 9### ####", "+61 2 9### ####"}},
	{"JP", "JP", []string{"090-####-####", "+81 90-####-####", "03-####-####", "+81 3-####-####"}},
	{"PL", "PL", []string{"512 ### ###", "+48 512 ### ###", "+48 22 ### ## ##"}},
	{"SE", "SE", []string{"070-### ## ##", "+46 70 ### ## ##", "08-### ### ##"}},
	{"CH", "CH", []string{"079 ### ## ##", "+41 79 ### ## ##", "044 ### ## ##"}},
	{"IE", "IE", []string{"087 ### ####", "+353 87 ### ####", "01 ### ####"}},
	{"MX", "MX", []string{"+52 55 #### ####", "+52 1 55 #### ####"}},
	{"ZA", "ZA", []string{"082 ### ####", "+27 82 ### ####"}},
	{"BE", "BE", []string{"0470 ## ## ##", "+32 470 ## ## ##"}},
}

func phones() {
	for _, f := range phoneFormats {
		for _, p := range f.patterns {
			made := 0
			for try := 0; made < 3 && try < 200; try++ {
				v := fill(p)
				n, err := phonenumbers.Parse(v, f.region)
				if err != nil {
					continue
				}
				ok := phonenumbers.IsValidNumber(n)
				if f.region == "US" && strings.Contains(v, "555") {
					ok = phonenumbers.IsPossibleNumber(n) // fictional 555 range
				}
				if !ok {
					continue
				}
				emit("phone "+f.country, fmt.Sprintf(pick(phoneContexts), mark("phone", v)))
				made++
			}
		}
	}
}

var emailLocals = []string{"ada.lovelace", "j.smith+newsletter", "Grace_Hopper", "o'brien", "first.last-99", "x", "sales", "user123", "MixedCase.Name"}
var emailDomains = []string{"example.com", "mail.example.co.uk", "example.org", "sub.domain.example.io", "example-shop.de", "example.museum", "uni.example.edu"}
var unicodeEmails = []string{
	"josé@example.com", "zoë.müller@example.com", "user@bücher.de", "françois@exemple.fr", "søren@eksempel.dk",
	"用户@例子.广告", "θσερ@παράδειγμα.δοκιμή", "почта@пример.рф", "user@xn--bcher-kva.de", "ñandú@dominio.es",
	"müller.jürgen@münchen.de", "åsa@exempel.se", "δοκιμή@example.com", "info@bücher.example", "ğüşiöç@örnek.com.tr",
	"अजय@डाटा.भारत", "chloé+tag@exemple.fr", "łukasz@przykład.pl",
}
var emailContexts = []string{
	"email me at %s", "send it to %s.", "my address is %s, thanks", "<%s>", "mailto:%s", "(%s)", "\"%s\"",
	"cc %s and me", "contact: %s", "From: Ada <%s>", "%s wrote:", "account %s is locked",
}

func emails() {
	for i := 0; i < 60; i++ {
		e := pick(emailLocals) + "@" + pick(emailDomains)
		emit("email ascii", fmt.Sprintf(pick(emailContexts), mark("email", e)))
	}
	for _, e := range unicodeEmails {
		emit("email unicode/idn", fmt.Sprintf(pick(emailContexts), mark("email", e)))
		emit("email unicode/idn", fmt.Sprintf(pick(emailContexts), mark("email", e)))
	}
	emit("email two", "two: "+mark("email", "a@b.io")+", "+mark("email", "c_d@x-y.org"))
}

// luhnDigit is the check digit that makes body+digit pass the Luhn check.
// It is written apart from redact's own check (a table of doubled digits,
// read left to right), so that one mistake cannot make the corpus and the
// detector agree.
func luhnDigit(body string) byte {
	doubled := [10]int{0, 2, 4, 6, 8, 1, 3, 5, 7, 9}
	sum := 0
	for i, c := range body {
		n := int(c - '0')
		if (len(body)-i)%2 == 1 { // odd places from the check digit are doubled
			n = doubled[n]
		}
		sum += n
	}
	return byte('0' + (10-sum%10)%10)
}

func card(prefix string, n int) string {
	body := prefix + digitsN(n-len(prefix)-1)
	return body + string(luhnDigit(body))
}

func group(d string, sizes []int, sep string) string {
	var parts []string
	i := 0
	for _, s := range sizes {
		if i >= len(d) {
			break
		}
		if i+s > len(d) {
			s = len(d) - i
		}
		parts = append(parts, d[i:i+s])
		i += s
	}
	if i < len(d) {
		parts = append(parts, d[i:])
	}
	return strings.Join(parts, sep)
}

var cardContexts = []string{"card %s exp 12/29", "my card number is %s", "charged to %s yesterday", "pay with %s", "CC: %s CVV 123", "number %s."}

func cards() {
	type net struct {
		name    string
		prefix  []string
		n       int
		grouped []int
	}
	nets := []net{
		{"visa", []string{"4"}, 16, []int{4, 4, 4, 4}},
		{"visa13", []string{"4"}, 13, []int{4, 3, 3, 3}},
		{"mastercard", []string{"51", "52", "53", "54", "55", "2221", "2720", "2300"}, 16, []int{4, 4, 4, 4}},
		{"amex", []string{"34", "37"}, 15, []int{4, 6, 5}},
		{"discover", []string{"6011", "65", "644"}, 16, []int{4, 4, 4, 4}},
		{"jcb", []string{"3528", "3589", "3530"}, 16, []int{4, 4, 4, 4}},
		{"diners", []string{"36", "300", "38"}, 14, []int{4, 6, 4}},
		{"unionpay", []string{"62"}, 16, []int{4, 4, 4, 4}},
		{"unionpay19", []string{"62"}, 19, []int{4, 4, 4, 4, 3}},
		{"maestro", []string{"6759", "5018"}, 16, []int{4, 4, 4, 4}},
	}
	for _, nt := range nets {
		for _, sep := range []string{" ", "-", ""} {
			for range 2 {
				d := card(pick(nt.prefix), nt.n)
				v := d
				if sep != "" {
					v = group(d, nt.grouped, sep)
				}
				emit("card "+nt.name, fmt.Sprintf(pick(cardContexts), mark("card", v)))
			}
		}
	}
	for _, v := range []string{"4111 1111 1111 1111", "5500-0000-0000-0004", "378282246310005", "4242424242424242", "6011 1111 1111 1117", "3530 1113 3330 0000"} {
		emit("card test numbers", fmt.Sprintf(pick(cardContexts), mark("card", v)))
	}
}

func ibanCheck(country, bban string) string {
	var b strings.Builder
	for _, c := range bban + country + "00" {
		if c >= 'A' && c <= 'Z' {
			fmt.Fprintf(&b, "%d", c-'A'+10)
		} else {
			b.WriteRune(c)
		}
	}
	n, _ := new(big.Int).SetString(b.String(), 10)
	r := new(big.Int).Mod(n, big.NewInt(97)).Int64()
	return fmt.Sprintf("%s%02d%s", country, 98-r, bban)
}

var ibanContexts = []string{"IBAN %s", "please wire it to %s", "Kontoverbindung: %s", "my account %s (BIC on request)", "rekeningnummer %s", "IBAN: %s."}

func ibans() {
	type c struct{ cc, bban string }
	formats := []c{
		{"DE", "37040044##########"}, {"GB", "NWBK601613########"}, {"FR", "20041010050500013M026##"}, {"NL", "ABNA0#########"},
		{"BE", "539007547###"}, {"ES", "21000418450200######"}, {"IT", "X0542811101000000######"}, {"CH", "00762011623852###"},
		{"AT", "1904300234######"}, {"PL", "109010140000071219######"}, {"SE", "50000000058398257###"}, {"NO", "8601111####"},
		{"IE", "AIBK931152123#####"}, {"PT", "000201231234567890###"}, {"DK", "00400440116###"}, {"FI", "12345600000###"},
	}
	for _, f := range formats {
		for i := 0; i < 3; i++ {
			v := ibanCheck(f.cc, fill(f.bban))
			if i != 1 {
				v = group(v, []int{4, 4, 4, 4, 4, 4, 4, 4}, " ")
			}
			emit("iban "+f.cc, fmt.Sprintf(pick(ibanContexts), mark("iban", v)))
		}
	}
	emit("iban example", "IBAN "+mark("iban", "DE89 3704 0044 0532 0130 00"))
	emit("iban example", "to "+mark("iban", "GB29NWBK60161331926819"))
}

func ips() {
	ctx := []string{"from %s", "client ip %s blocked", "ssh root@%s", "GET http://%s:8080/health", "server %s.", "[%s]:443"}
	for range 25 {
		v := fmt.Sprintf("%d.%d.%d.%d", 1+rng.IntN(223), rng.IntN(256), rng.IntN(256), 1+rng.IntN(254))
		emit("ip v4", fmt.Sprintf(pick(ctx[:5]), mark("ip", v)))
	}
	for _, v := range []string{"192.168.1.20", "10.0.0.1", "8.8.8.8", "172.16.254.1", "127.0.0.1"} {
		emit("ip v4", fmt.Sprintf(pick(ctx[:5]), mark("ip", v)))
	}
	v6ctx := []string{"from %s", "client ip %s blocked", "GET http://[%s]:8080/health", "server %s.", "[%s]:443", "ping6 %s"}
	v6 := []string{"2001:db8::8a2e:370:7334", "2001:0db8:85a3:0000:0000:8a2e:0370:7334", "::1", "fe80::1", "fe80::1ff:fe23:4567:890a",
		"::ffff:192.0.2.128", "2606:4700:4700::1111", "2001:4860:4860::8888", "2a00:1450:4001:82a::200e", "fd00::5", "2001:db8:0:0:1:0:0:1", "2001:db8::"}
	for _, v := range v6 {
		emit("ip v6", fmt.Sprintf(pick(v6ctx), mark("ip", v)))
	}
	for range 10 {
		v := fmt.Sprintf("2001:db8:%x:%x::%x", rng.IntN(65536), rng.IntN(65536), 1+rng.IntN(65535))
		emit("ip v6", fmt.Sprintf(pick(v6ctx), mark("ip", v)))
	}
}

func secrets() {
	ctx := []string{"my key is %s", "export TOKEN=%s", "use %s for the api", "here: %s", "Authorization: Bearer %s", "key %s done", "`%s`"}
	type f struct {
		name string
		gen  func() string
	}
	formats := []f{
		{"aws AKIA", func() string { return "AKIA" + from(upperD, 16) }},
		{"aws ASIA", func() string { return "ASIA" + from(upperD, 16) }},
		{"google AIza", func() string { return "AIza" + from(b64url, 35) }},
		{"github ghp", func() string { return "ghp_" + from(alnum, 36) }},
		{"github gho", func() string { return "gho_" + from(alnum, 36) }},
		{"github ghs", func() string { return "ghs_" + from(alnum, 36) }},
		{"github pat", func() string { return "github_pat_11" + from(upperD, 20) + "_" + from(alnum, 59) }},
		{"gitlab glpat", func() string { return "glpat-" + from(b64url, 20) }},
		{"huggingface hf", func() string { return "hf_" + from(letters, 34) }},
		{"stripe sk_live", func() string { return "sk_live_" + from(alnum, 24) }},
		{"stripe rk_live", func() string { return "rk_live_" + from(alnum, 24) }},
		{"stripe sk_test", func() string { return "sk_test_" + from(alnum, 24) }},
		{"twilio SK", func() string { return "SK" + from(hexL, 32) }},
		{"slack xoxb", func() string { return "xoxb-" + digitsN(11) + "-" + digitsN(13) + "-" + from(alnum, 24) }},
		{"slack xoxp", func() string {
			return "xoxp-" + digitsN(11) + "-" + digitsN(11) + "-" + digitsN(12) + "-" + from(hexL, 32)
		}},
		{"openai sk-proj", func() string { return "sk-proj-" + from(b64url, 48) }},
		{"openai sk", func() string { return "sk-" + from(alnum, 48) }},
		{"anthropic", func() string { return "sk-ant-api03-" + from(b64url, 93) + "AA" }},
		{"posthog phx", func() string { return "phx_" + from(alnum, 43) }},
		{"mailgun key", func() string { return "key-" + from(hexL, 32) }},
		{"sendgrid", func() string { return "SG." + from(b64url, 22) + "." + from(b64url, 43) }},
		{"npm", func() string { return "npm_" + from(alnum, 36) }},
		{"digitalocean", func() string { return "dop_v1_" + from(hexL, 64) }},
		{"shopify", func() string { return "shpat_" + from(hexL, 32) }},
		{"databricks", func() string { return "dapi" + from(hexL, 32) }},
		{"groq", func() string { return "gsk_" + from(alnum, 52) }},
		{"jwt", func() string {
			return "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ" + from(b64url, 40) + "." + from(b64url, 43)
		}},
	}
	for _, fm := range formats {
		for range 3 {
			emit("secret "+fm.name, fmt.Sprintf(pick(ctx), mark("secret", fm.gen())))
		}
	}
	for range 3 {
		emit("secret slack webhook", "post to "+mark("secret", "https://hooks.slack.com/services/T"+from(upperD, 8)+"/B"+from(upperD, 10)+"/"+from(alnum, 24))+" on failure")
	}
	for _, kind := range []string{"RSA PRIVATE KEY", "PRIVATE KEY", "OPENSSH PRIVATE KEY", "EC PRIVATE KEY"} {
		var body strings.Builder
		for range 4 {
			body.WriteString(from(alnum+"+/", 64) + "\n")
		}
		emit("secret private key", "my key:\n"+mark("secret", "-----BEGIN "+kind+"-----\n"+body.String()+"-----END "+kind+"-----")+"\nwhy does ssh reject it?")
	}
	for range 4 {
		emit("secret assignment", "config has password="+mark("secret", from(alnum, 8)+"!"+from(alnum, 8)))
		emit("secret assignment", "AWS_SECRET_ACCESS_KEY="+mark("secret", from(alnum+"/+", 40)))
		emit("secret assignment", `{"api_key": "`+mark("secret", from(hexL, 32))+`"}`)
	}
	for range 4 {
		emit("secret url password", "DATABASE_URL=postgres://app:"+mark("secret", from(alnum, 16))+"@db.internal:5432/prod")
	}
}

func negatives() {
	neg := func(note, text string) { emit("negative "+note, text) }
	paths := []string{"server/security2.go", "src/components/Chart2Container.tsx", "internal/pgtest/pgtest.go", "web/src/App2.tsx",
		"lib/utils/base64Encoder3.ts", "cmd/hogpipe/training_test.go", "docs/RFC-8058.md", "/var/lib/postgresql/15/main/base/16384/2619",
		"C:\\Users\\ada\\AppData\\Local\\Temp\\build123\\out.log", "node_modules/@vitejs/plugin-react/dist/index.mjs", "pkg/mod/github.com/jackc/pgx/v5@v5.13.0/conn.go"}
	for _, p := range paths {
		neg("path", "the bug is in "+p+" near line 42")
		neg("url", "see https://github.com/org/repo/blob/main/"+p)
	}
	urls := []string{"https://github.com/org/repo/blob/main/server/security2.go", "https://example.com/a/b?x=1&y=2#frag",
		"https://huggingface.co/meta-llama/Llama-3.1-70B-Instruct/resolve/main/config.json", "https://arxiv.org/abs/2310.06825v2",
		"https://docs.python.org/3.12/library/re.html", "http://localhost:5173/dashboard?range=7d", "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
		"https://stackoverflow.com/questions/11227809/why-is-processing-a-sorted-array-faster", "https://registry.npmjs.org/posthog-js/-/posthog-js-1.449.2.tgz",
		"https://pkg.go.dev/github.com/nyaruka/phonenumbers@v1.8.1#Parse", "https://en.wikipedia.org/wiki/ISO_8601"}
	for _, u := range urls {
		neg("url", "open "+u+" and explain")
	}
	for range 20 {
		neg("version", fmt.Sprintf("upgrade from %d.%d.%d to v%d.%d.%d", rng.IntN(20), rng.IntN(40), rng.IntN(200), rng.IntN(20), rng.IntN(40), rng.IntN(200)))
	}
	for _, v := range []string{"chrome 120.0.6099.109 crashed", "Firefox/128.0.3", "python 3.12.1", "node v20.11.1", "go1.26.8 linux/amd64",
		"version 10.0.19045.3803", "kernel 6.1.0-18-amd64", "posthog-js 1.449.2", "libc 2.36-9+deb12u4", "react@19.3.1", "vite 8.3.8", "upgrade to version 1.2.3 or v10.0.1.4"} {
		neg("version", v)
	}
	for range 15 {
		y, m, d := 1990+rng.IntN(40), 1+rng.IntN(12), 1+rng.IntN(28)
		neg("date", fmt.Sprintf("meeting on %04d-%02d-%02d at %02d:%02d:%02d", y, m, d, rng.IntN(24), rng.IntN(60), rng.IntN(60)))
		neg("date", fmt.Sprintf("born %02d.%02d.%04d, due %02d/%02d/%04d", d, m, y, m, d, y+1))
		neg("date", fmt.Sprintf("ts %04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y, m, d, rng.IntN(24), rng.IntN(60), rng.IntN(60), rng.IntN(1000)))
	}
	models := []string{"meta-llama/Llama-3.1-70B-Instruct-Turbo", "mistralai/Mixtral-8x7B-Instruct-v0.1", "claude-3-5-sonnet-20241022",
		"gpt-4o-mini-2024-07-18", "Qwen/Qwen2.5-Coder-32B-Instruct-GPTQ-Int4", "stabilityai/stable-diffusion-xl-base-1.0",
		"sentence-transformers/all-MiniLM-L6-v2", "TheBloke/Mistral-7B-Instruct-v0.2-GGUF", "google/gemma-2-27b-it",
		"deepseek-ai/DeepSeek-R1-Distill-Qwen-32B", "black-forest-labs/FLUX.1-schnell", "microsoft/Phi-3-mini-128k-instruct",
		"nvidia/Llama-3.1-Nemotron-70B-Instruct-HF", "anthropic.claude-3-haiku-20240307-v1:0", "text-embedding-3-large"}
	for _, m := range models {
		neg("model name", "generate with "+m+" failed")
	}
	for range 15 {
		neg("git hash", "revert commit "+from(hexL, 40)+" please")
		neg("content id", "blob sha256:"+from(hexL, 64)+" missing")
		neg("short hash", "fixed in "+from(hexL, 7)+" and "+from(hexL, 12))
	}
	neg("content id", `const ASSET_ID = "`+from(hexL, 32)+`" // md5 of the file`)
	neg("content id", "cid bafybei"+strings.ToLower(from(upperD, 50)))
	for range 15 {
		neg("uuid", "uuid "+fmt.Sprintf("%s-%s-%s-%s-%s", from(hexL, 8), from(hexL, 4), from(hexL, 4), from(hexL, 4), from(hexL, 12)))
	}
	lists := []string{"128 256 512 1024", "10 20 30 40 50", "1 2 3 4 5 6 7 8 9 10", "2048 4096 8192 16384", "100 200 300 400 500 600",
		"3 5 7 11 13 17 19 23", "0 1 1 2 3 5 8 13 21 34", "batch sizes 16 32 64 128 256", "epochs: 10, 20, 30", "ports 8080 8081 8082 8083",
		"1000 2000 3000 4000", "65 66 67 68 69 70", "99 98 97 96 95 94", "7 14 21 28 35 42 49", "scores 88 92 75 64 99 81"}
	for _, l := range lists {
		neg("number list", "sort these: "+l)
	}
	for range 15 {
		neg("price", fmt.Sprintf("price $%d,%03d.%02d for %d seats", 1+rng.IntN(99), rng.IntN(1000), rng.IntN(100), 1+rng.IntN(50)))
		neg("price", fmt.Sprintf("total €%d.%03d,%02d incl. VAT", 1+rng.IntN(99), rng.IntN(1000), rng.IntN(100)))
	}
	for range 15 {
		neg("order number", "order "+fmt.Sprintf("ORD-%d-%06d", 2020+rng.IntN(7), rng.IntN(1000000)))
		neg("order number", "invoice #"+digitsN(8)+" is overdue")
		// 16 digits that fail Luhn.
		d := "1" + digitsN(14)
		bad := (luhnDigit(d) - '0' + 1 + byte(rng.IntN(8))) % 10
		neg("order number", "tracking "+d+string('0'+bad))
	}
	for range 5 {
		neg("unix time", fmt.Sprintf("expires at %d", 1700000000+rng.IntN(100000000)))
		neg("unix time", fmt.Sprintf("took %d ms", 1000000000000+rng.Int64N(900000000000)))
	}
	maths := []string{"compute 3.14159 * 2.71828", "solve 12x + 7 = 43", "2^10 = 1024 and 2^20 = 1048576", "sqrt(144) = 12", "(3 + 4) * (5 - 2) = 21",
		"ratio 16:9 at 1920x1080", "1/3 + 1/6 = 1/2", "matrix [[1, 2], [3, 4]]", "f(x) = 0.5x^2 - 3x + 1", "lat 52.5200 lon 13.4050", "1e-9 < eps < 1e-6",
		"123456789 * 987654321", "the sum 1 + 2 + 3 + ... + 100 = 5050", "pi is 3.14159", "room 42, floor 7"}
	for _, m := range maths {
		neg("math", m)
	}
	codes := []string{"use abc::def", "std::vector<int> v; std::sort(v.begin(), v.end());", "impl Foo for Bar { fn baz() -> io::Result<()> }",
		"crate::config::Settings::default()", "SELECT * FROM users WHERE id = 12345", "if (a == b) { return c::d; }",
		"const KEY_LENGTH = 32; // bytes", "x := map[string]int{\"a\": 1}", "assert response.status_code == 200", "DEADBEEF is a magic number",
		"color #ff5733 and #1a2b3c", "MAC 00:1A:2B:3C:4D:5E", "call 12:30:45", "ISBN 978-3-16-148410-0", "fe80 is a prefix",
		"the word internationalization is long", "call me maybe @ noon", "@app.route('/api/v1/users')", "npm i @tanstack/react-query@5.62.0",
		"password: changeme", "token: <your token here>", "set api_key to your own key", "the secret is out",
		"a token of 4096 tokens", "Bearer auth is configured", "internalServerErrorHandlerForRequests", "TestRedactTruePositivesAndNearMisses2",
		"getUserById(42).then(x => x.name)"}
	for _, c := range codes {
		neg("code", c)
	}
}

func main() {
	phones()
	emails()
	cards()
	ibans()
	ips()
	secrets()
	negatives()
}
