package mailguntest

import (
	"strings"
	"testing"
	"time"
)

func TestCheckUnsubscribeHeaders(t *testing.T) {
	ok := []map[string]string{
		{},
		{"List-Unsubscribe": "<https://h.example.com/unsubscribe/t>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
		{"List-Unsubscribe": "<https://h.example.com/u/t>, <mailto:team@example.com?subject=unsubscribe>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
		{"List-Unsubscribe": "<mailto:team@example.com>"},
	}
	bad := []map[string]string{
		{"List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
		{"List-Unsubscribe": "https://h.example.com/u/t"},
		{"List-Unsubscribe": "<http://h.example.com/u/t>"},
		{"List-Unsubscribe": "<mailto:team@example.com>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
		{"List-Unsubscribe": "<https://h.example.com/u/t>", "List-Unsubscribe-Post": "One-Click"},
		{"List-Unsubscribe": "<mailto:not an address>"},
		{"List-Unsubscribe": "<https:///no-host>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
	}
	for _, h := range ok {
		if msg := checkUnsubscribeHeaders(h); msg != "" {
			t.Errorf("%v refused: %s", h, msg)
		}
	}
	for _, h := range bad {
		if msg := checkUnsubscribeHeaders(h); msg == "" || !strings.Contains(msg, "List-Unsubscribe") {
			t.Errorf("%v accepted (%q)", h, msg)
		}
	}
}

func TestSignMatchesMailgunsScheme(t *testing.T) {
	// The documented scheme: hex HMAC-SHA256(key, timestamp + token); the
	// vector was computed independently (Python's hmac module).
	if got := SignatureOf("key", "1", "abc"); got != "b7b336210952c44f5d227599c8f4652f390376bc187a3f0fcb0fa1e3b95e9079" {
		t.Fatalf("signature %q", got)
	}
	sg := Sign("key", time.Unix(1_800_000_000, 0), Event{Event: "delivered", Recipient: "a@example.com", EventID: "e1"})
	if sg.Timestamp != "1800000000" || sg.Signature != SignatureOf("key", sg.Timestamp, sg.Token) ||
		sg.EventData["user-variables"].(map[string]any)["hogpipe-event-id"] != "e1" {
		t.Errorf("signed: %+v", sg)
	}
}
