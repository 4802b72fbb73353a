package sip

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hotlined/hotlined/configs"
)

const sipISUP = "--b1\r\nContent-Type: application/sdp\r\n\r\n" +
	"v=0\r\no=mgw 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8\r\n" +
	"\r\n--b1\r\nContent-Type: application/isup;version=itu-t92+\r\nContent-Disposition: signal;handling=optional\r\n\r\n" +
	"\x01\x00\x49\x00\x00\x03\x02\x00\x07\x04\x10\x00\x33\x63\x21\x43\x00\x00\x03" +
	"\r\n--b1--\r\n"

func TestFindSDP(t *testing.T) {
	for _, tc := range []struct {
		name, contentType, body string
		want                    string // a prefix of the SDP found; "" none
		err                     error
	}{
		{"plain", "application/sdp", "v=0\r\no=x", "v=0\r\no=x", nil},
		{"case and params", "Application/SDP; charset=utf-8", "v=0\r\n", "v=0", nil},
		{"untyped sdp", "", "v=0\r\n", "v=0", nil},
		{"untyped other", "", "hello", "", nil},
		{"empty", "application/sdp", "", "", nil},
		{"SIP-I multipart/mixed (issue 12 input 3)", "multipart/mixed;boundary=b1", sipISUP, "v=0\r\no=mgw", nil},
		{"quoted boundary", `multipart/mixed; boundary="b1"`, sipISUP, "v=0\r\no=mgw", nil},
		{"isup only", "application/isup;version=itu-t92+", "\x01\x00", "", nil},
		{"multipart without sdp", "multipart/mixed;boundary=b1",
			"--b1\r\nContent-Type: application/isup\r\n\r\n\x01\r\n--b1--\r\n", "", nil},
		{"multipart without boundary", "multipart/mixed", sipISUP, "", ErrBadSDP},
		{"bad content type", "multipart/mixed;;;=", sipISUP, "", ErrBadSDP},
		{"truncated multipart", "multipart/mixed;boundary=b1", sipISUP[:40], "", ErrBadSDP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := findSDP(tc.contentType, []byte(tc.body))
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if tc.want == "" && len(got) > 0 || !strings.HasPrefix(string(got), tc.want) {
				t.Errorf("sdp = %q, want it to start with %q", got, tc.want)
			}
		})
	}
}

// Issue 12, input 8: an SDP without its final newline, or with bare LF.
func TestNegotiateToleratesLineEndings(t *testing.T) {
	crlf := "v=0\r\no=p 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=sendrecv\r\n"
	for name, offer := range map[string]string{
		"CRLF":                crlf,
		"no final newline":    strings.TrimSuffix(crlf, "\r\n"),
		"bare LF":             strings.ReplaceAll(crlf, "\r\n", "\n"),
		"bare LF, no final":   strings.TrimSuffix(strings.ReplaceAll(crlf, "\r\n", "\n"), "\n"),
		"trailing blank line": crlf + "\r\n",
	} {
		m, err := negotiate([]byte(offer))
		if err != nil || m.codec.name != "PCMU" || m.remotePort != 6000 {
			t.Errorf("%s: negotiate = %+v, %v", name, m, err)
		}
	}
}

