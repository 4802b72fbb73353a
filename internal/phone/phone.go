// Package phone normalises telephone numbers to the national form the
// hotline keys on (DESIGN "Numbers") and masks them for logs.
//
// Numbers arrive as +86…, 0086…, 86…, national digits with visual
// separators, tel: URIs (RFC 3966) and sip: URIs whose user part is a
// number (RFC 3261 19.1.6, with or without user=phone and phone-context).
// Everything is reduced to digits in national form: mobiles as 11 digits
// (18912345678), fixed lines with the trunk prefix (02012345678), service
// numbers as dialled (10000, 4008810000). A foreign number keeps its
// country code as +CC… so it is never mistaken for a national one.
package phone

import (
	"net/url"
	"strings"
)

// maxDigits caps a number: E.164 allows 15 digits; a little slack for
// national prefixes.
const maxDigits = 20

// National returns the national form of a number written as digits with an
// optional +86, 0086 or 86 country prefix and RFC 3966 visual separators
// (space - . ( )): "+86 20 1234 5678" gives "02012345678",
// "008618912345678" gives "18912345678". It returns "" when s is not a
// number (empty, "anonymous", letters, over 20 digits).
func National(s string) string {
	s = strings.TrimSpace(s)
	var d strings.Builder
	plus := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			if d.Len() == maxDigits {
				return ""
			}
			d.WriteByte(c)
		case c == '+' && d.Len() == 0 && !plus:
			plus = true
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')':
		default:
			return ""
		}
	}
	digits := d.String()
	switch {
	case digits == "", digits == "00":
		return ""
	case (plus && digits[0] == '0') || strings.HasPrefix(digits, "000"):
		return "" // no country code starts with 0
	case plus:
		if rest, ok := strings.CutPrefix(digits, "86"); ok {
			return strip86(afterCountryCode(rest))
		}
		return "+" + digits
	case strings.HasPrefix(digits, "00"):
		if rest, ok := strings.CutPrefix(digits[2:], "86"); ok {
			return strip86(afterCountryCode(rest))
		}
		return "+" + digits[2:]
	}
	return strip86(digits)
}

// strip86 takes off a country code written without + or 00. No national
// number starts with 86 and is 12 digits or longer (a mobile starts with 1,
// a fixed line with 0), so it goes only when what is left is one of them.
func strip86(digits string) string {
	if strings.HasPrefix(digits, "86") && len(digits) >= 12 {
		if r := afterCountryCode(digits[2:]); isMobile(r) || isFixedLine(r) {
			return r
		}
	}
	return digits
}

// afterCountryCode puts the trunk prefix 0 back on a fixed line written
// after +86 (area code 10, 2x or 3 digits, then 7-8 digits); mobiles,
// 400/800 numbers and short service numbers stay as they are.
func afterCountryCode(r string) string {
	switch {
	case strings.HasPrefix(r, "00"):
		return "" // no national number starts with 00
	case r == "", r[0] == '0', isMobile(r):
		return r
	case len(r) == 10 && (strings.HasPrefix(r, "400") || strings.HasPrefix(r, "800")):
		return r
	case (len(r) == 10 || len(r) == 11) && (r[0] != '1' || strings.HasPrefix(r, "10")):
		return "0" + r
	}
	return r
}

func isMobile(n string) bool {
	return len(n) == 11 && n[0] == '1' && n[1] >= '3' && allDigits(n)
}

func isFixedLine(n string) bool {
	return len(n) >= 10 && len(n) <= 12 && n[0] == '0' && n[1] != '0' && allDigits(n)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// FromUserPart normalises the number in the user part of a sip: URI or the
// body of a tel: URI: "10000;phone-context=ims.mnc011.mcc460.3gppnetwork.org",
// "+86-189-1234-5678", "12345678;phone-context=+86-20" (a local number whose
// context is a global prefix: 02012345678). Percent-escapes are decoded
// first. A domain phone-context leaves the number as written. It returns ""
// when the user part is not a number.
func FromUserPart(user string) string {
	if u, err := url.PathUnescape(user); err == nil {
		user = u
	}
	number, params, _ := strings.Cut(user, ";")
	number = strings.TrimSpace(number)
	if strings.HasPrefix(number, "+") {
		return National(number)
	}
	for p := range strings.SplitSeq(params, ";") {
		name, value, _ := strings.Cut(p, "=")
		if !strings.EqualFold(strings.TrimSpace(name), "phone-context") {
			continue
		}
		value = strings.Trim(strings.TrimSpace(value), `"`)
		if strings.HasPrefix(value, "+") && National(number) != "" {
			return National(value + number)
		}
	}
	return National(number)
}

// FromURI takes the number out of a URI or a name-addr as it appears in
// P-Asserted-Identity, From or X-Service-Number: "<tel:+8618912345678>",
// "\"Zhang\" <sip:+8618912345678@sbc;user=phone>;tag=1", "sip:10000@host",
// "tel:10000;phone-context=+86", or a bare number. It returns "" when there
// is no number (anonymous, a name, a URI without user part).
func FromURI(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '<'); i >= 0 {
		j := strings.IndexByte(s[i:], '>')
		if j < 0 {
			return ""
		}
		s = s[i+1 : i+j]
	}
	scheme, rest, ok := strings.Cut(s, ":")
	if !ok {
		return FromUserPart(s)
	}
	switch strings.ToLower(scheme) {
	case "tel":
		rest, _, _ = strings.Cut(rest, "?")
		return FromUserPart(rest)
	case "sip", "sips":
		user, _, ok := strings.Cut(rest, "@")
		if !ok {
			return ""
		}
		user, _, _ = strings.Cut(user, ":") // user:password
		return FromUserPart(user)
	}
	return ""
}

// Mask hides a phone number for logs: from 11 characters on, the middle
// (18912345678 becomes 189****5678); 8 to 10 characters keep only the last
// 4 (4008810000 becomes ****0000), so at least 4 digits are hidden; under 8
// characters all is hidden ("****"); "" stays "".
func Mask(number string) string {
	switch {
	case number == "":
		return ""
	case len(number) < 8:
		return "****"
	case len(number) < 11:
		return "****" + number[len(number)-4:]
	}
	return number[:3] + "****" + number[len(number)-4:]
}

// minRun is the shortest digit run MaskText treats as a phone number: the
// shortest local fixed-line number has 7 digits.
const minRun = 7

// MaskText masks every run of 7 or more digits in free text (a raw SIP
// message, a library's log line) as Mask does, so a number written in any
// form (+8618912345678, 18912345678, 020-12345678 as two runs) leaves no
// full number behind. Other text is kept.
func MaskText(s string) string {
	var b strings.Builder
	start := -1
	flush := func(end int) {
		run := s[start:end]
		if len(run) >= minRun {
			b.WriteString(Mask(run))
		} else {
			b.WriteString(run)
		}
		start = -1
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			flush(i)
		}
		b.WriteByte(s[i])
	}
	if start >= 0 {
		flush(len(s))
	}
	return b.String()
}
