package sip

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pion/rtp"
)

// testDTMFPT is the telephone-event payload type in these tests; SIPp uses
// it too.
const testDTMFPT = 101

// te builds an RFC 4733 packet.
func te(ssrc uint32, seq uint16, ts uint32, event uint8, end bool, dur uint16) *rtp.Packet {
	flags := byte(10) // volume -10 dBm0
	if end {
		flags |= 0x80
	}
	return &rtp.Packet{
		Header: rtp.Header{
			Version:        2,
			PayloadType:    testDTMFPT,
			SequenceNumber: seq,
			Timestamp:      ts,
			SSRC:           ssrc,
		},
		Payload: []byte{event, flags, byte(dur >> 8), byte(dur)},
	}
}

// press is one key press as phones send it: three packets as the tone
// starts, the first with the marker bit, then the end packet three times,
// each with its own sequence number. It takes the sequence numbers from
// seq on.
func press(ssrc uint32, seq uint16, ts uint32, event uint8) []*rtp.Packet {
	pkts := []*rtp.Packet{
		te(ssrc, seq, ts, event, false, 0),
		te(ssrc, seq+1, ts, event, false, 400),
		te(ssrc, seq+2, ts, event, false, 800),
		te(ssrc, seq+3, ts, event, true, 1040),
		te(ssrc, seq+4, ts, event, true, 1040),
		te(ssrc, seq+5, ts, event, true, 1040),
	}
	pkts[0].Marker = true
	return pkts
}

// feedAll runs packets through a fresh detector and returns the keys.
func feedAll(t *testing.T, pkts []*rtp.Packet) string {
	t.Helper()
	var (
		d    DTMFDetector
		keys []byte
	)
	for i, pkt := range pkts {
		key, ok, err := d.Feed(pkt, testDTMFPT)
		if err != nil {
			t.Fatalf("packet %d: Feed: %v", i, err)
		}
		if ok {
			keys = append(keys, key)
		}
	}
	return string(keys)
}

