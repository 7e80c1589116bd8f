package redact

import (
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// Regions tried for numbers written without a country code. Numbers that
// start with the trunk prefix 0 are tried in the countries that use one;
// the others only where numbers are customarily written without one.
var (
	trunkZeroRegions = []string{"GB", "DE", "FR", "NL", "IT", "AU", "JP", "SE", "CH", "AT", "BE", "IE", "ZA", "IN", "BR", "NZ", "FI", "TR"}
	noTrunkRegions   = []string{"US", "ES", "IT", "PL", "IN", "BR", "PT"}
)

const maxPhoneBytes = 32

// findPhones reads runs of digits, spaces, dashes, dots, slashes and
// parentheses (a leading + too) and keeps those that libphonenumber's
// metadata says are valid numbers, trying shorter prefixes of the run when
// the whole is not ("call 030 12345678 3 times").
func findPhones(s string, spans []Span) []Span {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isDigit(c) || c == '+' || c == '(') {
			continue
		}
		if i > 0 && phoneGlued(s[i-1]) {
			// Skip the rest of this word or number.
			for i+1 < len(s) && (isAlnum(s[i+1]) || strings.IndexByte("+-./()_", s[i+1]) >= 0 && i+2 < len(s) && isDigit(s[i+2])) {
				i++
			}
			continue
		}
		end := phoneRun(s, i)
		found := false
		e := end
		// No written phone number is longer than this; a longer run is
		// judged by its start (and the cost stays linear).
		for e-i > maxPhoneBytes {
			e = lastGroupCut(s, i, min(e, i+maxPhoneBytes+1))
		}
		for ; e > i; e = lastGroupCut(s, i, e) {
			// Only a number with a country code or trunk prefix is sure
			// enough of its start to be cut to a valid prefix; cutting
			// "4111 1111 1111 1112" finds a number in any of them.
			if e != end && !(s[i] == '+' || s[i] == '0' || s[i] == '(' && i+1 < len(s) && s[i+1] == '0') {
				break
			}
			if e < len(s) && isAlnum(s[e]) {
				continue
			}
			if isPhone(s[i:e]) {
				spans = append(spans, Span{Phone, i, e})
				found = true
				i = e - 1
				break
			}
		}
		if !found {
			i = max(i, end-1)
		}
	}
	return spans
}

// phoneGlued: a number right after these belongs to a word, an id, a
// version or a decimal.
func phoneGlued(c byte) bool {
	return isAlnum(c) || c == '_' || c == '.' || c == '-' || c == '/' || c == '+' || c == '$' || c == '#' || c == '='
}

// phoneRun returns the end of the phone-like run starting at i.
func phoneRun(s string, i int) int {
	j := i
	if s[j] == '+' {
		j++
		if j < len(s) && s[j] == ' ' {
			j++
		}
	}
	lastDigit := -1
	seps := 0
	for j < len(s) {
		c := s[j]
		switch {
		case isDigit(c):
			lastDigit = j
			seps = 0
		case c == ' ' || c == '-' || c == '.' || c == '/' || c == '(' || c == ')':
			seps++
			if seps > 2 {
				return cutRun(s, i, lastDigit)
			}
		default:
			return cutRun(s, i, lastDigit)
		}
		j++
	}
	return cutRun(s, i, lastDigit)
}

// cutRun ends a run after its last digit, or its closing parenthesis.
func cutRun(s string, i, lastDigit int) int {
	if lastDigit < 0 {
		return i + 1
	}
	return lastDigit + 1
}

// lastGroupCut drops the last group of digits from s[start:end].
func lastGroupCut(s string, start, end int) int {
	j := end - 1
	for j > start && isDigit(s[j]) {
		j--
	}
	for j > start && !isDigit(s[j]) {
		j--
	}
	if j <= start {
		return start
	}
	return j + 1
}

func isPhone(m string) bool {
	d := digits(m)
	if len(d) < 7 || len(d) > 15 || strings.Count(m, "(") != strings.Count(m, ")") || looksLikeDate(m) {
		return false
	}
	if m[len(m)-1] == ')' && !strings.Contains(m, "(0)") {
		return false
	}
	grouped := strings.ContainsAny(m, " -./()")
	if m[0] == '+' || strings.HasPrefix(m, "00") && grouped {
		n := internationalNumber(m, d)
		if n == nil {
			return false
		}
		return phonenumbers.IsValidNumber(n) || m[0] == '+' && grouped && phonenumbers.IsPossibleNumber(n)
	}
	// A dotted run that is not a phone layout is a version or a decimal.
	if strings.Contains(m, ".") && !strings.ContainsAny(m, " -/()") && d[0] != '0' && !nanpShape(m) {
		return false
	}
	if nanpShape(m) {
		return true
	}
	if !grouped && (d[0] != '0' || len(d) < 10) {
		// A bare run of digits is an id, an amount or a timestamp more
		// often than a phone; only a trunk-prefixed one passes.
		return false
	}
	// Every national number tried below has nine digits or more.
	if len(d) < 9 || numberList(m) {
		return false
	}
	// The national significant number is the digits without the trunk
	// prefix (Italy keeps its 0); building the number from it directly
	// spares phonenumbers.Parse, which costs more than the check itself.
	regions := noTrunkRegions
	if d[0] == '0' {
		regions = trunkZeroRegions
	}
	for _, r := range regions {
		nsn, italianZero := d, false
		if d[0] == '0' {
			if r == "IT" {
				italianZero = true
			} else {
				nsn = d[1:]
			}
		}
		if r == "US" && len(nsn) == 11 && nsn[0] == '1' {
			nsn = nsn[1:]
		}
		nn, err := strconv.ParseUint(nsn, 10, 64)
		if err != nil {
			continue
		}
		cc := int32(phonenumbers.GetCountryCodeForRegion(r))
		n := &phonenumbers.PhoneNumber{CountryCode: &cc, NationalNumber: &nn}
		if italianZero {
			n.ItalianLeadingZero = &italianZero
		}
		if phonenumbers.IsValidNumberForRegion(n, r) {
			return true
		}
	}
	return false
}