// Issue 12, input 6: RFC 3264 6.1 directions in the answer.
func TestAnswerDirection(t *testing.T) {
	for _, tc := range []struct {
		attrs []string
		want  direction
		sends bool // we send media after answering
	}{
		{nil, sendrecv, true},
		{[]string{"a=sendrecv"}, sendrecv, true},
		{[]string{"a=sendonly"}, recvonly, false},
		{[]string{"a=recvonly"}, sendonly, true},
		{[]string{"a=inactive"}, inactive, false},
	} {
		m, err := negotiate([]byte(sdpOffer(6000, tc.attrs...)))
		if err != nil {
			t.Fatal(err)
		}
		if got := m.direction.answer(); got != tc.want || got.sends() != tc.sends {
			t.Errorf("offer %v: answer %q (sends %v), want %q (%v)", tc.attrs, got, got.sends(), tc.want, tc.sends)
		}
		body, err := describe("127.0.0.1", 4000, &m)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(body), "a="+tc.want.attr()+"\r\n") {
			t.Errorf("offer %v: answer SDP lacks a=%s:\n%s", tc.attrs, tc.want.attr(), body)
		}
	}
	// A session-level attribute counts unless the media says otherwise;
	// c=0.0.0.0 is the old way to hold.
	sess := "v=0\r\no=p 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\na=sendonly\r\nm=audio 6000 RTP/AVP 0\r\n"
	if m, _ := negotiate([]byte(sess)); m.direction != sendonly {
		t.Errorf("session-level sendonly: %q", m.direction)
	}
	if m, _ := negotiate([]byte(sess + "a=sendrecv\r\n")); m.direction != sendrecv {
		t.Errorf("media-level sendrecv over session sendonly: %q", m.direction)
	}
	old := strings.Replace(sdpOffer(6000), "c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0", 1)
	if m, _ := negotiate([]byte(old)); m.direction != sendonly || m.remoteAddr != "" {
		t.Errorf("c=0.0.0.0 hold: %+v", m)
	}
}

func TestSDPStateVersion(t *testing.T) {
	st := newSDPState()
	m, _ := negotiate([]byte(sdpOffer(6000)))
	a, _ := st.describe("127.0.0.1", 4000, &m)
	b, _ := st.describe("127.0.0.1", 4000, &m)
	if string(a) != string(b) {
		t.Errorf("unchanged description changed:\n%s\n%s", a, b)
	}
	m.direction = sendonly
	c, _ := st.describe("127.0.0.1", 4000, &m)
	if st.version != st.id+1 || !strings.Contains(string(c), " "+strconv.FormatUint(st.id+1, 10)+" IN IP4") {
		t.Errorf("changed description kept its version:\n%s", c)
	}
}

func TestUnsupportedRequired(t *testing.T) {
	for _, tc := range []struct {
		start   string
		headers []string
		want    string
	}{
		{"INVITE sip:10000@h SIP/2.0", []string{"Require: 100rel"}, "100rel"},
		{"INVITE sip:10000@h SIP/2.0", []string{"Require: 100rel, timer", "Require: precondition"}, "100rel,timer,precondition"},
		{"INVITE sip:10000@h SIP/2.0", []string{"Supported: 100rel, timer"}, ""},
		{"OPTIONS sip:10000@h SIP/2.0", []string{"Require: foo"}, "foo"},
		{"CANCEL sip:10000@h SIP/2.0", []string{"Require: 100rel"}, ""},
	} {
		got := strings.Join(unsupportedRequired(request(t, tc.start, tc.headers, "", "")), ",")
		if got != tc.want {
			t.Errorf("%s %v: %q, want %q", tc.start, tc.headers, got, tc.want)
		}
	}
}

