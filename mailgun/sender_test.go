package mailgun

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hogpipe/hogpipe"
	"github.com/hogpipe/hogpipe/internal/mailguntest"
)

var testMessage = hogpipe.Message{From: "hogpipe@mg.example.com", To: "someone@example.com",
	Subject: "Hello", Text: "Hi there", EventID: "evt-1"}

func newSender(t *testing.T, base string) *Sender {
	t.Helper()
	s, err := New(Config{APIKey: "key-test", Domain: "mg.example.com", APIBase: base})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSendErrorClassification sends through the real mailgun-go client to
// a server answering as Mailgun does, and checks what the outbox is told:
// whether retrying can help, and how long Mailgun asked it to wait.
func TestSendErrorClassification(t *testing.T) {
	mg := mailguntest.New("key-test", "mg.example.com")
	defer mg.Close()
	s := newSender(t, mg.URL)
	for _, c := range []struct {
		name       string
		resp       mailguntest.Response
		permanent  bool
		retryAfter time.Duration
		inError    string
	}{
		{"bad request", mailguntest.Response{Status: 400, Message: "'to' parameter is not a valid address"}, true, 0, "not a valid address"},
		{"unauthorized", mailguntest.Response{Status: 401}, true, 0, "401"},
		{"forbidden", mailguntest.Response{Status: 403}, true, 0, "403"},
		{"domain not found", mailguntest.Response{Status: 404, Message: "Domain not found"}, true, 0, "Domain not found"},
		{"too large", mailguntest.Response{Status: 413}, true, 0, "413"},
		{"request timeout", mailguntest.Response{Status: 408}, false, 0, "408"},
		{"rate limited", mailguntest.Response{Status: 429, RetryAfter: "7"}, false, 7 * time.Second, "429"},
		{"rate limited, no Retry-After", mailguntest.Response{Status: 429}, false, 0, "429"},
		{"rate limited, Retry-After garbage", mailguntest.Response{Status: 429, RetryAfter: "soon"}, false, 0, "429"},
		{"internal error", mailguntest.Response{Status: 500}, false, 0, "500"},
		{"bad gateway", mailguntest.Response{Status: 502}, false, 0, "502"},
		{"unavailable with Retry-After", mailguntest.Response{Status: 503, RetryAfter: "120"}, false, 2 * time.Minute, "503"},
		{"gateway timeout", mailguntest.Response{Status: 504}, false, 0, "504"},
	} {
		t.Run(c.name, func(t *testing.T) {
			mg.Then(c.resp)
			_, err := s.Send(context.Background(), testMessage)
			var se *hogpipe.SendError
			if !errors.As(err, &se) {
				t.Fatalf("Send = %v (%T), want an *hogpipe.SendError", err, err)
			}
			if se.Permanent != c.permanent {
				t.Errorf("Permanent = %v, want %v (%v)", se.Permanent, c.permanent, err)
			}
			if se.RetryAfter != c.retryAfter {
				t.Errorf("RetryAfter = %s, want %s", se.RetryAfter, c.retryAfter)
			}
			if !strings.Contains(err.Error(), c.inError) {
				t.Errorf("error %q does not contain %q", err, c.inError)
			}
		})
	}
	t.Run("accepted", func(t *testing.T) {
		id, err := s.Send(context.Background(), testMessage)
		if err != nil || id == "" {
			t.Fatalf("Send = %q, %v; want an id", id, err)
		}
	})
}

// TestSendNetworkErrorsAreTransient: no answer at all is worth retrying.
func TestSendNetworkErrorsAreTransient(t *testing.T) {
	transient := func(t *testing.T, err error) {
		t.Helper()
		var se *hogpipe.SendError
		if !errors.As(err, &se) || se.Permanent {
			t.Fatalf("Send = %v (%T), want a transient *hogpipe.SendError", err, err)
		}
	}
	t.Run("connection refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		_, err = newSender(t, "http://"+addr).Send(context.Background(), testMessage)
		transient(t, err)
	})
	t.Run("connection dropped mid-answer", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"id\":"))
				conn.Close()
			}
		}))
		defer srv.Close()
		_, err := newSender(t, srv.URL).Send(context.Background(), testMessage)
		transient(t, err)
	})
	t.Run("timeout", func(t *testing.T) {
		mg := mailguntest.New("key-test", "mg.example.com")
		defer mg.Close()
		mg.Then(mailguntest.Response{Delay: time.Second})
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err := newSender(t, mg.URL).Send(ctx, testMessage)
		transient(t, err)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Send = %v; want it to say the deadline passed", err)
		}
	})
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"5", 5 * time.Second},
		{" 30 ", 30 * time.Second},
		{"3600", time.Hour},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0}, // a date past: no wait
		{now.Format(http.TimeFormat), 0},
		{"Sun, 29 Nov 2026 12:01:00 GMT", time.Minute},
		{"Sunday, 29-Nov-26 12:02:00 GMT", 2 * time.Minute}, // RFC 850, which HTTP still allows
		{"soon", 0},
		{"-5", 0},
		{"1.5", 0},
		{"5s", 0},
		{"0x10", 0},
		// Huge: no overflow into a negative or small wait; capped.
		{"99999999999", maxRetryAfter},
		{"9223372036854775807", maxRetryAfter},
		{"99999999999999999999999", maxRetryAfter},
		{"Fri, 31 Dec 9999 23:59:59 GMT", maxRetryAfter},
	} {
		if got := parseRetryAfter(c.in, now); got != c.want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", c.in, got, c.want)
		}
	}
}