// internationalNumber builds the number written +CC… or 00CC… from its
// digits d: country calling codes are prefix-free, so at most one of the
// first one to three digits is a code. A "(0)" after the code is the
// trunk prefix some countries write, and is dropped; Italy keeps its 0.
// Building the number spares phonenumbers.Parse, the costliest step.
func internationalNumber(m, d string) *phonenumbers.PhoneNumber {
	if m[0] != '+' {
		d = d[2:]
	}
	if i := strings.Index(m, "(0)"); i >= 0 {
		d = digits(m[:i]) + digits(m[i+3:])
		if m[0] != '+' {
			d = d[2:]
		}
	}
	for l := 1; l <= 3 && l < len(d); l++ {
		cc := atoi(d[:l])
		if phonenumbers.GetRegionCodeForCountryCode(cc) == "ZZ" {
			continue
		}
		nsn := d[l:]
		if nsn == "" || len(nsn) > 17 {
			return nil
		}
		nn, err := strconv.ParseUint(nsn, 10, 64)
		if err != nil {
			return nil
		}
		cc32 := int32(cc)
		n := &phonenumbers.PhoneNumber{CountryCode: &cc32, NationalNumber: &nn}
		if nsn[0] == '0' {
			lead := true
			zeros := int32(len(nsn) - len(strings.TrimLeft(nsn, "0")))
			n.ItalianLeadingZero, n.NumberOfLeadingZeros = &lead, &zeros
		}
		return n
	}
	return nil
}

// nanpShape is the North American layout, (415) 555-2671, 415-555-2671 or
// 415.555.2671: written this way it is a phone number even when the area
// code is fictional (555).
func nanpShape(m string) bool {
	d := digits(m)
	if len(d) == 11 && d[0] == '1' {
		m = strings.TrimLeft(strings.TrimPrefix(m, "1"), " -.")
		d = d[1:]
	}
	if len(d) != 10 {
		return false
	}
	if len(m) == 14 && m[0] == '(' && m[4] == ')' && m[5] == ' ' && m[9] == '-' {
		return true
	}
	if len(m) == 13 && m[0] == '(' && m[4] == ')' && m[8] == '-' {
		return true
	}
	return len(m) == 12 && (m[3] == '-' && m[7] == '-' || m[3] == '.' && m[7] == '.')
}

// numberList: three or more groups of one or two digits, without a trunk
// prefix, are counts ("10 20 30 40 50"), not a phone number.
func numberList(m string) bool {
	groups := strings.FieldsFunc(m, func(r rune) bool { return r == ' ' || r == '-' || r == '.' || r == '/' })
	short, single := 0, 0
	for _, g := range groups {
		if len(g) <= 2 {
			short++
		}
		if len(g) == 1 {
			single++
		}
	}
	// "0 1 1 2 3 5 8 13": numbers are not written in groups of one digit.
	if single >= 2 {
		return true
	}
	if m[0] == '0' || len(groups) < 3 {
		return false
	}
	if short == len(groups) {
		return true
	}
	// Powers of two, sizes, ascending counts: four or more groups, each
	// larger than the one before, none starting with 0.
	if len(groups) < 4 {
		return false
	}
	prev := -1
	for _, g := range groups {
		if g == "" || g[0] == '0' || g[0] == '(' {
			return false
		}
		v := atoi(digits(g))
		if v <= prev {
			return false
		}
		prev = v
	}
	return true
}

func looksLikeDate(m string) bool {
	parts := strings.FieldsFunc(m, func(r rune) bool { return r == '-' || r == '.' || r == '/' || r == ' ' })
	if len(parts) < 3 {
		return false
	}
	a, b, c := parts[0], parts[1], parts[2]
	if len(a) == 4 && len(b) <= 2 && len(c) <= 2 {
		y, mo, da := atoi(a), atoi(b), atoi(c)
		return y >= 1900 && y <= 2100 && mo >= 1 && mo <= 12 && da >= 1 && da <= 31
	}
	if len(c) >= 4 && len(a) <= 2 && len(b) <= 2 {
		y := atoi(c[:4])
		return y >= 1900 && y <= 2100 && atoi(a) <= 31 && atoi(b) <= 31
	}
	return false
}
