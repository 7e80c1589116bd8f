package trainingfile

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hogpipe/hogpipe"
)

// Importer stores imported lines as training examples (sqlstore.Store).
type Importer interface {
	ImportExamples(ctx context.Context, ex []hogpipe.ImportedExample) (int, error)
}

// ErrNotJSONL is wrapped by the error that refuses a file to import or
// adopt: a line that is not a JSON object, or not text at all.
var ErrNotJSONL = errors.New("not a JSONL file")

// MaxImportLineBytes bounds one line of an imported file; longer lines are
// refused (a binary file has no newlines to stop at).
const MaxImportLineBytes = 16 << 20

// importBatch is how many lines go to the store per call.
const importBatch = 2000

// importScanner reads a JSONL file line by line into examples. Blank
// lines are kept, byte for byte, with the example that follows them (or,
// at the end of the file, the one before), so the examples' lines put end
// to end are the file's bytes.
type importScanner struct {
	name string
	r    *bufio.Reader
	now  string

	// keepBlank keeps blank lines with the example after them, so the
	// examples' lines are the file's bytes (adopting a file); an import
	// drops them.
	keepBlank bool

	// seen counts the occurrences of each line's content so far.
	seen map[[32]byte]int
	// from: examples that start before this offset (lines the store has
	// already) are read, for the counts, but not returned.
	from int64

	lineNo int   // lines read so far (1-based number of the last one)
	offset int64 // bytes read so far
	blank  []byte

	// Torn is set at the end of the file when the last line has no
	// newline and is not a JSON object: an interrupted write. Its bytes
	// are not part of any example.
	Torn []byte
	// NoNewline is set when the last line is a whole JSON object without
	// a newline: its example's line gets one.
	NoNewline bool
	// Trailing holds blank lines at the end of the file, after the last
	// example (or the only content of a file of blank lines).
	Trailing []byte
}

func newImportScanner(name string, r io.Reader, now time.Time) *importScanner {
	return &importScanner{name: name, r: bufio.NewReaderSize(r, 1<<20), now: hogpipe.FormatTime(now), seen: map[[32]byte]int{}}
}

// next returns the next example at or after s.from, or io.EOF.
func (s *importScanner) next() (hogpipe.ImportedExample, error) {
	for {
		start := s.offset - int64(len(s.blank))
		ex, err := s.next1()
		if err != nil || start >= s.from {
			return ex, err
		}
	}
}

func (s *importScanner) next1() (hogpipe.ImportedExample, error) {
	for {
		raw, err := s.readLine()
		if err == io.EOF {
			if len(raw) == 0 {
				s.Trailing = s.blank
				return hogpipe.ImportedExample{}, io.EOF
			}
		} else if err != nil {
			return hogpipe.ImportedExample{}, err
		}
		s.lineNo++
		s.offset += int64(len(raw))
		content := bytes.TrimRight(raw, "\r\n")
		if len(bytes.TrimSpace(content)) == 0 {
			if err == io.EOF {
				// Whitespace without a newline at the very end: nothing to
				// adopt; kept with the blank lines.
				s.Trailing = append(s.blank, raw...)
				return hogpipe.ImportedExample{}, io.EOF
			}
			s.blank = append(s.blank, raw...)
			continue
		}
		ex, perr := s.parse(content)
		if err == io.EOF {
			if perr != nil && looksTorn(content) {
				// A last line cut short by a crash mid-write.
				s.Torn = raw
				s.offset -= int64(len(raw))
				s.Trailing = s.blank
				return hogpipe.ImportedExample{}, io.EOF
			}
			if perr == nil {
				s.NoNewline = true
				raw = append(raw, '\n')
			}
		}
		if perr != nil {
			return hogpipe.ImportedExample{}, fmt.Errorf("%s line %d: %w", s.name, s.lineNo, perr)
		}
		if s.keepBlank {
			ex.Line = append(s.blank, raw...)
		} else {
			ex.Line = raw
		}
		s.blank = nil
		return ex, nil
	}
}

// readLine reads up to and including the next newline, refusing lines
// longer than MaxImportLineBytes.
func (s *importScanner) readLine() ([]byte, error) {
	var line []byte
	for {
		chunk, err := s.r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > MaxImportLineBytes {
			return nil, fmt.Errorf("%s line %d: longer than %d MiB: %w", s.name, s.lineNo+1, MaxImportLineBytes>>20, ErrNotJSONL)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("read %s: %w", s.name, err)
		}
		return line, err
	}
}

// looksTorn tells whether an unfinished last line is the start of a JSON
// object cut short (a crash mid-write), rather than something else.
func looksTorn(content []byte) bool {
	c := bytes.TrimSpace(content)
	if len(c) == 0 || c[0] != '{' || json.Valid(c) {
		return false
	}
	// The cut may fall inside a multi-byte character.
	for cut := 0; cut < 4 && cut < len(c); cut++ {
		if utf8.Valid(c[:len(c)-cut]) {
			return true
		}
	}
	return false
}

// v1Keys are the keys of a v1 line; an imported line's other keys become
// the v1 rendering's properties.
var v1Keys = map[string]bool{"timestamp": true, "user_id": true, "failure_reason": true, "input_prompt": true,
	"id": true, "event": true, "received_at": true, "source": true, "schema": true, "properties": true,
	"redacted": true, "truncated": true}

