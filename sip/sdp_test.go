package sip

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/pion/sdp/v3"
)

// sdpLines joins SDP lines with CRLF, ending with one.
func sdpLines(lines ...string) string {
	return strings.Join(lines, "\r\n") + "\r\n"
}

// offerSDP is a typical phone's offer with a session-level c= line.
func offerSDP(media ...string) string {
	head := []string{
		"v=0",
		"o=phone 1234 1234 IN IP4 192.0.2.10",
		"s=call",
		"c=IN IP4 192.0.2.10",
		"t=0 0",
	}
	return sdpLines(append(head, media...)...)
}

func TestNegotiate(t *testing.T) {
	tests := []struct {
		name  string
		offer string
		want  mediaOffer
	}{
		{
			name: "PCMU and telephone-event",
			offer: offerSDP(
				"m=audio 49170 RTP/AVP 0 101",
				"a=rtpmap:0 PCMU/8000",
				"a=rtpmap:101 telephone-event/8000",
				"a=fmtp:101 0-16",
				"a=ptime:20",
				"a=sendrecv",
			),
			want: mediaOffer{codec: codec{0, "PCMU"}, dtmfPT: 101, remoteAddr: "192.0.2.10", remotePort: 49170},
		},
		{
			name: "PCMA offered first wins",
			offer: offerSDP(
				"m=audio 5004 RTP/AVP 8 0",
			),
			want: mediaOffer{codec: codec{8, "PCMA"}, dtmfPT: -1, remoteAddr: "192.0.2.10", remotePort: 5004},
		},
		{
			name: "PCMU offered first wins",
			offer: offerSDP(
				"m=audio 5004 RTP/AVP 0 8",
			),
			want: mediaOffer{codec: codec{0, "PCMU"}, dtmfPT: -1, remoteAddr: "192.0.2.10", remotePort: 5004},
		},
		{
			name: "unsupported codec before supported one is skipped",
			offer: offerSDP(
				"m=audio 5004 RTP/AVP 18 9 8 101",
				"a=rtpmap:18 G729/8000",
				"a=rtpmap:9 G722/8000",
				"a=rtpmap:8 PCMA/8000",
				"a=rtpmap:101 telephone-event/8000",
			),
			want: mediaOffer{codec: codec{8, "PCMA"}, dtmfPT: 101, remoteAddr: "192.0.2.10", remotePort: 5004},
		},
		{
			name: "telephone-event before codec",
			offer: offerSDP(
				"m=audio 5004 RTP/AVP 96 0",
				"a=rtpmap:96 telephone-event/8000",
			),
			want: mediaOffer{codec: codec{0, "PCMU"}, dtmfPT: 96, remoteAddr: "192.0.2.10", remotePort: 5004},
		},
		{
			name: "telephone-event at 16000 is not ours",
			offer: offerSDP(
				"m=audio 5004 RTP/AVP 0 100",
				"a=rtpmap:100 telephone-event/16000",
			),
			want: mediaOffer{codec: codec{0, "PCMU"}, dtmfPT: -1, remoteAddr: "192.0.2.10", remotePort: 5004},
		},
		{
			name: "dynamic pt 96 mapped to PCMU",
			offer: offerSDP(
				"m=audio 6000 RTP/AVP 96 101",
				"a=rtpmap:96 PCMU/8000",
				"a=rtpmap:101 telephone-event/8000",
			),
			want: mediaOffer{codec: codec{96, "PCMU"}, dtmfPT: 101, remoteAddr: "192.0.2.10", remotePort: 6000},
		},
		{
			name: "dynamic pt rtpmap is case-insensitive",
			offer: offerSDP(
				"m=audio 6000 RTP/AVP 97",
				"a=rtpmap:97 pcma/8000",
			),
			want: mediaOffer{codec: codec{97, "PCMA"}, dtmfPT: -1, remoteAddr: "192.0.2.10", remotePort: 6000},
		},
		{
			name: "static pt remapped by rtpmap",
			offer: offerSDP(
				"m=audio 6000 RTP/AVP 0",
				"a=rtpmap:0 PCMA/8000",
			),
			want: mediaOffer{codec: codec{0, "PCMA"}, dtmfPT: -1, remoteAddr: "192.0.2.10", remotePort: 6000},
		},
		{
			name: "media-level c= wins over session-level",
			offer: offerSDP(
				"m=audio 7000 RTP/AVP 0",
				"c=IN IP4 198.51.100.7",
			),
			want: mediaOffer{codec: codec{0, "PCMU"}, dtmfPT: -1, remoteAddr: "198.51.100.7", remotePort: 7000},
		},
		{
			name: "media-level c= only",
			offer: sdpLines(
				"v=0",
				"o=phone 1 1 IN IP4 203.0.113.5",
				"s=-",
				"t=0 0",
				"m=audio 8000 RTP/AVP 8",
				"c=IN IP4 203.0.113.5",
			),
			want: mediaOffer{codec: codec{8, "PCMA"}, dtmfPT: -1, remoteAddr: "203.0.113.5", remotePort: 8000},
		},
		{
			name: "session-level c= only, IPv6",
			offer: sdpLines(
				"v=0",
				"o=phone 1 1 IN IP6 2001:db8::1",
				"s=-",
				"c=IN IP6 2001:db8::1",
				"t=0 0",
				"m=audio 8002 RTP/AVP 0",
			),
			want: mediaOffer{codec: codec{0, "PCMU"}, dtmfPT: -1, remoteAddr: "2001:db8::1", remotePort: 8002},
		},
		{
			name: "LF line endings",
			offer: strings.ReplaceAll(offerSDP(
				"m=audio 9000 RTP/AVP 0 101",
				"a=rtpmap:101 telephone-event/8000",
			), "\r\n", "\n"),
			want: mediaOffer{codec: codec{0, "PCMU"}, dtmfPT: 101, remoteAddr: "192.0.2.10", remotePort: 9000},
		},
		{
			name: "video first, audio second",
			offer: offerSDP(
				"m=video 9002 RTP/AVP 96",
				"a=rtpmap:96 H264/90000",
				"m=audio 9000 RTP/AVP 8",
			),
			want: mediaOffer{codec: codec{8, "PCMA"}, dtmfPT: -1, remoteAddr: "192.0.2.10", remotePort: 9000},
		},
		{
			name: "rejected audio stream then live one",
			offer: offerSDP(
				"m=audio 0 RTP/AVP 0",
				"m=audio 9004 RTP/AVP 8",
			),
			want: mediaOffer{codec: codec{8, "PCMA"}, dtmfPT: -1, remoteAddr: "192.0.2.10", remotePort: 9004},
		},
		{
			name: "no c= anywhere",
			offer: sdpLines(
				"v=0",
				"o=phone 1 1 IN IP4 192.0.2.1",
				"s=-",
				"t=0 0",
				"m=audio 9006 RTP/AVP 0",
			),
			want: mediaOffer{codec: codec{0, "PCMU"}, dtmfPT: -1, remoteAddr: "", remotePort: 9006},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := negotiate([]byte(tt.offer))
			if err != nil {
				t.Fatalf("negotiate error: %v\noffer:\n%s", err, tt.offer)
			}
			if got != tt.want {
				t.Errorf("negotiate = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestNegotiateErrors(t *testing.T) {
	tests := []struct {
		name  string
		offer string
		want  error
	}{
		{
			name:  "only G729",
			offer: offerSDP("m=audio 5004 RTP/AVP 18", "a=rtpmap:18 G729/8000"),
			want:  ErrNoCodec,
		},
		{
			name:  "only telephone-event",
			offer: offerSDP("m=audio 5004 RTP/AVP 101", "a=rtpmap:101 telephone-event/8000"),
			want:  ErrNoCodec,
		},
		{
			name:  "dynamic pt without rtpmap",
			offer: offerSDP("m=audio 5004 RTP/AVP 96"),
			want:  ErrNoCodec,
		},
		{
			name:  "dynamic pt mapped to PCMU at 16000",
			offer: offerSDP("m=audio 5004 RTP/AVP 96", "a=rtpmap:96 PCMU/16000"),
			want:  ErrNoCodec,
		},
		{
			name:  "static pt 0 remapped to G729",
			offer: offerSDP("m=audio 5004 RTP/AVP 0", "a=rtpmap:0 G729/8000"),
			want:  ErrNoCodec,
		},
		{
			name:  "video only",
			offer: offerSDP("m=video 5006 RTP/AVP 96", "a=rtpmap:96 H264/90000"),
			want:  ErrNoCodec,
		},
		{
			name:  "audio port 0",
			offer: offerSDP("m=audio 0 RTP/AVP 0 8 101", "a=rtpmap:101 telephone-event/8000"),
			want:  ErrNoCodec,
		},
		{
			name:  "no media at all",
			offer: offerSDP(),
			want:  ErrNoCodec,
		},
		{
			name:  "garbage text",
			offer: "this is not sdp at all",
			want:  ErrBadSDP,
		},
		{
			// "v=0" alone now reads as "v=0\r\n" (a missing final newline is
			// tolerated): an empty session, 488, see TestNegotiateNoSession.
			name:  "truncated in o=",
			offer: "v=0\r\no=phone 1",
			want:  ErrBadSDP,
		},
		{
			name:  "missing version line",
			offer: sdpLines("o=phone 1 1 IN IP4 192.0.2.1", "s=-", "t=0 0", "m=audio 5004 RTP/AVP 0"),
			want:  ErrBadSDP,
		},
		{
			name:  "bad port",
			offer: offerSDP("m=audio notaport RTP/AVP 0"),
			want:  ErrBadSDP,
		},
		{
			name:  "oversize",
			offer: offerSDP("m=audio 5004 RTP/AVP 0", "a=x-pad:"+strings.Repeat("x", maxSDPBody)),
			want:  ErrBadSDP,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := negotiate([]byte(tt.offer))
			if err == nil {
				t.Fatalf("negotiate = %+v, want error %v", got, tt.want)
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("negotiate error = %v, want errors.Is %v", err, tt.want)
			}
			other := ErrBadSDP
			if tt.want == ErrBadSDP {
				other = ErrNoCodec
			}
			if errors.Is(err, other) {
				t.Errorf("negotiate error = %v, also wraps %v", err, other)
			}
		})
	}
}

// TestNegotiateNoSession covers bodies that pion/sdp accepts as an empty
// session (it stops quietly at end of input): they are bad SDP (400).
func TestNegotiateNoSession(t *testing.T) {
	for _, offer := range []string{"", "\r\n", "x", " v=0\r\n"} {
		if m, err := negotiate([]byte(offer)); !errors.Is(err, ErrBadSDP) {
			t.Errorf("negotiate(%q) = %+v, %v, want ErrBadSDP", offer, m, err)
		}
	}
	// A session without media has nothing to answer: 488.
	for _, offer := range []string{"v=0\r\n", "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n"} {
		if m, err := negotiate([]byte(offer)); !errors.Is(err, ErrNoCodec) {
			t.Errorf("negotiate(%q) = %+v, %v, want ErrNoCodec", offer, m, err)
		}
	}
}

func TestNegotiateCodecNames(t *testing.T) {
	tests := []struct {
		media  string
		codec  string
		dtmfPT int
		err    error
	}{
		{"m=audio 5004 RTP/AVP 96 101\r\na=rtpmap:96 PCMU/8000/1\r\na=rtpmap:101 telephone-event/8000", "PCMU", 101, nil},
		{"m=audio 5004 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/80000", "PCMU", -1, nil},
		{"m=audio 5004 RTP/SAVP 0", "", -1, ErrNoCodec},
	}
	for _, tc := range tests {
		m, err := negotiate([]byte(offerSDP(tc.media)))
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("%q: err %v, want %v", tc.media, err, tc.err)
			}
			continue
		}
		if err != nil || m.codec.name != tc.codec || m.dtmfPT != tc.dtmfPT {
			t.Errorf("%q: got %+v, %v; want %s dtmf %d", tc.media, m, err, tc.codec, tc.dtmfPT)
		}
	}
}

// TestNegotiateSizeLimit checks that an offer of exactly maxSDPBody bytes is
// still parsed and one byte more is refused.
func TestNegotiateSizeLimit(t *testing.T) {
	base := offerSDP("m=audio 5004 RTP/AVP 0") + "a=x-pad:"
	pad := maxSDPBody - len(base) - len("\r\n")
	offer := base + strings.Repeat("x", pad) + "\r\n"
	if len(offer) != maxSDPBody {
		t.Fatalf("test offer is %d bytes, want %d", len(offer), maxSDPBody)
	}
	if _, err := negotiate([]byte(offer)); err != nil {
		t.Errorf("negotiate(%d bytes) error: %v", len(offer), err)
	}
	offer = base + strings.Repeat("x", pad+1) + "\r\n"
	if _, err := negotiate([]byte(offer)); !errors.Is(err, ErrBadSDP) {
		t.Errorf("negotiate(%d bytes) error = %v, want ErrBadSDP", len(offer), err)
	}
}

// parsedAnswer is what a test needs from an SDP built by describe.
type parsedAnswer struct {
	sd      sdp.SessionDescription
	audio   *sdp.MediaDescription
	rtpmaps map[string]string // pt -> encoding
	fmtps   map[string]string // pt -> parameters
	ptime   []string
}

func parseDescribed(t *testing.T, raw []byte) parsedAnswer {
	t.Helper()
	var p parsedAnswer
	if err := p.sd.UnmarshalString(string(raw)); err != nil {
		t.Fatalf("describe output does not parse: %v\n%s", err, raw)
	}
	if len(p.sd.MediaDescriptions) != 1 {
		t.Fatalf("describe output has %d media, want 1\n%s", len(p.sd.MediaDescriptions), raw)
	}
	p.audio = p.sd.MediaDescriptions[0]
	p.rtpmaps = map[string]string{}
	p.fmtps = map[string]string{}
	for _, a := range p.audio.Attributes {
		switch a.Key {
		case "rtpmap", "fmtp":
			pt, v, ok := strings.Cut(a.Value, " ")
			if !ok {
				t.Fatalf("malformed a=%s:%s", a.Key, a.Value)
			}
			if a.Key == "rtpmap" {
				p.rtpmaps[pt] = v
			} else {
				p.fmtps[pt] = v
			}
		case "ptime":
			p.ptime = append(p.ptime, a.Value)
		}
	}
	return p
}

func TestDescribeAnswer(t *testing.T) {
	tests := []struct {
		name        string
		host        string
		port        int
		m           mediaOffer
		wantFormats []string
		wantRtpmaps map[string]string
		wantAddrTyp string
	}{
		{
			name:        "PCMU with telephone-event",
			host:        "192.0.2.1",
			port:        4000,
			m:           mediaOffer{codec: codec{0, "PCMU"}, dtmfPT: 101, remoteAddr: "192.0.2.10", remotePort: 49170},
			wantFormats: []string{"0", "101"},
			wantRtpmaps: map[string]string{"0": "PCMU/8000", "101": "telephone-event/8000"},
			wantAddrTyp: "IP4",
		},
		{
			name:        "PCMA without telephone-event",
			host:        "192.0.2.1",
			port:        40002,
			m:           mediaOffer{codec: codec{8, "PCMA"}, dtmfPT: -1},
			wantFormats: []string{"8"},
			wantRtpmaps: map[string]string{"8": "PCMA/8000"},
			wantAddrTyp: "IP4",
		},
		{
			name:        "dynamic PCMU with dynamic telephone-event",
			host:        "2001:db8::2",
			port:        20000,
			m:           mediaOffer{codec: codec{96, "PCMU"}, dtmfPT: 97},
			wantFormats: []string{"96", "97"},
			wantRtpmaps: map[string]string{"96": "PCMU/8000", "97": "telephone-event/8000"},
			wantAddrTyp: "IP6",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.m
			raw, err := describe(tt.host, tt.port, &m)
			if err != nil {
				t.Fatalf("describe error: %v", err)
			}
			p := parseDescribed(t, raw)
			if p.audio.MediaName.Media != "audio" {
				t.Errorf("media = %q, want audio", p.audio.MediaName.Media)
			}
			if p.audio.MediaName.Port.Value != tt.port {
				t.Errorf("port = %d, want %d", p.audio.MediaName.Port.Value, tt.port)
			}
			if got := strings.Join(p.audio.MediaName.Protos, "/"); got != "RTP/AVP" {
				t.Errorf("proto = %q, want RTP/AVP", got)
			}
			if !slices.Equal(p.audio.MediaName.Formats, tt.wantFormats) {
				t.Errorf("formats = %v, want %v", p.audio.MediaName.Formats, tt.wantFormats)
			}
			if len(p.rtpmaps) != len(tt.wantRtpmaps) {
				t.Errorf("rtpmaps = %v, want %v", p.rtpmaps, tt.wantRtpmaps)
			}
			for pt, enc := range tt.wantRtpmaps {
				if p.rtpmaps[pt] != enc {
					t.Errorf("rtpmap %s = %q, want %q", pt, p.rtpmaps[pt], enc)
				}
			}
			if m.dtmfPT >= 0 {
				if got := p.fmtps[tt.wantFormats[1]]; got != "0-16" {
					t.Errorf("fmtp for telephone-event = %q, want 0-16", got)
				}
			} else if len(p.fmtps) != 0 {
				t.Errorf("fmtp without telephone-event: %v", p.fmtps)
			}
			if !slices.Equal(p.ptime, []string{"20"}) {
				t.Errorf("ptime = %v, want [20]", p.ptime)
			}
			if _, ok := p.audio.Attribute("sendrecv"); !ok {
				t.Errorf("answer is not sendrecv")
			}
			if ci := p.sd.ConnectionInformation; ci == nil || ci.Address == nil || ci.Address.Address != tt.host || ci.AddressType != tt.wantAddrTyp {
				t.Errorf("session c= = %+v, want IN %s %s", ci, tt.wantAddrTyp, tt.host)
			}
			if p.sd.Origin.UnicastAddress != tt.host || p.sd.Origin.AddressType != tt.wantAddrTyp {
				t.Errorf("origin = %+v, want address %s %s", p.sd.Origin, tt.wantAddrTyp, tt.host)
			}
			if m != tt.m {
				t.Errorf("describe changed its media: %+v, was %+v", m, tt.m)
			}
		})
	}
}

