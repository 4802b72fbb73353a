package sip

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// maxSDPBody caps an SDP offer.
const maxSDPBody = 8192

// ErrNoCodec means the offer has no codec in common with us (488).
var ErrNoCodec = errors.New("no common codec")

// ErrBadSDP means the offer cannot be parsed (400).
var ErrBadSDP = errors.New("bad sdp")

// codec is an audio payload we can send and receive.
type codec struct {
	pt   uint8
	name string
}

// supported lists our codecs, preferred first: G.711 mu-law and A-law.
var supported = []codec{{0, "PCMU"}, {8, "PCMA"}}

// mediaOffer is the outcome of negotiation.
type mediaOffer struct {
	codec      codec
	dtmfPT     int // telephone-event payload type, -1 if not offered
	remoteAddr string
	remotePort int
	direction  direction // the offer's, for the audio stream
}

// direction is an SDP stream direction attribute (RFC 3264 5.1, 6.1) as
// seen by the side that wrote it; "" is the default, sendrecv.
type direction string

// Directions.
const (
	sendrecv direction = ""
	sendonly direction = "sendonly"
	recvonly direction = "recvonly"
	inactive direction = "inactive"
)

// answer is the direction an answer gives to an offer of d (RFC 3264
// 6.1): sendonly is answered recvonly (a hold), recvonly sendonly,
// inactive inactive, sendrecv sendrecv.
func (d direction) answer() direction {
	switch d {
	case sendonly:
		return recvonly
	case recvonly:
		return sendonly
	case inactive:
		return inactive
	}
	return sendrecv
}

// sends reports whether the side that wrote d may send media.
func (d direction) sends() bool { return d == sendrecv || d == sendonly }

func (d direction) attr() string {
	if d == sendrecv {
		return "sendrecv"
	}
	return string(d)
}

// negotiate picks our codec from an offer: the first of the offer's audio
// formats we support, and telephone-event/8000 if offered.
func negotiate(offer []byte) (mediaOffer, error) {
	m := mediaOffer{dtmfPT: -1}
	if len(offer) > maxSDPBody {
		return m, fmt.Errorf("%w: %d bytes is over %d", ErrBadSDP, len(offer), maxSDPBody)
	}
	// pion/sdp takes a truncated body for an empty session; an offer must at
	// least open with its version line.
	if !strings.HasPrefix(string(offer), "v=0") {
		return m, fmt.Errorf("%w: does not start with v=0", ErrBadSDP)
	}
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(string(normaliseSDP(offer))); err != nil {
		return m, fmt.Errorf("%w: %v", ErrBadSDP, err)
	}

	var audio *sdp.MediaDescription
	for _, md := range sd.MediaDescriptions {
		// Plain RTP only: an SRTP offer (RTP/SAVP) cannot be answered in kind.
		if md.MediaName.Media == "audio" && md.MediaName.Port.Value != 0 &&
			strings.EqualFold(strings.Join(md.MediaName.Protos, "/"), "RTP/AVP") {
			audio = md
			break
		}
	}
	if audio == nil {
		return m, fmt.Errorf("%w: no audio stream offered", ErrNoCodec)
	}
	rtpmap := map[int]string{}
	for _, a := range audio.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		ptStr, enc, ok := strings.Cut(a.Value, " ")
		if pt, err := strconv.Atoi(ptStr); ok && err == nil {
			rtpmap[pt] = strings.ToLower(enc)
		}
	}
	found := false
	for _, f := range audio.MediaName.Formats {
		pt, err := strconv.Atoi(f)
		if err != nil || pt < 0 || pt > 127 {
			continue
		}
		if enc := rtpmap[pt]; enc == "telephone-event/8000" || enc == "telephone-event/8000/1" {
			m.dtmfPT = pt
			continue
		}
		if found {
			continue
		}
		for _, c := range supported {
			// Static payload types need no rtpmap; a dynamic one must name the codec.
			enc, mapped := rtpmap[pt]
			name := strings.ToLower(c.name) + "/8000"
			if (!mapped && pt == int(c.pt)) || enc == name || enc == name+"/1" {
				m.codec, found = codec{uint8(pt), c.name}, true
				break
			}
		}
	}
	if !found {
		return m, fmt.Errorf("%w: offered formats %v", ErrNoCodec, audio.MediaName.Formats)
	}
	if audio.ConnectionInformation != nil && audio.ConnectionInformation.Address != nil {
		m.remoteAddr = audio.ConnectionInformation.Address.Address
	} else if sd.ConnectionInformation != nil && sd.ConnectionInformation.Address != nil {
		m.remoteAddr = sd.ConnectionInformation.Address.Address
	}
	m.remotePort = audio.MediaName.Port.Value
	m.direction = directionOf(sd.Attributes)
	if d := directionOf(audio.Attributes); d != sendrecv || hasAttr(audio.Attributes, "sendrecv") {
		m.direction = d // the media level beats the session level
	}
	if m.remoteAddr == "0.0.0.0" || m.remoteAddr == "::" {
		// RFC 2543 hold (RFC 3264 8.4): do not send to them.
		m.remoteAddr = ""
		if m.direction == sendrecv {
			m.direction = sendonly
		} else if m.direction == recvonly {
			m.direction = inactive
		}
	}
	return m, nil
}