// Issue 12, inputs 3, 4, 6, 7 and 8 against a running server.
func TestServerBodies(t *testing.T) {
	ts := startServer(t, func(cfg *configs.Config) { cfg.SIP.AnswerDelay = configs.Duration(200 * time.Millisecond) })
	p := newPeer(t, ts.udp, "127.0.0.1")

	t.Run("multipart/mixed SDP and ISUP", func(t *testing.T) {
		d := p.newDialog("sip:10000@" + ts.udp.String())
		res := p.invite(d, "multipart/mixed;boundary=b1", sipISUP)
		if res.StatusCode != 200 || !strings.Contains(string(res.Body()), "RTP/AVP 8") {
			t.Fatalf("INVITE with SIP-I body: %d\n%s", res.StatusCode, res.Body())
		}
		p.hangup(d)
	})
	t.Run("SDP without final newline", func(t *testing.T) {
		d := p.newDialog("sip:10000@" + ts.udp.String())
		if res := p.invite(d, "application/sdp", strings.TrimSuffix(sdpOffer(6002), "\r\n")); res.StatusCode != 200 {
			t.Fatalf("INVITE: %d", res.StatusCode)
		}
		p.hangup(d)
	})
	t.Run("Require 100rel", func(t *testing.T) {
		d := p.newDialog("sip:10000@"+ts.udp.String(), "Require: 100rel", "Supported: 100rel")
		p.send(p.message(d, "INVITE", 1, "application/sdp", sdpOffer(6004)))
		res := p.final(d.callID, 1, "INVITE", 5*time.Second)
		if res == nil || res.StatusCode != 420 {
			t.Fatalf("INVITE with Require: 100rel: %v, want 420", res)
		}
		if h := res.GetHeader("Unsupported"); h == nil || h.Value() != "100rel" {
			t.Errorf("420 without Unsupported: 100rel: %v", res)
		}
		p.send(p.message(d, "ACK", 1, "", ""))
		if got := p.provisional[d.callID]; len(got) > 0 {
			t.Errorf("provisional responses %v sent to a peer that required 100rel", got)
		}
	})
	t.Run("hold, resume, offerless UPDATE and re-INVITE", func(t *testing.T) {
		d := p.newDialog("sip:10000@" + ts.udp.String())
		if res := p.invite(d, "application/sdp", sdpOffer(6006)); res.StatusCode != 200 {
			t.Fatalf("INVITE: %d", res.StatusCode)
		}
		for _, tc := range []struct{ attr, want string }{
			{"a=sendonly", "a=recvonly"}, {"a=inactive", "a=inactive"}, {"a=sendrecv", "a=sendrecv"},
		} {
			res := p.inDialog(d, "INVITE", "application/sdp", sdpOffer(6006, tc.attr))
			if res.StatusCode != 200 || !strings.Contains(string(res.Body()), tc.want+"\r\n") {
				t.Errorf("re-INVITE %s: %d, want 200 with %s:\n%s", tc.attr, res.StatusCode, tc.want, res.Body())
			}
			p.send(p.message(d, "ACK", d.cseq, "", ""))
		}
		if res := p.inDialog(d, "UPDATE", "", ""); res.StatusCode != 200 || len(res.Body()) != 0 {
			t.Errorf("offerless UPDATE: %d with body %q, want 200 without SDP", res.StatusCode, res.Body())
		}
		res := p.inDialog(d, "INVITE", "", "")
		if res.StatusCode != 200 || !strings.Contains(string(res.Body()), "m=audio") {
			t.Errorf("offerless re-INVITE: %d, want 200 with our offer:\n%s", res.StatusCode, res.Body())
		}
		p.send(p.message(d, "ACK", d.cseq, "application/sdp", sdpOffer(6006)))
		p.hangup(d)
	})
	if got := ts.counter(t, "hotlined_sip_calls_total", "outcome=rejected_bad_extension"); got != 1 {
		t.Errorf("rejected_bad_extension = %v, want 1", got)
	}
}

// FuzzFindSDP: any Content-Type and body either gives an error wrapping
// ErrBadSDP or an SDP that is part of the body.
func FuzzFindSDP(f *testing.F) {
	f.Add("multipart/mixed;boundary=b1", []byte(sipISUP))
	f.Add("application/sdp", []byte(sdpOffer(6000)))
	f.Add("", []byte("v=0"))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		got, err := findSDP(contentType, body)
		if err != nil {
			if !errors.Is(err, ErrBadSDP) {
				t.Fatalf("findSDP(%q) error %v does not wrap ErrBadSDP", contentType, err)
			}
			return
		}
		if len(got) > len(body) {
			t.Fatalf("findSDP(%q) returned %d bytes from a %d-byte body", contentType, len(got), len(body))
		}
	})
}
