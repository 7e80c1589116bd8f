package redact

import "strings"

// cardRun returns the end of the run of digits with single spaces or
// dashes between them that starts at i, and how many digits it holds.
func cardRun(s string, i int) (end, n int) {
	j := i
	for j < len(s) {
		if isDigit(s[j]) {
			n++
			j++
			end = j
			continue
		}
		if (s[j] == ' ' || s[j] == '-') && j+1 < len(s) && isDigit(s[j+1]) && n < 19 {
			j++
			continue
		}
		break
	}
	return end, n
}

// findCards reads runs of 12–19 digits with optional single spaces or
// dashes, then asks for one separator style, a network prefix and length,
// and the Luhn check.
func findCards(s string, spans []Span) []Span {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) || i > 0 && isDigit(s[i-1]) {
			continue
		}
		end, n := cardRun(s, i)
		if n < 12 || n > 19 {
			i = end - 1
			continue
		}
		loc := [2]int{i, end}
		i = end - 1
		start := loc[0]
		// "4111 1111 1111 1111 12 29": the run may go on past the card;
		// try it whole, then without its last groups.
		for end := loc[1]; end > start; end = strings.LastIndexAny(s[start:end], " -") + start {
			if end-start < 12 {
				break
			}
			m := s[start:end]
			// "4111 1111-1111 1111" mixes styles: not how a card is written.
			if strings.Contains(m, " ") && strings.Contains(m, "-") || !digitBoundary(s, start, end) {
				continue
			}
			if d := digits(m); len(d) >= 12 && cardNetwork(d) && luhn(d) {
				spans = append(spans, Span{Card, start, end})
				break
			}
		}
	}
	return spans
}

// digitBoundary tells whether s[start:end] stands alone: no letter, digit
// or digit-joining punctuation on either side (so it is not part of an id,
// a decimal or a longer dotted or dashed number).
func digitBoundary(s string, start, end int) bool {
	if start > 0 {
		c := s[start-1]
		if isAlnum(c) || c == '_' || c == '/' {
			return false
		}
		if (c == '.' || c == '-' || c == ',') && start > 1 && isDigit(s[start-2]) {
			return false
		}
	}
	if end < len(s) {
		c := s[end]
		if isAlnum(c) || c == '_' {
			return false
		}
		if (c == '.' || c == '-' || c == ',' || c == '/') && end+1 < len(s) && isDigit(s[end+1]) {
			return false
		}
	}
	return true
}

// cardNetwork checks the issuer prefix and length of the major networks
// (Visa, Mastercard, American Express, Discover, JCB, Diners Club,
// UnionPay, Maestro), as published in their IIN ranges.
func cardNetwork(d string) bool {
	n := len(d)
	p2 := atoi(d[:2])
	p3 := atoi(d[:3])
	p4 := atoi(d[:4])
	switch {
	case d[0] == '4': // Visa
		return n == 13 || n == 16 || n == 19
	case p2 >= 51 && p2 <= 55, p4 >= 2221 && p4 <= 2720: // Mastercard
		return n == 16
	case p2 == 34 || p2 == 37: // American Express
		return n == 15
	case p4 == 6011, p2 == 65, p3 >= 644 && p3 <= 649: // Discover
		return n >= 16 && n <= 19
	case p4 >= 3528 && p4 <= 3589: // JCB
		return n >= 16 && n <= 19
	case p2 == 36, p2 == 38, p2 == 39, p3 >= 300 && p3 <= 305, p4 == 3095: // Diners Club
		return n >= 14 && n <= 19
	case p2 == 62: // UnionPay
		return n >= 16 && n <= 19
	case p2 == 50, p2 >= 56 && p2 <= 69: // Maestro
		return n >= 12 && n <= 19
	}
	return false
}

func atoi(d string) int {
	n := 0
	for i := 0; i < len(d); i++ {
		n = n*10 + int(d[i]-'0')
	}
	return n
}

// luhn is the payment-card checksum; it also rules out most random runs.
func luhn(d string) bool {
	if len(d) < 12 || len(d) > 19 {
		return false
	}
	sum, double := 0, false
	for i := len(d) - 1; i >= 0; i-- {
		n := int(d[i] - '0')
		if double {
			n *= 2
			if n > 9 {
				n -= 9
			}
		}
		sum += n
		double = !double
	}
	return sum%10 == 0
}
