package sip

import (
	"strings"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/hotlined/hotlined/internal/phone"
)

// callerNumber is the caller's number in national form (DESIGN "Numbers"):
// the first usable P-Asserted-Identity (sip: or tel:, RFC 3325 9.1; one
// header with a comma list or several headers), else, unless the identity
// is withheld (Privacy: id, RFC 3323/3325), the From user part. "" means no
// caller number: anonymous, withheld, or no number in either header. We are
// the trusted network's far end, so a PAI is used even with Privacy: id.
func callerNumber(req *sipmsg.Request) string {
	for _, h := range req.GetHeaders("P-Asserted-Identity") {
		for _, addr := range splitAddrList(h.Value()) {
			if n := phone.FromURI(addr); n != "" {
				return n
			}
		}
	}
	if privacyID(req) {
		return ""
	}
	if from := req.From(); from != nil {
		return fromUser(from.Address)
	}
	return ""
}

// calledNumber is the Request-URI's number in national form: the user part
// of a sip: URI, or a tel: URI, either with phone-context
// (tel:10000;phone-context=ims.mnc011.mcc460.3gppnetwork.org,
// sip:10000;phone-context=...@host;user=phone, RFC 3966 5.1.5, RFC 3261
// 19.1.6). A user part that is not a number is returned as written, so a
// hotline configured under a name still matches.
func calledNumber(u sipmsg.Uri) string {
	if n := fromUser(u); n != "" {
		return n
	}
	return u.User
}

// fromUser is the number of a sip:, sips: or tel: URI, "" if none.
func fromUser(u sipmsg.Uri) string {
	switch u.Scheme {
	case "tel":
		raw, _, _ := strings.Cut(u.Raw(), "?")
		return phone.FromUserPart(raw)
	case "sip", "sips":
		return phone.FromUserPart(u.User)
	}
	return ""
}

// privacyID reports whether a Privacy header asks to withhold the identity
// ("id", RFC 3325 9.3; "user" and "header" withhold it too, RFC 3323 4.2).
func privacyID(req *sipmsg.Request) bool {
	for _, h := range req.GetHeaders("Privacy") {
		for v := range strings.SplitSeq(h.Value(), ";") {
			switch strings.ToLower(strings.TrimSpace(v)) {
			case "id", "user", "header":
				return true
			}
		}
	}
	return false
}

// splitAddrList splits a header value holding a comma-separated list of
// name-addrs, keeping commas inside quotes and angle brackets.
func splitAddrList(v string) []string {
	var out []string
	quoted, angle, start := false, false, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case c == '<' && !quoted:
			angle = true
		case c == '>' && !quoted:
			angle = false
		case c == ',' && !quoted && !angle:
			if part := strings.TrimSpace(v[start:i]); part != "" {
				out = append(out, part)
			}
			start = i + 1
		}
	}
	if rest := strings.TrimSpace(v[min(start, len(v)):]); rest != "" {
		out = append(out, rest)
	}
	return out
}
