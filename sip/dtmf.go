package sip

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// maxDTMFBody caps an INFO body; a real one is a few dozen bytes.
const maxDTMFBody = 512

// ErrBadDTMF marks an INFO body that carries no valid DTMF key.
var ErrBadDTMF = errors.New("bad dtmf body")

// ParseDTMFInfo reads the key from a SIP INFO body of the given content
// type: application/dtmf-relay ("Signal=5\r\nDuration=160") or
// application/dtmf (the key alone). Keys are 0-9, *, #; A-D are refused.
func ParseDTMFInfo(contentType string, body []byte) (byte, error) {
	if len(body) > maxDTMFBody {
		return 0, fmt.Errorf("%w: body of %d bytes is over %d", ErrBadDTMF, len(body), maxDTMFBody)
	}
	ct, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(contentType)), ";")
	switch strings.TrimSpace(ct) {
	case "application/dtmf-relay":
		var (
			signal []byte
			seen   bool
		)
		for _, line := range bytes.Split(body, []byte("\n")) {
			name, value, ok := bytes.Cut(bytes.TrimSpace(line), []byte("="))
			if !ok {
				continue
			}
			if strings.EqualFold(string(bytes.TrimSpace(name)), "signal") {
				if seen {
					return 0, fmt.Errorf("%w: more than one Signal", ErrBadDTMF)
				}
				signal, seen = bytes.TrimSpace(value), true
			}
		}
		if !seen {
			return 0, fmt.Errorf("%w: no Signal= line", ErrBadDTMF)
		}
		return dtmfKey(signal)
	case "application/dtmf":
		return dtmfKey(bytes.TrimSpace(body))
	}
	return 0, fmt.Errorf("%w: content type %q is not application/dtmf-relay or application/dtmf", ErrBadDTMF, ct)
}

func dtmfKey(v []byte) (byte, error) {
	if len(v) == 1 && strings.IndexByte("0123456789*#", v[0]) >= 0 {
		return v[0], nil
	}
	// Some phones send event numbers: 10 is *, 11 is #.
	switch string(v) {
	case "10":
		return '*', nil
	case "11":
		return '#', nil
	}
	return 0, fmt.Errorf("%w: %q is not one of 0-9 * #", ErrBadDTMF, v)
}
