package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/hogpipe/hogpipe"
)

// storedEmail is one email and its event as the store gives them back.
type storedEmail struct {
	props, person string
}

func (s storedEmail) Email(_ context.Context, id int64) (*hogpipe.Email, error) {
	if id != 7 {
		return nil, hogpipe.Errorf(hogpipe.ENotFound, "no email %d", id)
	}
	return &hogpipe.Email{ID: 7, EventID: "evt-7", Recipient: "ann@example.com", Template: hogpipe.EventFeatureUsed}, nil
}

func (s storedEmail) Event(_ context.Context, id string) (hogpipe.EventOutcome, error) {
	return hogpipe.EventOutcome{Event: hogpipe.StoredEvent{UUID: id, Name: hogpipe.EventFeatureUsed, DistinctID: "ann",
		Properties: json.RawMessage(s.props), Person: json.RawMessage(s.person)}}, nil
}

// A preview shows what was (or will be) sent: the same templates over the
// same event, numbers printed as the event gave them (as the claim reads
// them), not as floats (1e+06).
func TestPreviewRendersAsSent(t *testing.T) {
	tmpl, err := ParseTemplates("{{.Event.Properties.feature}} for {{.Event.Properties.seats}} seats, {{.Person.name}}", "", "<p>{{.Event.Properties.big}}</p>")
	if err != nil {
		t.Fatal(err)
	}
	w, _ := newTestWorker(Config{Templates: tmpl}, nil)
	preview := w.Previewer(storedEmail{props: `{"feature":"export","seats":1000000,"big":12345678901234567890}`, person: `{"name":"Ann"}`})
	subject, html, err := preview(context.Background(), 7)
	if err != nil {
		t.Fatal(err)
	}
	if subject != "export for 1000000 seats, Ann" || !strings.Contains(html, "<p>12345678901234567890</p>") {
		t.Errorf("preview: %q %q", subject, html)
	}
	if _, _, err := preview(context.Background(), 8); hogpipe.ErrorCode(err) != hogpipe.ENotFound {
		t.Errorf("preview of a missing email: %v, want the store's not_found", err)
	}
}

// An email whose templates no longer render is an invalid request to
// preview, saying why; not a server error.
func TestPreviewOfAnUnrenderableEmail(t *testing.T) {
	tmpl, err := ParseTemplates("{{if .Event.Properties.plan}}{{.Event.Properties.plan.name}}{{else}}x{{end}}", "", "")
	if err != nil {
		t.Fatal(err)
	}
	w, _ := newTestWorker(Config{Templates: tmpl}, nil)
	_, _, err = w.Previewer(storedEmail{props: `{"plan":"pro"}`})(context.Background(), 7)
	var he *hogpipe.Error
	if !errors.As(err, &he) || he.Code != hogpipe.EInvalid || !strings.Contains(err.Error(), "do not render") {
		t.Errorf("preview: %v, want %s saying the templates do not render", err, hogpipe.EInvalid)
	}
}
