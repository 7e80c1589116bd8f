package trainingfile

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hogpipe/hogpipe"
)

// Request is an export as a user asks for it, on the command line
// (hogpipe export) or in a query (GET /api/training-data): both read it
// with ParseRequest, so they accept and refuse the same values.
type Request struct {
	Options
	// Split is the train share of a split by id hash (InTrain), in (0, 1);
	// 0: no split.
	Split float64
	// Part is the side of a split one stream carries: PartTrain,
	// PartValidation, or "" (the command line writes both, to two files).
	Part string
}

// The sides of a split.
const (
	PartTrain      = "train"
	PartValidation = "validation"
)

// The option names ParseRequest reads: the API's query parameters, and
// the command line's flags with "--" before them.
const (
	OptFormat        = "format"
	OptSince         = "since"
	OptUntil         = "until"
	OptReason        = "reason"
	OptDedupeContent = "dedupe-content"
	OptSplit         = "split"
	OptPart          = "part"
)

// ParseRequest reads an export's options from named values, as a query or
// a command line gives them; get returns "" for an option not given. A
// value it refuses comes back as a hogpipe.FieldError naming the option
// (the API answers it with 400 bad_parameter, the command line with a
// usage error naming the flag). It checks each option alone; rules about
// how a transport delivers the result (a split needs -o FILE, or part=)
// are the caller's.
func ParseRequest(get func(name string) string) (Request, error) {
	r := Request{Options: Options{Format: FormatV1}}
	if v := get(OptFormat); v != "" {
		if !slices.Contains(Formats, v) {
			return r, hogpipe.FieldError(OptFormat, "use one of %s", strings.Join(Formats, ", "))
		}
		r.Format = v
	}
	var err error
	if r.Filter.Since, err = parseTime(get, OptSince); err != nil {
		return r, err
	}
	if r.Filter.Until, err = parseTime(get, OptUntil); err != nil {
		return r, err
	}
	// Failure reasons are stored lower-case (NewExample).
	for _, reason := range strings.Split(strings.ToLower(get(OptReason)), ",") {
		if reason = strings.TrimSpace(reason); reason != "" {
			r.Filter.Reasons = append(r.Filter.Reasons, reason)
		}
	}
	if v := get(OptDedupeContent); v != "" {
		if r.DedupeContent, err = strconv.ParseBool(v); err != nil {
			return r, hogpipe.FieldError(OptDedupeContent, "say true or false")
		}
	}
	if v := get(OptSplit); v != "" {
		// Written so that NaN fails too: it compares false with
		// everything, and split=NaN once exported nothing with a 200.
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !(f > 0 && f < 1) {
			return r, hogpipe.FieldError(OptSplit, "give the train share, e.g. 0.9")
		}
		r.Split = f
	}
	if v := get(OptPart); v != "" {
		if v != PartTrain && v != PartValidation {
			return r, hogpipe.FieldError(OptPart, "use one of %s, %s", PartTrain, PartValidation)
		}
		r.Part = v
	}
	return r, nil
}

// parseTime reads a day (2026-11-28) or an RFC 3339 time; zero if absent.
func parseTime(get func(string) string, name string) (time.Time, error) {
	v := get(name)
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse("2006-01-02", v); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, hogpipe.FieldError(name, "use a day (2026-11-28) or an RFC 3339 time")
	}
	return t, nil
}