// parse checks one line and renders its v1 line. The four original keys
// keep their values (failure_reason normalised as for events); the line's
// other keys become properties.
func (s *importScanner) parse(content []byte) (hogpipe.ImportedExample, error) {
	var ex hogpipe.ImportedExample
	if !utf8.Valid(content) {
		return ex, fmt.Errorf("not UTF-8 text: %w", ErrNotJSONL)
	}
	if bytes.TrimSpace(content)[0] != '{' {
		return ex, fmt.Errorf("not a JSON object: %w", ErrNotJSONL)
	}
	dec := json.NewDecoder(bytes.NewReader(content))
	dec.UseNumber() // numbers are carried exactly
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return ex, fmt.Errorf("not a JSON object (%v): %w", err, ErrNotJSONL)
	}
	if _, err := dec.Token(); err != io.EOF {
		return ex, fmt.Errorf("more than one JSON value on the line: %w", ErrNotJSONL)
	}
	str := func(k string) string {
		switch v := obj[k].(type) {
		case nil:
			return ""
		case string:
			return v
		default:
			b, _ := json.Marshal(v)
			return string(b)
		}
	}
	// The id is the line's content and which occurrence of that content
	// it is in the file (1 for the first): a line repeated in a file is two
	// examples, the same file imported again finds its examples stored, and
	// so does a file that moved its lines (hogpipe's own training file,
	// holding lines imported from another file further down) or grew at
	// its end (the old service still running during the move).
	key := sha256.Sum256(content)
	s.seen[key]++
	sum := sha256.Sum256([]byte(strconv.Itoa(s.seen[key]) + "\x00" + string(content)))
	ex.ID = "import-" + hex.EncodeToString(sum[:16])
	if id, ok := obj["id"].(string); ok {
		ex.OwnID = id
	}
	reason := strings.ToLower(strings.TrimSpace(str("failure_reason")))
	if reason == "" {
		reason = "unknown"
	}
	ex.FailureReason = reason
	ex.Timestamp = str("timestamp")
	if t, err := time.Parse(time.RFC3339Nano, ex.Timestamp); err == nil {
		ex.Timestamp = hogpipe.FormatTime(t)
	}
	// The line's other keys (and a v1 line's own properties) become
	// properties; "$" keys are PostHog's, left out as for events.
	props := map[string]any{}
	if p, ok := obj["properties"].(map[string]any); ok {
		for k, v := range p {
			props[k] = v
		}
	}
	for k, v := range obj {
		if !v1Keys[k] {
			props[k] = v
		}
	}
	for k := range props {
		if strings.HasPrefix(k, "$") {
			delete(props, k)
		}
	}
	v1 := hogpipe.TrainingExample{
		Timestamp:     ex.Timestamp,
		UserID:        str("user_id"),
		FailureReason: reason,
		InputPrompt:   str("input_prompt"),
		ID:            ex.ID,
		Event:         hogpipe.EventGenerationFailed,
		ReceivedAt:    s.now,
		Source:        hogpipe.SourceImport,
		Schema:        hogpipe.TrainingSchemaVersion,
		Properties:    props,
	}
	b, err := hogpipe.MarshalLine(v1)
	if err != nil {
		return ex, fmt.Errorf("render v1 line: %w", err)
	}
	ex.V1 = b
	return ex, nil
}

// ImportResult says what an import did.
type ImportResult struct {
	Lines int // examples read from the file
	Added int // of which newly stored
	// Torn is the length of an incomplete last line that was not imported.
	Torn int
}

// ImportFile checks the file, then stores its lines as training examples
// (see Importer); lines already stored are left out. An incomplete last
// line (no newline, not a JSON object) is not imported. The file itself is
// not changed.
func ImportFile(ctx context.Context, path string, imp Importer, now time.Time) (ImportResult, error) {
	if res, err := importFrom(ctx, path, nil, now); err != nil {
		return res, err
	}
	return importFrom(ctx, path, imp, now)
}

// importFrom reads path from its start; with imp nil it only checks.
func importFrom(ctx context.Context, path string, imp Importer, now time.Time) (ImportResult, error) {
	var res ImportResult
	f, err := os.Open(path)
	if err != nil {
		return res, err
	}
	defer f.Close()
	sc := newImportScanner(path, f, now)
	return scanInto(ctx, sc, imp)
}

func scanInto(ctx context.Context, sc *importScanner, imp Importer) (ImportResult, error) {
	var res ImportResult
	batch := make([]hogpipe.ImportedExample, 0, importBatch)
	flush := func() error {
		if imp != nil && len(batch) > 0 {
			n, err := imp.ImportExamples(ctx, batch)
			res.Added += n
			if err != nil {
				return err
			}
		}
		batch = batch[:0]
		return nil
	}
	// One example is held back: blank lines at the end of the file belong
	// to the last one, when they are kept.
	var prev *hogpipe.ImportedExample
	for {
		ex, err := sc.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return res, err
		}
		res.Lines++
		if prev != nil {
			batch = append(batch, *prev)
		}
		prev = &ex
		if len(batch) == importBatch {
			if err := flush(); err != nil {
				return res, err
			}
		}
	}
	if prev != nil {
		if sc.keepBlank && len(sc.Trailing) > 0 {
			prev.Line = append(prev.Line, sc.Trailing...)
			if !bytes.HasSuffix(prev.Line, []byte("\n")) {
				prev.Line = append(prev.Line, '\n') // as the adopter appends to the file
			}
		}
		batch = append(batch, *prev)
	}
	res.Torn = len(sc.Torn)
	return res, flush()
}
