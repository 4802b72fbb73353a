package sip

import (
	"strconv"
	"strings"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/hotlined/hotlined/workorder"
)

// invite builds a raw INVITE to requestURI with extra header lines, parsed
// by sipgo's own parser as a message off the wire would be.
func invite(t testing.TB, requestURI string, headers ...string) *sipmsg.Request {
	t.Helper()
	return request(t, "INVITE "+requestURI+" SIP/2.0", headers, "", "")
}

// request parses a request from its start line, header lines, content type
// and body.
func request(t testing.TB, startLine string, headers []string, contentType, body string) *sipmsg.Request {
	t.Helper()
	var b strings.Builder
	b.WriteString(startLine + "\r\n")
	b.WriteString("Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-test\r\n")
	hasFrom := false
	for _, h := range headers {
		hasFrom = hasFrom || strings.HasPrefix(h, "From:")
	}
	if !hasFrom {
		b.WriteString("From: <sip:18900000000@192.0.2.1>;tag=f1\r\n")
	}
	b.WriteString("To: <sip:10000@192.0.2.2>\r\nCall-ID: test-call\r\nCSeq: 1 " + strings.Fields(startLine)[0] + "\r\n")
	b.WriteString("Contact: <sip:sbc@192.0.2.1:5060>\r\nMax-Forwards: 70\r\n")
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	if contentType != "" {
		b.WriteString("Content-Type: " + contentType + "\r\n")
	}
	b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
	msg, err := sipmsg.NewParser().ParseSIP([]byte(b.String()))
	if err != nil {
		t.Fatalf("parse request: %v\n%s", err, b.String())
	}
	return msg.(*sipmsg.Request)
}

// Issue 12, inputs 1 and 2: the caller's number in every form a carrier
// sends it, and withheld identities.
func TestCallerNumber(t *testing.T) {
	for _, tc := range []struct {
		name    string
		headers []string
		want    string
	}{
		{"From national", []string{"From: <sip:18902001111@192.0.2.1>;tag=a"}, "18902001111"},
		{"From +86", []string{"From: <sip:+8618902001111@192.0.2.1;user=phone>;tag=a"}, "18902001111"},
		{"From 0086", []string{"From: <sip:008618902001113@192.0.2.1>;tag=a"}, "18902001113"},
		{"From 86", []string{"From: <sip:8618902001112@192.0.2.1>;tag=a"}, "18902001112"},
		{"From tel", []string{"From: <tel:+86-189-0200-1111>;tag=a"}, "18902001111"},
		{"PAI sip +86", []string{"P-Asserted-Identity: <sip:+8618902001111@sbc;user=phone>"}, "18902001111"},
		{"PAI tel alone", []string{"P-Asserted-Identity: <tel:18902002221>"}, "18902002221"},
		{"PAI tel before sip in one header", []string{`P-Asserted-Identity: <tel:18902002221>, "Li" <sip:+8618902002221@sbc>`}, "18902002221"},
		{"PAI tel and sip in two headers", []string{"P-Asserted-Identity: <tel:+8618902002222>", "P-Asserted-Identity: <sip:18902002222@sbc>"}, "18902002222"},
		{"PAI sip without number, then tel", []string{"P-Asserted-Identity: <sip:operator@sbc>, <tel:18902002223>"}, "18902002223"},
		{"PAI beats From", []string{"From: <sip:18900000001@h>;tag=a", "P-Asserted-Identity: <sip:18900000002@h>"}, "18900000002"},
		{"PAI fixed line +86", []string{"P-Asserted-Identity: <tel:+86-20-1234-5678>"}, "02012345678"},
		{"anonymous From", []string{`From: "Anonymous" <sip:anonymous@anonymous.invalid>;tag=a`}, ""},
		{"Privacy id, no PAI", []string{"From: <sip:18902001111@h>;tag=a", "Privacy: id"}, ""},
		{"Privacy header;id, no PAI", []string{"From: <sip:18902001111@h>;tag=a", "Privacy: header;id"}, ""},
		{"Privacy id with PAI", []string{"From: <sip:anonymous@anonymous.invalid>;tag=a", "Privacy: id", "P-Asserted-Identity: <tel:+8618902001111>"}, "18902001111"},
		{"Privacy none", []string{"From: <sip:18902001111@h>;tag=a", "Privacy: none"}, "18902001111"},
		{"unusable PAI falls back to From", []string{"From: <sip:18902001111@h>;tag=a", "P-Asserted-Identity: <sip:anonymous@anonymous.invalid>"}, "18902001111"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := callerNumber(invite(t, "sip:10000@192.0.2.2", tc.headers...)); got != tc.want {
				t.Errorf("callerNumber = %q, want %q", got, tc.want)
			}
		})
	}
}