func TestDescribeLateOffer(t *testing.T) {
	raw, err := describe("192.0.2.1", 4000, nil)
	if err != nil {
		t.Fatalf("describe error: %v", err)
	}
	p := parseDescribed(t, raw)
	if want := []string{"0", "8", "101"}; !slices.Equal(p.audio.MediaName.Formats, want) {
		t.Errorf("formats = %v, want %v", p.audio.MediaName.Formats, want)
	}
	want := map[string]string{"0": "PCMU/8000", "8": "PCMA/8000", "101": "telephone-event/8000"}
	if len(p.rtpmaps) != len(want) {
		t.Errorf("rtpmaps = %v, want %v", p.rtpmaps, want)
	}
	for pt, enc := range want {
		if p.rtpmaps[pt] != enc {
			t.Errorf("rtpmap %s = %q, want %q", pt, p.rtpmaps[pt], enc)
		}
	}
	if p.fmtps["101"] != "0-16" {
		t.Errorf("fmtp 101 = %q, want 0-16", p.fmtps["101"])
	}
	if p.audio.MediaName.Port.Value != 4000 {
		t.Errorf("port = %d, want 4000", p.audio.MediaName.Port.Value)
	}
	if !slices.Equal(p.ptime, []string{"20"}) {
		t.Errorf("ptime = %v, want [20]", p.ptime)
	}
	// The offer must be acceptable to ourselves: PCMU first, DTMF 101.
	m, err := negotiate(raw)
	if err != nil {
		t.Fatalf("negotiate(our late offer) error: %v", err)
	}
	if wantM := (mediaOffer{codec: codec{0, "PCMU"}, dtmfPT: 101, remoteAddr: "192.0.2.1", remotePort: 4000}); m != wantM {
		t.Errorf("negotiate(our late offer) = %+v, want %+v", m, wantM)
	}
}

