package sip

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"strings"

	sipmsg "github.com/emiago/sipgo/sip"
)

// maxBodyParts caps the parts read from a multipart body.
const maxBodyParts = 8

// sdpOf is the SDP of a request's body: the body itself when it is
// application/sdp (or untyped and starts with v=0), the first
// application/sdp part of a multipart body (RFC 5621; SIP-I trunks send SDP
// with application/isup, ITU-T Q.1912.5), nil when the body holds no SDP.
// A multipart body that cannot be read wraps ErrBadSDP.
func sdpOf(req *sipmsg.Request) ([]byte, error) {
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = h.Value()
	}
	return findSDP(ct, req.Body())
}

// findSDP is sdpOf over a Content-Type value and a body.
func findSDP(contentType string, body []byte) ([]byte, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil
	}
	if strings.TrimSpace(contentType) == "" {
		if bytes.HasPrefix(body, []byte("v=")) {
			return body, nil
		}
		return nil, nil
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, fmt.Errorf("%w: content type %q: %v", ErrBadSDP, contentType, err)
	}
	switch {
	case mt == "application/sdp":
		return body, nil
	case strings.HasPrefix(mt, "multipart/"):
		return sdpPart(body, params["boundary"])
	}
	return nil, nil // another body (application/isup alone): no offer
}

// sdpPart reads the parts of a multipart body for the first
// application/sdp one.
func sdpPart(body []byte, boundary string) ([]byte, error) {
	if boundary == "" {
		return nil, fmt.Errorf("%w: multipart body without boundary", ErrBadSDP)
	}
	r := multipart.NewReader(bytes.NewReader(body), boundary)
	for range maxBodyParts {
		p, err := r.NextRawPart()
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: multipart body: %v", ErrBadSDP, err)
		}
		mt, _, err := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if err != nil || mt != "application/sdp" {
			continue
		}
		sdp, err := io.ReadAll(io.LimitReader(p, maxSDPBody+1))
		if err != nil {
			return nil, fmt.Errorf("%w: multipart sdp part: %v", ErrBadSDP, err)
		}
		return sdp, nil
	}
	return nil, nil
}

// normaliseSDP makes every line end in CRLF, the last one too, and drops
// empty lines: peers send bare LF, or leave the final newline off (RFC
// 4566 5 wants CRLF but asks parsers to accept LF).
func normaliseSDP(body []byte) []byte {
	out := make([]byte, 0, len(body)+32)
	for line := range bytes.SplitSeq(body, []byte("\n")) {
		line = bytes.TrimRight(line, "\r")
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		out = append(out, line...)
		out = append(out, '\r', '\n')
	}
	return out
}

// supportedOptions are the SIP option tags we implement (none: no 100rel,
// no session timers). A request that Requires another gets 420.
var supportedOptions = map[string]bool{}

// unsupportedRequired lists the option tags of a request's Require headers
// that we do not support, for the Unsupported header of a 420 (RFC 3261
// 8.2.2.3). ACK and CANCEL are never refused for it.
func unsupportedRequired(req *sipmsg.Request) []string {
	if req.IsAck() || req.IsCancel() {
		return nil
	}
	var out []string
	for _, h := range req.GetHeaders("Require") {
		for tag := range strings.SplitSeq(h.Value(), ",") {
			tag = strings.ToLower(strings.TrimSpace(tag))
			if tag != "" && !supportedOptions[tag] {
				out = append(out, tag)
			}
		}
	}
	return out
}