// Issue 12, input 5: the Request-URI forms of the called number.
func TestCalledNumber(t *testing.T) {
	for _, tc := range []struct{ uri, want string }{
		{"sip:10000@192.0.2.2", "10000"},
		{"sip:+8610000@192.0.2.2;user=phone", "10000"},
		{"tel:10000;phone-context=ims.mnc011.mcc460.3gppnetwork.org", "10000"},
		{"tel:10000", "10000"},
		{"tel:+86-400-881-0000", "4008810000"},
		{"sip:10000;phone-context=ims.mnc011.mcc460.3gppnetwork.org@ims.example;user=phone", "10000"},
		{"sip:12300;phone-context=+86@192.0.2.2;user=phone", "12300"},
		{"sip:4008810000@192.0.2.2:5060;transport=tcp", "4008810000"},
		{"sip:hotline@192.0.2.2", "hotline"},
	} {
		t.Run(tc.uri, func(t *testing.T) {
			if got := calledNumber(invite(t, tc.uri).Recipient); got != tc.want {
				t.Errorf("calledNumber(%s) = %q, want %q", tc.uri, got, tc.want)
			}
		})
	}
}

func TestSplitAddrList(t *testing.T) {
	got := splitAddrList(`"Li, Ming" <sip:1@h;a=b,c>, <tel:2>,`)
	want := []string{`"Li, Ming" <sip:1@h;a=b,c>`, "<tel:2>"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("splitAddrList = %q, want %q", got, want)
	}
}

// Issue 12, inputs 1, 2 and 5 against a running server: a carrier's INVITE
// with a tel: Request-URI, +86 numbers everywhere and a tel: PAI makes an
// order with national numbers.
func TestServerCarrierNumbers(t *testing.T) {
	ts := startServer(t, nil)
	p := newPeer(t, ts.udp, "127.0.0.1")
	for i, uri := range []string{
		"tel:10000;phone-context=ims.mnc011.mcc460.3gppnetwork.org",
		"sip:10000;phone-context=ims.mnc011.mcc460.3gppnetwork.org@" + ts.udp.String() + ";user=phone",
	} {
		d := p.newDialog(uri, "From: <sip:+8618902001111@127.0.0.1;user=phone>;tag=c"+strconv.Itoa(i),
			"P-Asserted-Identity: <tel:18902002221>, <sip:+8618902002221@127.0.0.1;user=phone>",
			"X-IVR-Path: 41", "X-Service-Number: +86 189 0200 1114")
		if res := p.invite(d, "application/sdp", sdpOffer(6000)); res.StatusCode != 200 {
			t.Fatalf("INVITE %s: %d", uri, res.StatusCode)
		}
		var got []workorder.Intake
		for deadline := time.Now().Add(10 * time.Second); len(got) <= i && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			ts.orders.mu.Lock()
			got = append(got[:0], ts.orders.intakes...)
			ts.orders.mu.Unlock()
		}
		if len(got) <= i {
			t.Fatalf("no order for %s", uri)
		}
		in := got[i]
		if in.Hotline != "10000" || in.Caller != "18902002221" || in.ServiceNumber != "18902001114" || in.IVRPath != "41" {
			t.Errorf("%s: order intake %+v", uri, in)
		}
		p.hangup(d)
	}
	for _, n := range []string{"18902001111", "18902002221", "18902001114"} {
		if strings.Contains(ts.logs.String(), n) {
			t.Errorf("%s in the log unmasked", n)
		}
	}
}

// FuzzSplitAddrList: every part is trimmed and non-empty, and the parts
// come from the input in order.
func FuzzSplitAddrList(f *testing.F) {
	f.Add(`<tel:18902002221>, "Li, Ming" <sip:+8618902002221@sbc;user=phone>`)
	f.Add(`"unterminated, <sip:1@h>`)
	f.Add(`,,<sip:a@b>,`)
	f.Fuzz(func(t *testing.T, v string) {
		rest := v
		for _, p := range splitAddrList(v) {
			if p == "" || p != strings.TrimSpace(p) {
				t.Fatalf("part %q of %q", p, v)
			}
			i := strings.Index(rest, p)
			if i < 0 {
				t.Fatalf("part %q not in order in %q", p, v)
			}
			rest = rest[i+len(p):]
		}
	})
}