func TestDTMFDetector(t *testing.T) {
	const ssrc = 0x1234abcd
	cat := func(groups ...[]*rtp.Packet) []*rtp.Packet { return slices.Concat(groups...) }
	tests := []struct {
		name string
		pkts []*rtp.Packet
		want string
	}{
		{"one press, 3 start and 3 end packets", press(ssrc, 100, 8000, 5), "5"},
		{"end packets retransmitted with one sequence number", cat(
			press(ssrc, 100, 8000, 5)[:3],
			[]*rtp.Packet{
				te(ssrc, 103, 8000, 5, true, 1040),
				te(ssrc, 103, 8000, 5, true, 1040),
				te(ssrc, 103, 8000, 5, true, 1040),
				te(ssrc, 103, 8000, 5, true, 1040),
			},
		), "5"},
		{"start packets repeated", cat(press(ssrc, 100, 8000, 5)[:1], press(ssrc, 100, 8000, 5)), "5"},
		{"end packets only, the start lost", press(ssrc, 100, 8000, 5)[3:], "5"},
		{"one start packet only, the end lost", press(ssrc, 100, 8000, 5)[:1], "5"},
		{"relay re-stamps the end packets (issue 12 input 9)", cat(
			press(ssrc, 100, 8000, 4)[:4], // ends at 8000+1040
			[]*rtp.Packet{
				te(ssrc, 104, 9040, 4, true, 1040),
				te(ssrc, 105, 9200, 4, true, 1040),
			},
		), "4"},
		{"relay re-stamps every end packet, each a packet later", cat(
			press(ssrc, 100, 8000, 4)[:3],
			[]*rtp.Packet{
				te(ssrc, 103, 9040, 4, true, 1040),
				te(ssrc, 104, 9200, 4, true, 1040),
				te(ssrc, 105, 9360, 4, true, 1040),
			},
		), "4"},
		{"relay stamps the three end packets with one new timestamp", cat(
			press(ssrc, 100, 8000, 4)[:3],
			[]*rtp.Packet{
				te(ssrc, 103, 9100, 4, true, 1040),
				te(ssrc, 104, 9100, 4, true, 1040),
				te(ssrc, 105, 9100, 4, true, 1040),
			},
		), "4"},
		{"a copy, then an end-only press of the same key after a gap", cat(
			press(ssrc, 100, 8000, 4),
			[]*rtp.Packet{te(ssrc, 106, 9040, 4, true, 1040)},
			press(ssrc, 107, 9800, 4)[3:],
		), "44"},
		{"end-only press of the same key after a gap", cat(press(ssrc, 100, 8000, 4), press(ssrc, 106, 9600, 4)[3:]), "44"},
		{"end-only press of another key right after", cat(press(ssrc, 100, 8000, 4), press(ssrc, 106, 9040, 5)[3:]), "45"},
		{"same key twice", cat(press(ssrc, 100, 8000, 5), press(ssrc, 120, 12000, 5)), "55"},
		{"same key twice, back to back", cat(press(ssrc, 100, 8000, 5), press(ssrc, 106, 9040, 5)), "55"},
		{"different keys", cat(
			press(ssrc, 100, 8000, 1),
			press(ssrc, 120, 12000, 2),
			press(ssrc, 140, 16000, 3),
		), "123"},
		{"every key", cat(
			press(ssrc, 100, 1000, 0), press(ssrc, 110, 3000, 1), press(ssrc, 120, 5000, 2),
			press(ssrc, 130, 7000, 3), press(ssrc, 140, 9000, 4), press(ssrc, 150, 11000, 5),
			press(ssrc, 160, 13000, 6), press(ssrc, 170, 15000, 7), press(ssrc, 180, 17000, 8),
			press(ssrc, 190, 19000, 9), press(ssrc, 200, 21000, 10), press(ssrc, 210, 23000, 11),
		), "0123456789*#"},
		{"interleaved retransmit of the same event", cat(
			press(ssrc, 100, 8000, 7)[:2],
			press(ssrc, 100, 8000, 7)[:2],
			press(ssrc, 100, 8000, 7)[2:],
		), "7"},
		{"timestamp wraps between presses", cat(
			press(ssrc, 100, 0xFFFFFF00, 1),
			press(ssrc, 120, 0x00000100, 1),
			press(ssrc, 140, 0x00001100, 2),
		), "112"},
		{"sequence number wraps inside a press", press(ssrc, 0xFFFE, 8000, 9), "9"},
		{"late end packet of the previous press after a wrap", cat(
			press(ssrc, 0xFFF0, 0xFFFFFF00, 1)[:4],
			press(ssrc, 0xFFFC, 0x00000100, 2),
			[]*rtp.Packet{te(ssrc, 0xFFF5, 0xFFFFFF00, 1, true, 1040)},
		), "12"},
		{"late end packet of the previous press", cat(
			press(ssrc, 100, 8000, 1)[:4],
			press(ssrc, 106, 9200, 2)[:1],
			[]*rtp.Packet{te(ssrc, 104, 8000, 1, true, 1040), te(ssrc, 105, 8000, 1, true, 1040)},
			press(ssrc, 106, 9200, 2)[1:],
		), "12"},
		{"SSRC changes, same timestamp", cat(press(ssrc, 100, 8000, 4), press(ssrc+1, 100, 8000, 4)), "44"},
		{"SSRC changes, older timestamp", cat(press(ssrc, 100, 8000, 4), press(ssrc+1, 50, 4000, 6)), "46"},
		{"SSRC changes and back", cat(
			press(ssrc, 100, 8000, 1),
			press(ssrc+1, 5000, 900000, 2),
			press(ssrc, 130, 16000, 3),
		), "123"},
		{"sender starts over, timestamps and sequence far back", cat(
			press(ssrc, 12080, 17632, 0),
			press(ssrc, 7984, 13280, 1),
		), "01"},
		{"timestamp far back, sequence ahead", cat(
			press(ssrc, 100, 900000, 3),
			press(ssrc, 120, 8000, 4),
		), "34"},
		{"A-D and flash ignored", cat(
			press(ssrc, 100, 1000, 12), press(ssrc, 110, 3000, 13), press(ssrc, 120, 5000, 14),
			press(ssrc, 130, 7000, 15), press(ssrc, 140, 9000, 16),
		), ""},
		{"A between two presses of 1", cat(
			press(ssrc, 100, 1000, 1), press(ssrc, 110, 3000, 12), press(ssrc, 120, 5000, 1),
		), "11"},
		{"events above 16 ignored", cat(
			press(ssrc, 100, 1000, 17), press(ssrc, 110, 3000, 32), press(ssrc, 120, 5000, 255),
		), ""},
		{"long press in two segments", cat(
			press(ssrc, 100, 8000, 8)[:3],
			[]*rtp.Packet{
				te(ssrc, 500, 8000, 8, false, 0xFFFF),
				te(ssrc, 501, 8000+0xFFFF, 8, false, 400),
				te(ssrc, 502, 8000+0xFFFF, 8, true, 800),
			},
			press(ssrc, 600, 8000+0xFFFF+4000, 8),
		), "88"},
		{"reserved bit set", []*rtp.Packet{{
			Header:  rtp.Header{Version: 2, PayloadType: testDTMFPT, SequenceNumber: 1, Timestamp: 160, SSRC: ssrc},
			Payload: []byte{3, 0x40 | 10, 0, 160},
		}}, "3"},
		{"two events in one payload, the first counts", []*rtp.Packet{{
			Header:  rtp.Header{Version: 2, PayloadType: testDTMFPT, SequenceNumber: 1, Timestamp: 160, SSRC: ssrc},
			Payload: []byte{3, 0x8a, 0, 160, 4, 10, 0, 0},
		}}, "3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := feedAll(t, tt.pkts); got != tt.want {
				t.Errorf("keys = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDTMFDetectorMalformed(t *testing.T) {
	good := te(1, 100, 8000, 5, false, 0)
	withPayload := func(p []byte) *rtp.Packet {
		pkt := *good
		pkt.Payload = p
		return &pkt
	}
	withPT := func(pt uint8) *rtp.Packet {
		pkt := *good
		pkt.PayloadType = pt
		return &pkt
	}
	tests := []struct {
		name string
		pkt  *rtp.Packet
	}{
		{"nil packet", nil},
		{"empty payload", withPayload(nil)},
		{"1 byte", withPayload([]byte{5})},
		{"3 bytes", withPayload([]byte{5, 10, 0})},
		{"5 bytes", withPayload([]byte{5, 10, 0, 160, 0})},
		{"7 bytes", withPayload([]byte{5, 10, 0, 160, 5, 10, 0})},
		{"PCMU audio", withPT(0)},
		{"PCMA audio", withPT(8)},
		{"other telephone-event type", withPT(96)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d DTMFDetector
			// A press under way: a bad packet must leave it as it was.
			if key, ok, err := d.Feed(good, testDTMFPT); err != nil || !ok || key != '5' {
				t.Fatalf("Feed(first packet) = %q, %v, %v; want '5', true, nil", key, ok, err)
			}
			key, ok, err := d.Feed(tt.pkt, testDTMFPT)
			if !errors.Is(err, ErrBadRFC4733) {
				t.Errorf("Feed error = %v, want ErrBadRFC4733", err)
			}
			if ok || key != 0 {
				t.Errorf("Feed = %q, %v on error, want 0, false", key, ok)
			}
			if key, ok, err := d.Feed(te(1, 101, 8000, 5, true, 800), testDTMFPT); err != nil || ok {
				t.Errorf("Feed(end of the press) = %q, %v, %v after a bad packet; want no key", key, ok, err)
			}
		})
	}
}

func TestParseTelephoneEvent(t *testing.T) {
	tests := []struct {
		payload []byte
		want    TelephoneEvent
	}{
		{[]byte{0x01, 0x0a, 0x00, 0x00}, TelephoneEvent{Event: 1, Volume: 10}},
		{[]byte{0x01, 0x8a, 0x08, 0xc0}, TelephoneEvent{Event: 1, End: true, Volume: 10, Duration: 2240}},
		{[]byte{0x0b, 0x7f, 0xff, 0xff}, TelephoneEvent{Event: 11, Reserved: true, Volume: 63, Duration: 0xFFFF}},
		{[]byte{0xff, 0xc0, 0x01, 0x00}, TelephoneEvent{Event: 255, End: true, Reserved: true, Duration: 256}},
	}
	for _, tt := range tests {
		got, err := ParseTelephoneEvent(tt.payload)
		if err != nil || got != tt.want {
			t.Errorf("ParseTelephoneEvent(% x) = %+v, %v; want %+v", tt.payload, got, err, tt.want)
		}
	}
}

// sipTesterDir holds the DTMF captures that ship with SIPp.
const sipTesterDir = "/usr/share/sip-tester"

// TestDTMFDetectorSIPpCaptures replays the RFC 4733 captures SIPp plays in
// its scenarios (play_pcap_audio): each is one key press.
func TestDTMFDetectorSIPpCaptures(t *testing.T) {
	var all []*rtp.Packet
	for _, name := range []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "star", "pound"} {
		pkts := readPcapRTP(t, filepath.Join(sipTesterDir, "dtmf_2833_"+name+".pcap"))
		want := map[string]string{"star": "*", "pound": "#"}[name]
		if want == "" {
			want = name
		}
		if got := feedAll(t, pkts); got != want {
			t.Errorf("dtmf_2833_%s.pcap: keys = %q, want %q", name, got, want)
		}
		all = append(all, pkts...)
	}
	// One after another, as a SIPp scenario plays them in one call: the same
	// SSRC throughout, and "1" is older than "0" in both timestamp and
	// sequence number.
	if got, want := feedAll(t, all), "0123456789*#"; got != want {
		t.Errorf("all captures in a row: keys = %q, want %q", got, want)
	}
	// The same capture twice is the same packets: one event, one key. A
	// scenario needs one capture per press.
	one := readPcapRTP(t, filepath.Join(sipTesterDir, "dtmf_2833_1.pcap"))
	if got := feedAll(t, slices.Concat(one, one)); got != "1" {
		t.Errorf("dtmf_2833_1.pcap twice: keys = %q, want %q", got, "1")
	}
}

// TestDTMFDetectorSIPpAudio feeds SIPp's A-law capture: audio is not an
// event.
func TestDTMFDetectorSIPpAudio(t *testing.T) {
	pkts := readPcapRTP(t, filepath.Join(sipTesterDir, "g711a.pcap"))
	var d DTMFDetector
	for i, pkt := range pkts {
		if key, ok, err := d.Feed(pkt, testDTMFPT); !errors.Is(err, ErrBadRFC4733) || ok {
			t.Fatalf("packet %d (PT %d): Feed = %q, %v, %v; want ErrBadRFC4733", i, pkt.PayloadType, key, ok, err)
		}
	}
}

// readPcapRTP reads the RTP packets of a libpcap file of Ethernet frames:
// the global header, then a record header before each frame, then
// Ethernet (optionally one VLAN tag), IPv4, UDP.
func readPcapRTP(t *testing.T, path string) []*rtp.Packet {
	t.Helper()
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s is missing: it ships with SIPp; run `apt-get install sip-tester`", path)
	}
	if err != nil {
		t.Fatal(err)
	}
	pkts, err := parsePcapRTP(data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(pkts) == 0 {
		t.Fatalf("%s: no RTP packets", path)
	}
	return pkts
}

func parsePcapRTP(data []byte) ([]*rtp.Packet, error) {
	if len(data) < 24 {
		return nil, fmt.Errorf("pcap global header: %d bytes", len(data))
	}
	var order binary.ByteOrder
	switch binary.LittleEndian.Uint32(data) {
	case 0xa1b2c3d4, 0xa1b23c4d: // microsecond, nanosecond timestamps
		order = binary.LittleEndian
	case 0xd4c3b2a1, 0x4d3cb2a1:
		order = binary.BigEndian
	default:
		return nil, fmt.Errorf("not a pcap file: magic % x", data[:4])
	}
	if link := order.Uint32(data[20:]); link != 1 {
		return nil, fmt.Errorf("link type %d, want 1 (Ethernet)", link)
	}
	var pkts []*rtp.Packet
	for off := 24; off < len(data); {
		if len(data)-off < 16 {
			return nil, fmt.Errorf("record header at %d truncated", off)
		}
		n := int(order.Uint32(data[off+8:]))
		off += 16
		if n > len(data)-off {
			return nil, fmt.Errorf("record at %d: %d bytes, %d left", off, n, len(data)-off)
		}
		frame := data[off : off+n]
		off += n

		if len(frame) < 14 {
			continue
		}
		ether, l3 := binary.BigEndian.Uint16(frame[12:]), frame[14:]
		if ether == 0x8100 && len(frame) >= 18 { // 802.1Q
			ether, l3 = binary.BigEndian.Uint16(frame[16:]), frame[18:]
		}
		if ether != 0x0800 || len(l3) < 20 || l3[0]>>4 != 4 {
			continue
		}
		ihl, total := int(l3[0]&0x0f)*4, int(binary.BigEndian.Uint16(l3[2:]))
		if l3[9] != 17 || ihl < 20 || total < ihl+8 || total > len(l3) {
			continue
		}
		udp := l3[ihl:total]
		udpLen := int(binary.BigEndian.Uint16(udp[4:]))
		if udpLen < 8 || udpLen > len(udp) {
			continue
		}
		var pkt rtp.Packet
		if err := pkt.Unmarshal(slices.Clone(udp[8:udpLen])); err != nil || pkt.Version != 2 {
			continue
		}
		pkts = append(pkts, &pkt)
	}
	return pkts, nil
}

// FuzzRFC4733 feeds a detector a run of RTP packets, each preceded by its
// length in one byte.
func FuzzRFC4733(f *testing.F) {
	var seed []byte
	for _, pkt := range slices.Concat(press(7, 100, 8000, 1), press(7, 120, 12000, 1), press(8, 0xFFFF, 0xFFFFFFF0, 11)) {
		b, err := pkt.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		seed = append(append(seed, byte(len(b))), b...)
	}
	f.Add(seed)
	f.Add([]byte{})
	f.Add([]byte{12, 0x80, 101, 0, 1, 0, 0, 0, 160, 0, 0, 0, 7})
	f.Fuzz(func(t *testing.T, data []byte) {
		var d DTMFDetector
		for len(data) > 0 {
			n := min(int(data[0]), len(data)-1)
			raw := data[1 : 1+n]
			data = data[1+n:]
			var pkt rtp.Packet
			if pkt.Unmarshal(raw) != nil {
				continue
			}
			key, ok, err := d.Feed(&pkt, testDTMFPT)
			if err != nil {
				if !errors.Is(err, ErrBadRFC4733) {
					t.Fatalf("Feed error %v does not wrap ErrBadRFC4733", err)
				}
				if ok || key != 0 {
					t.Fatalf("Feed = %q, %v with error %v", key, ok, err)
				}
				continue
			}
			if ok && strings.IndexByte(eventKeys, key) < 0 {
				t.Fatalf("Feed = %q, not one of 0-9 * #", key)
			}
			if !ok && key != 0 {
				t.Fatalf("Feed = %q without ok", key)
			}
			// The same packet again is never a new press.
			if key, ok, err := d.Feed(&pkt, testDTMFPT); ok || err != nil {
				t.Fatalf("Feed(same packet again) = %q, %v, %v; want no key", key, ok, err)
			}
		}
	})
}
