package outbox

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hogpipe/hogpipe"
)

// The default templates. They see TemplateData: {{.To}}, {{.Event.Name}},
// {{.Event.Properties.feature}}, {{.Person.email}}, {{.UnsubscribeURL}} and
// so on. Marketing email must offer a way out: the footer links to the
// one-click unsubscribe page.
const (
	DefaultSubject = `You just used {{or .Event.Properties.feature "a new feature"}} — here is what else it can do`
	DefaultText    = `Hi{{with .Person.name}} {{.}}{{end}},

Thanks for trying {{or .Event.Properties.feature "our new feature"}}. Here are three ways to get more out of it:

  1. Save your settings as a preset, so the next run takes one click.
  2. Share the result with your team straight from the app.
  3. Reply to this email with anything that got in your way: a person reads every reply.

The team
{{with .UnsubscribeURL}}
--
You get this email because you used our app. To stop these emails: {{.}}
{{end}}`
	DefaultHTML = `<!doctype html>
<html><body style="font-family: system-ui, sans-serif; line-height: 1.5">
<p>Hi{{with .Person.name}} {{.}}{{end}},</p>
<p>Thanks for trying <strong>{{or .Event.Properties.feature "our new feature"}}</strong>. Here are three ways to get more out of it:</p>
<ol>
  <li>Save your settings as a preset, so the next run takes one click.</li>
  <li>Share the result with your team straight from the app.</li>
  <li>Reply to this email with anything that got in your way: a person reads every reply.</li>
</ol>
<p>The team</p>
{{with .UnsubscribeURL}}<p style="font-size: 12px; color: #666">You get this email because you used our app.
<a href="{{.}}" id="unsubscribe">Unsubscribe</a> from these emails.</p>{{end}}
</body></html>
`
)

// TemplateData is what the templates are executed with.
type TemplateData struct {
	To     string
	Event  TemplateEvent
	Person map[string]any
	// UnsubscribeURL is the recipient's one-click unsubscribe page; ""
	// when unsubscribe handling is off.
	UnsubscribeURL string
}

// TemplateEvent is the event as templates see it.
type TemplateEvent struct {
	ID         string
	Name       string
	DistinctID string
	Timestamp  time.Time
	Properties map[string]any
}

// Templates render an email's subject, text and HTML parts.
type Templates struct {
	subject, text *texttemplate.Template
	html          *htmltemplate.Template
}

// ParseTemplates parses the three templates; an empty one takes the
// default. HTML is escaped by html/template, so event data cannot inject
// markup. Each template is tried on a sample event, so a template that
// cannot run fails at start-up rather than on the first email.
func ParseTemplates(subject, text, html string) (*Templates, error) {
	if subject == "" {
		subject = DefaultSubject
	}
	if text == "" {
		text = DefaultText
	}
	if html == "" {
		html = DefaultHTML
	}
	t := &Templates{}
	var err error
	if t.subject, err = texttemplate.New("subject").Parse(subject); err != nil {
		return nil, fmt.Errorf("subject template: %w", err)
	}
	if t.text, err = texttemplate.New("text").Parse(text); err != nil {
		return nil, fmt.Errorf("text template: %w", err)
	}
	if t.html, err = htmltemplate.New("html").Parse(html); err != nil {
		return nil, fmt.Errorf("HTML template: %w", err)
	}
	sample := TemplateData{To: "ada@example.com", UnsubscribeURL: "https://hogpipe.example.com/unsubscribe/sample", Person: map[string]any{"email": "ada@example.com"},
		Event: TemplateEvent{ID: "sample", Name: hogpipe.EventFeatureUsed, Properties: map[string]any{"feature": "export"}}}
	if _, _, _, err := t.Render(sample); err != nil {
		return nil, err
	}
	return t, nil
}

// Render executes the templates. The subject is one line.
func (t *Templates) Render(d TemplateData) (subject, text, html string, err error) {
	var b bytes.Buffer
	if err := t.subject.Execute(&b, d); err != nil {
		return "", "", "", fmt.Errorf("subject template: %w", err)
	}
	subject = strings.Join(strings.Fields(b.String()), " ")
	if subject == "" {
		return "", "", "", fmt.Errorf("subject template: rendered an empty subject")
	}
	b.Reset()
	if err := t.text.Execute(&b, d); err != nil {
		return "", "", "", fmt.Errorf("text template: %w", err)
	}
	text = b.String()
	b.Reset()
	if err := t.html.Execute(&b, d); err != nil {
		return "", "", "", fmt.Errorf("HTML template: %w", err)
	}
	return subject, text, b.String(), nil
}

// dataFor is what a template sees of an email's event. Every string from
// the event goes through templateValue: whoever sent the event chose it,
// and it lands in mail sent from the operator's domain.
func dataFor(it hogpipe.OutboxItem) TemplateData {
	person, _ := cleanValue(it.Event.Person).(map[string]any)
	if person == nil {
		person = map[string]any{}
	}
	props, _ := cleanValue(it.Event.Properties).(map[string]any)
	if props == nil {
		props = map[string]any{}
	}
	return TemplateData{
		To:     it.Email.Recipient,
		Person: person,
		Event: TemplateEvent{ID: templateValue(it.Event.UUID), Name: templateValue(it.Event.Name),
			DistinctID: templateValue(it.Event.DistinctID), Timestamp: it.Event.Timestamp, Properties: props},
	}
}

// MaxTemplateValue bounds, in characters, each string an event gives a
// template: enough for a name or a feature, too little for a letter.
const MaxTemplateValue = 200

// templateValue makes one event string safe to put in a mail: control
// characters (newlines and tabs too: a value must not open a new line of
// the text part or a header) become spaces, bidirectional and other
// invisible format characters (used to disguise text) are dropped, runs of
// space collapse, and the result is cut to MaxTemplateValue characters,
// ending with "…" when cut.
func templateValue(s string) string {
	var b strings.Builder
	n, space := 0, false
	for _, r := range s {
		switch {
		case unicode.IsControl(r) || unicode.IsSpace(r):
			space = b.Len() > 0
			continue
		case unicode.Is(unicode.Cf, r) || r == utf8.RuneError:
			continue
		}
		if n >= MaxTemplateValue {
			b.WriteString("…")
			return b.String()
		}
		if space {
			b.WriteByte(' ')
			n++
			space = false
			if n >= MaxTemplateValue {
				b.WriteString("…")
				return b.String()
			}
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// cleanValue applies templateValue to every string in a JSON value, keys
// included.
func cleanValue(v any) any {
	switch v := v.(type) {
	case string:
		return templateValue(v)
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[templateValue(k)] = cleanValue(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = cleanValue(x)
		}
		return out
	}
	return v
}
