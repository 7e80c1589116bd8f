package outbox

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/hogpipe/hogpipe"
)

// EmailReader reads an email and its event back (*sqlstore.Store).
type EmailReader interface {
	Email(ctx context.Context, id int64) (*hogpipe.Email, error)
	Event(ctx context.Context, id string) (hogpipe.EventOutcome, error)
}

// Previewer renders an email from its stored event as the workers would,
// for GET /api/emails/{id}/preview.
func (w *Worker) Previewer(store EmailReader) func(ctx context.Context, id int64) (subject, html string, err error) {
	return func(ctx context.Context, id int64) (string, string, error) {
		m, err := store.Email(ctx, id)
		if err != nil {
			return "", "", err
		}
		out, err := store.Event(ctx, m.EventID)
		if err != nil {
			return "", "", err
		}
		ev := hogpipe.Event{UUID: out.Event.UUID, Name: out.Event.Name, DistinctID: out.Event.DistinctID, Timestamp: out.Event.Timestamp}
		// Numbers as the event gave them, as the claim reads them for the
		// real send: a float would print 1000000 as 1e+06.
		decodeNumbers(out.Event.Properties, &ev.Properties)
		if len(out.Event.Person) > 0 {
			decodeNumbers(out.Event.Person, &ev.Person)
		}
		msg, err := w.Render(hogpipe.OutboxItem{Email: *m, Event: ev})
		if err != nil {
			return "", "", hogpipe.Errorf(hogpipe.EInvalid, "the email's templates do not render: %v", err)
		}
		return msg.Subject, msg.HTML, nil
	}
}

func decodeNumbers(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	return dec.Decode(v)
}
