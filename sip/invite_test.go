package sip

import (
	"strings"
	"testing"
	"time"

	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/ivr"
)

func loadConfig(t *testing.T) *configs.Config {
	t.Helper()
	cfg, err := configs.Load("../configs/hotlined.yaml", func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// The pure admission step, for the numbered inputs of issue 12 that the
// INVITE alone decides.
func TestAdmitInvite(t *testing.T) {
	cfg := loadConfig(t)
	offer := sdpOffer(6000)
	g729 := "v=0\r\no=p 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n"
	type want struct {
		code                      int
		hotline, caller, province string
		serviceNumber, path       string
		offer                     bool
		codec                     string
	}
	for _, tc := range []struct {
		name        string
		uri         string
		headers     []string
		contentType string
		body        string
		want        want
	}{
		{"plain", "sip:10000@h", nil, "application/sdp", offer,
			want{hotline: "10000", caller: "18900000000", province: "GD", offer: true, codec: "PCMA"}},
		{"late offer", "sip:10000@h", nil, "", "", want{hotline: "10000", caller: "18900000000", province: "GD"}},
		{"unknown number", "sip:10086@h", nil, "", "", want{code: 404}},
		{"input 5: tel: with phone-context", "tel:10000;phone-context=ims.mnc011.mcc460.3gppnetwork.org", nil, "", "",
			want{hotline: "10000", caller: "18900000000", province: "GD"}},
		{"input 5: sip: user with phone-context", "sip:10000;phone-context=ims.mnc011.mcc460.3gppnetwork.org@ims.example;user=phone", nil, "", "",
			want{hotline: "10000", caller: "18900000000", province: "GD"}},
		// On the group and appeal tiers the province is the work order's to
		// derive (from the service number, else the caller): none here.
		{"input 1: +86 caller", "sip:4008810000@h",
			[]string{"From: <sip:+8618902001111@h>;tag=a"}, "", "", want{hotline: "4008810000", caller: "18902001111"}},
		{"input 1: 0086 caller", "sip:12300@h",
			[]string{"From: <sip:008618902001113@h>;tag=a"}, "", "", want{hotline: "12300", caller: "18902001113"}},
		{"input 1: 86 caller", "sip:12300@h",
			[]string{"From: <sip:8618902001112@h>;tag=a"}, "", "", want{hotline: "12300", caller: "18902001112"}},
		{"input 1: X-Service-Number +86 on a 4-1 path", "sip:10000@h",
			[]string{"From: <sip:+8618902001111@h>;tag=a", "X-IVR-Path: 41", "X-Service-Number: +86 189 0200 1114"}, "", "",
			want{hotline: "10000", caller: "18902001111", province: "GD", serviceNumber: "18902001114", path: "41"}},
		{"input 1: 4-1 from a +86 caller, the caller's number", "sip:10000@h",
			[]string{"From: <sip:+8618902001111@h>;tag=a", "X-IVR-Path: 41"}, "", "",
			want{hotline: "10000", caller: "18902001111", province: "GD", serviceNumber: "18902001111", path: "41"}},
		{"a tel: service number in national form", "sip:4008810000@h",
			[]string{"From: <sip:18902001111@h>;tag=a", "X-IVR-Path: 41", "X-Service-Number: tel:+86-10-1234-5678"}, "", "",
			want{hotline: "4008810000", caller: "18902001111", serviceNumber: "01012345678", path: "41"}},
		{"X-Province first", "sip:4008810000@h", []string{"X-Province: SH"}, "", "",
			want{hotline: "4008810000", caller: "18900000000", province: "SH"}},
		{"province tier keeps its province", "sip:10000@h", []string{"X-Province: SH"}, "", "",
			want{hotline: "10000", caller: "18900000000", province: "GD"}},
		{"input 2: PAI tel:", "sip:4008810000@h",
			[]string{"From: <sip:anonymous@anonymous.invalid>;tag=a", "P-Asserted-Identity: <tel:18902002221>"}, "", "",
			want{hotline: "4008810000", caller: "18902002221"}},
		{"withheld", "sip:10000@h", []string{"Privacy: id"}, "", "", want{hotline: "10000", province: "GD"}},
		{"bad X-Service-Number", "sip:10000@h", []string{"X-IVR-Path: 41", "X-Service-Number: 12ab"}, "", "", want{code: 400}},
		{"bad X-IVR-Path", "sip:10000@h", []string{"X-IVR-Path: 4a"}, "", "", want{code: 400}},
		{"X-IVR-Path off the menu", "sip:10000@h", []string{"X-IVR-Path: 99"}, "", "", want{code: 400}},
		{"bad X-Province", "sip:4008810000@h", []string{"X-Province: guangdong"}, "", "", want{code: 400}},
		{"input 3: SIP-I multipart", "sip:10000@h", nil, "multipart/mixed;boundary=b1", sipISUP,
			want{hotline: "10000", caller: "18900000000", province: "GD", offer: true, codec: "PCMA"}},
		{"input 8: no final newline", "sip:10000@h", nil, "application/sdp", strings.TrimSuffix(offer, "\r\n"),
			want{hotline: "10000", caller: "18900000000", province: "GD", offer: true, codec: "PCMA"}},
		{"no common codec", "sip:10000@h", nil, "application/sdp", g729, want{code: 488}},
		{"bad SDP", "sip:10000@h", nil, "application/sdp", "v=0\r\no=x 1", want{code: 400}},
		{"multipart without boundary", "sip:10000@h", nil, "multipart/mixed", sipISUP, want{code: 400}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := request(t, "INVITE "+tc.uri+" SIP/2.0", tc.headers, tc.contentType, tc.body)
			d := admitInvite(cfg, ivr.Options{}, req, time.Unix(1_800_000_000, 0))
			if d.code != tc.want.code {
				t.Fatalf("code %d (%s, %v), want %d", d.code, d.reason, d.why, tc.want.code)
			}
			if d.code != 0 {
				if d.outcome == "" || d.reason == "" {
					t.Errorf("refusal without outcome or reason: %+v", d)
				}
				return
			}
			got := want{hotline: d.hotline.Number, caller: d.caller, province: d.province, path: d.path,
				serviceNumber: d.session.ServiceNumber(), offer: d.offer != nil}
			if d.offer != nil {
				got.codec = d.offer.codec.name
			}
			if got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