func directionOf(attrs []sdp.Attribute) direction {
	for _, a := range attrs {
		switch a.Key {
		case "sendonly":
			return sendonly
		case "recvonly":
			return recvonly
		case "inactive":
			return inactive
		case "sendrecv":
			return sendrecv
		}
	}
	return sendrecv
}

func hasAttr(attrs []sdp.Attribute, key string) bool {
	for _, a := range attrs {
		if a.Key == key {
			return true
		}
	}
	return false
}

// describe builds our SDP: an answer for m, or, with m nil, an offer of
// every codec (late offer: INVITE without SDP), with a fresh origin.
func describe(host string, port int, m *mediaOffer) ([]byte, error) {
	id := rand.Uint64N(1 << 62)
	return describeVersion(host, port, m, id, id)
}

// describeVersion is describe with the o= session id and version given,
// for the later answers of one dialog (RFC 3264 8: the version goes up by
// one whenever the description changes). The answer's direction follows
// the offer's (RFC 3264 6.1).
func describeVersion(host string, port int, m *mediaOffer, id, version uint64) ([]byte, error) {
	formats := []string{}
	attrs := []sdp.Attribute{}
	dtmfPT := 101
	if m != nil {
		formats = append(formats, strconv.Itoa(int(m.codec.pt)))
		attrs = append(attrs, sdp.NewAttribute("rtpmap", fmt.Sprintf("%d %s/8000", m.codec.pt, m.codec.name)))
		dtmfPT = m.dtmfPT
	} else {
		for _, c := range supported {
			formats = append(formats, strconv.Itoa(int(c.pt)))
			attrs = append(attrs, sdp.NewAttribute("rtpmap", fmt.Sprintf("%d %s/8000", c.pt, c.name)))
		}
	}
	if dtmfPT >= 0 {
		formats = append(formats, strconv.Itoa(dtmfPT))
		attrs = append(attrs,
			sdp.NewAttribute("rtpmap", fmt.Sprintf("%d telephone-event/8000", dtmfPT)),
			sdp.NewAttribute("fmtp", fmt.Sprintf("%d 0-16", dtmfPT)))
	}
	dir := sendrecv
	if m != nil {
		dir = m.direction.answer()
	}
	attrs = append(attrs, sdp.NewAttribute("ptime", "20"), sdp.NewPropertyAttribute(dir.attr()))
	sd := sdp.SessionDescription{
		Origin: sdp.Origin{Username: "hotlined", SessionID: id, SessionVersion: version,
			NetworkType: "IN", AddressType: addrType(host), UnicastAddress: host},
		SessionName:           "hotlined",
		ConnectionInformation: &sdp.ConnectionInformation{NetworkType: "IN", AddressType: addrType(host), Address: &sdp.Address{Address: host}},
		TimeDescriptions:      []sdp.TimeDescription{{Timing: sdp.Timing{}}},
		MediaDescriptions: []*sdp.MediaDescription{{
			MediaName:  sdp.MediaName{Media: "audio", Port: sdp.RangedPort{Value: port}, Protos: []string{"RTP", "AVP"}, Formats: formats},
			Attributes: attrs,
		}},
	}
	return sd.Marshal()
}

// sdpState is our side of one dialog's offer/answer: the o= session id and
// version, and the last description sent.
type sdpState struct {
	id, version uint64
	last        []byte
}

func newSDPState() sdpState {
	id := rand.Uint64N(1 << 62)
	return sdpState{id: id, version: id}
}

// describe builds our next description (see describeVersion), with the
// version raised by one when it differs from the last one sent.
func (st *sdpState) describe(host string, port int, m *mediaOffer) ([]byte, error) {
	body, err := describeVersion(host, port, m, st.id, st.version)
	if err != nil {
		return nil, err
	}
	if st.last != nil && !bytes.Equal(body, st.last) {
		st.version++
		if body, err = describeVersion(host, port, m, st.id, st.version); err != nil {
			return nil, err
		}
	}
	st.last = body
	return body, nil
}

func addrType(host string) string {
	if strings.Contains(host, ":") {
		return "IP6"
	}
	return "IP4"
}