func TestDescribeNegotiateRoundTrip(t *testing.T) {
	offer := offerSDP(
		"m=audio 49170 RTP/AVP 96 8 101",
		"a=rtpmap:96 PCMA/8000",
		"a=rtpmap:101 telephone-event/8000",
	)
	m, err := negotiate([]byte(offer))
	if err != nil {
		t.Fatalf("negotiate error: %v", err)
	}
	answer, err := describe("127.0.0.1", 4000, &m)
	if err != nil {
		t.Fatalf("describe error: %v", err)
	}
	back, err := negotiate(answer)
	if err != nil {
		t.Fatalf("negotiate(answer) error: %v\n%s", err, answer)
	}
	want := mediaOffer{codec: m.codec, dtmfPT: m.dtmfPT, remoteAddr: "127.0.0.1", remotePort: 4000}
	if back != want {
		t.Errorf("negotiate(answer) = %+v, want %+v", back, want)
	}
}

func FuzzNegotiate(f *testing.F) {
	f.Add([]byte(offerSDP(
		"m=audio 49170 RTP/AVP 0 101",
		"a=rtpmap:0 PCMU/8000",
		"a=rtpmap:101 telephone-event/8000",
		"a=fmtp:101 0-16",
	)))
	f.Add([]byte(offerSDP("m=audio 5004 RTP/AVP 8 0")))
	f.Add([]byte(offerSDP("m=audio 5004 RTP/AVP 18", "a=rtpmap:18 G729/8000")))
	f.Add([]byte(offerSDP("m=video 5006 RTP/AVP 96", "a=rtpmap:96 H264/90000")))
	f.Add([]byte(offerSDP("m=audio 6000 RTP/AVP 96", "a=rtpmap:96 PCMU/8000", "c=IN IP4 198.51.100.7")))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, offer []byte) {
		m, err := negotiate(offer)
		if err != nil {
			if !errors.Is(err, ErrNoCodec) && !errors.Is(err, ErrBadSDP) {
				t.Fatalf("negotiate(%q) error %v is neither ErrNoCodec nor ErrBadSDP", offer, err)
			}
			return
		}
		if m.codec.name != "PCMU" && m.codec.name != "PCMA" {
			t.Fatalf("negotiate(%q) chose codec %+v", offer, m.codec)
		}
		if m.codec.pt > 127 || m.dtmfPT < -1 || m.dtmfPT > 127 {
			t.Fatalf("negotiate(%q) gave payload types out of range: %+v", offer, m)
		}
		if m.remotePort <= 0 || m.remotePort > 65535 {
			t.Fatalf("negotiate(%q) gave remote port %d", offer, m.remotePort)
		}
		answer, err := describe("127.0.0.1", 4000, &m)
		if err != nil {
			t.Fatalf("describe(%+v) error: %v", m, err)
		}
		back, err := negotiate(answer)
		if err != nil {
			t.Fatalf("negotiate(describe(%+v)) error: %v\noffer: %q\nanswer: %q", m, err, offer, answer)
		}
		want := mediaOffer{codec: m.codec, dtmfPT: m.dtmfPT, remoteAddr: "127.0.0.1", remotePort: 4000, direction: m.direction.answer()}
		if back != want {
			t.Fatalf("round trip: negotiate(describe(%+v)) = %+v, want %+v\noffer: %q\nanswer: %q", m, back, want, offer, answer)
		}
	})
}
