package mailguntest

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// checkUnsubscribeHeaders checks List-Unsubscribe and List-Unsubscribe-Post
// the way the large mailbox providers read them (RFC 2369, RFC 8058): a
// list of <URI>s, and one-click only with an https URI among them. It
// returns what is wrong, or "".
func checkUnsubscribeHeaders(h map[string]string) string {
	lu, hasLU := h["List-Unsubscribe"]
	post, hasPost := h["List-Unsubscribe-Post"]
	if !hasLU {
		if hasPost {
			return "List-Unsubscribe-Post without List-Unsubscribe"
		}
		return ""
	}
	https := false
	for _, part := range strings.Split(lu, ",") {
		part = strings.TrimSpace(part)
		if !strings.HasPrefix(part, "<") || !strings.HasSuffix(part, ">") {
			return fmt.Sprintf("List-Unsubscribe entry %q is not <URI>", part)
		}
		u, err := url.Parse(part[1 : len(part)-1])
		if err != nil {
			return fmt.Sprintf("List-Unsubscribe entry %q: %v", part, err)
		}
		switch u.Scheme {
		case "https":
			https = u.Host != ""
		case "mailto":
			if _, err := mail.ParseAddress(u.Opaque); err != nil {
				return fmt.Sprintf("List-Unsubscribe mailto %q: %v", u.Opaque, err)
			}
		default:
			return fmt.Sprintf("List-Unsubscribe entry %q: want https: or mailto:", part)
		}
	}
	if hasPost && (post != "List-Unsubscribe=One-Click" || !https) {
		return "List-Unsubscribe-Post must be List-Unsubscribe=One-Click, with an https URI in List-Unsubscribe"
	}
	return ""
}

// AddUnsubscribe, AddBounce and AddComplaint fill the domain's
// suppression lists, as if Mailgun had recorded them.
func (s *Server) AddUnsubscribe(addr string) {
	s.addToList("unsubscribes", map[string]any{"address": addr, "tags": []string{"*"}})
}
func (s *Server) AddBounce(addr, code, why string) {
	s.addToList("bounces", map[string]any{"address": addr, "code": code, "error": why})
}
func (s *Server) AddComplaint(addr string) {
	s.addToList("complaints", map[string]any{"address": addr, "count": 1})
}

func (s *Server) addToList(list string, item map[string]any) {
	item["created_at"] = time.Now().UTC().Format(time.RFC1123Z)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lists[list] = append(s.lists[list], item)
}

// listHandler pages a suppression list: limit items per page and an
// absolute "next" URL, the last page being empty (as Mailgun's are).
func (s *Server) listHandler(list string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.authorized(w, r) {
			return
		}
		limit, skip := 100, 0
		if v, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil && v > 0 {
			limit = min(v, 1000)
		}
		if v, err := strconv.Atoi(r.URL.Query().Get("skip")); err == nil && v > 0 {
			skip = v
		}
		s.mu.Lock()
		all := s.lists[list]
		page := []map[string]any{}
		if skip < len(all) {
			page = append(page, all[skip:min(skip+limit, len(all))]...)
		}
		s.mu.Unlock()
		base := "http://" + r.Host + r.URL.Path
		next := fmt.Sprintf("%s?page=next&limit=%d&skip=%d", base, limit, skip+len(page))
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"items": page,
			"paging": map[string]string{"first": base + "?page=first&limit=" + strconv.Itoa(limit), "next": next, "previous": base, "last": base}})
	}
}

// Event is a webhook event to send, as Mailgun's event-data.
type Event struct {
	Event     string // delivered, failed, complained, unsubscribed, opened, clicked, ...
	Severity  string // failed: permanent or temporary
	Recipient string
	EventID   string // the hogpipe-event-id user variable
	ID        string // Mailgun's event id; random when empty
	Reason    string
}

// Signed is a webhook body with its signature parts, so tests can tamper
// with any of them.
type Signed struct {
	Timestamp, Token, Signature string
	EventData                   map[string]any
}

// Body renders the webhook body.
func (sg Signed) Body() []byte {
	b, _ := json.Marshal(map[string]any{
		"signature":  map[string]string{"timestamp": sg.Timestamp, "token": sg.Token, "signature": sg.Signature},
		"event-data": sg.EventData,
	})
	return b
}

// Sign makes a webhook for e signed with key at time at, as Mailgun does:
// hex HMAC-SHA256 over timestamp + token.
func Sign(key string, at time.Time, e Event) Signed {
	tok := make([]byte, 25)
	rand.Read(tok)
	if e.ID == "" {
		id := make([]byte, 11)
		rand.Read(id)
		e.ID = hex.EncodeToString(id)
	}
	ed := map[string]any{
		"event": e.Event, "id": e.ID, "timestamp": float64(at.UnixMicro()) / 1e6, "recipient": e.Recipient,
		"user-variables": map[string]any{"hogpipe-event-id": e.EventID},
		"message":        map[string]any{"headers": map[string]any{"message-id": "20261129.1@mg.example.com"}},
	}
	switch e.Event {
	case "failed":
		ed["severity"] = e.Severity
		ed["reason"] = e.Reason
		ed["delivery-status"] = map[string]any{"code": 550, "message": "5.1.1 mailbox does not exist"}
	case "delivered":
		ed["delivery-status"] = map[string]any{"code": 250, "message": "OK"}
	case "clicked":
		ed["url"] = "https://example.com/feature"
	}
	sg := Signed{Timestamp: strconv.FormatInt(at.Unix(), 10), Token: hex.EncodeToString(tok), EventData: ed}
	sg.Signature = SignatureOf(key, sg.Timestamp, sg.Token)
	return sg
}

// SignatureOf is Mailgun's webhook signature.
func SignatureOf(key, timestamp, token string) string {
	h := hmac.New(sha256.New, []byte(key))
	h.Write([]byte(timestamp + token))
	return hex.EncodeToString(h.Sum(nil))
}

// Deliver POSTs a signed webhook to url as Mailgun does and returns the
// status and body of the answer.
func Deliver(url string, sg Signed) (int, string, error) {
	resp, err := http.Post(url, "application/json", bytes.NewReader(sg.Body()))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String(), nil
}
