package sip

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// chunk builds a RIFF chunk, padded to an even size.
func chunk(id string, body []byte) []byte {
	b := binary.LittleEndian.AppendUint32([]byte(id), uint32(len(body)))
	b = append(b, body...)
	if len(body)%2 == 1 {
		b = append(b, 0)
	}
	return b
}

// riffWAVE builds a WAV file of the given chunks.
func riffWAVE(chunks ...[]byte) []byte {
	body := slices.Concat(append([][]byte{[]byte("WAVE")}, chunks...)...)
	return append(binary.LittleEndian.AppendUint32([]byte("RIFF"), uint32(len(body))), body...)
}

// fmtChunk builds a 16-byte fmt chunk with a consistent block align and
// byte rate.
func fmtChunk(format, channels uint16, rate uint32, bits uint16) []byte {
	align := channels * bits / 8
	b := binary.LittleEndian.AppendUint16(nil, format)
	b = binary.LittleEndian.AppendUint16(b, channels)
	b = binary.LittleEndian.AppendUint32(b, rate)
	b = binary.LittleEndian.AppendUint32(b, rate*uint32(align))
	b = binary.LittleEndian.AppendUint16(b, align)
	b = binary.LittleEndian.AppendUint16(b, bits)
	return chunk("fmt ", b)
}

// extensibleFmtChunk builds a 40-byte WAVE_FORMAT_EXTENSIBLE fmt chunk.
func extensibleFmtChunk(format uint16, bits uint16) []byte {
	b := fmtChunk(wavExtensible, 1, SampleRate, bits)[8:]
	b = binary.LittleEndian.AppendUint16(b, 22)     // cbSize
	b = binary.LittleEndian.AppendUint16(b, bits)   // valid bits
	b = binary.LittleEndian.AppendUint32(b, 0x4)    // channel mask: front centre
	b = binary.LittleEndian.AppendUint16(b, format) // SubFormat GUID ...
	b = append(b, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71)
	return chunk("fmt ", b)
}

// pcmData is a data chunk of 16-bit little-endian samples.
func pcmData(samples []int16) []byte {
	var b []byte
	for _, s := range samples {
		b = binary.LittleEndian.AppendUint16(b, uint16(s))
	}
	return chunk("data", b)
}

// tone is n samples of a 440 Hz sine wave at amplitude amp.
func tone(n int, amp float64) []int16 {
	s := make([]int16, n)
	for i := range s {
		s[i] = int16(amp * math.Sin(2*math.Pi*440*float64(i)/SampleRate))
	}
	return s
}

func TestLoadPromptPCM(t *testing.T) {
	samples := append(tone(1000, 30000), 0, -1, 32767, -32768)
	list := chunk("LIST", []byte("INFOISFT\x05\x00\x00\x00sox\x00\x00"))
	files := map[string][]byte{
		"plain":                      riffWAVE(fmtChunk(wavPCM, 1, 8000, 16), pcmData(samples)),
		"LIST before and after fmt":  riffWAVE(list, fmtChunk(wavPCM, 1, 8000, 16), chunk("fact", []byte{1, 2, 3}), pcmData(samples)),
		"extensible":                 riffWAVE(extensibleFmtChunk(wavPCM, 16), pcmData(samples)),
		"chunk after data not read":  riffWAVE(fmtChunk(wavPCM, 1, 8000, 16), pcmData(samples), binary.LittleEndian.AppendUint32([]byte("LIST"), 1<<30)),
		"fmt chunk of 18 bytes":      riffWAVE(chunk("fmt ", append(fmtChunk(wavPCM, 1, 8000, 16)[8:], 0, 0)), pcmData(samples)),
		"odd-sized chunk, padded":    riffWAVE(fmtChunk(wavPCM, 1, 8000, 16), chunk("junk", []byte{1, 2, 3, 4, 5}), pcmData(samples)),
		"RIFF size wrong (streamed)": append([]byte("RIFF\xff\xff\xff\xff"), riffWAVE(fmtChunk(wavPCM, 1, 8000, 16), pcmData(samples))[8:]...),
	}
	for name, file := range files {
		t.Run(name, func(t *testing.T) {
			p, err := LoadPrompt(bytes.NewReader(file))
			if err != nil {
				t.Fatalf("LoadPrompt: %v", err)
			}
			if p.Samples() != len(samples) {
				t.Fatalf("Samples() = %d, want %d", p.Samples(), len(samples))
			}
			for i, s := range samples {
				if p.ulaw[i] != EncodeMuLaw(s) || p.alaw[i] != EncodeALaw(s) {
					t.Fatalf("sample %d (%d): mu-law %#x, A-law %#x; want %#x, %#x",
						i, s, p.ulaw[i], p.alaw[i], EncodeMuLaw(s), EncodeALaw(s))
				}
			}
		})
	}
}

func TestLoadPromptMuLaw(t *testing.T) {
	audio := make([]byte, 256*3+7)
	for i := range audio {
		audio[i] = byte(i)
	}
	for name, file := range map[string][]byte{
		"plain":      riffWAVE(fmtChunk(wavMuLaw, 1, 8000, 8), chunk("data", audio)),
		"extensible": riffWAVE(extensibleFmtChunk(wavMuLaw, 8), chunk("data", audio)),
	} {
		t.Run(name, func(t *testing.T) {
			p, err := LoadPrompt(bytes.NewReader(file))
			if err != nil {
				t.Fatalf("LoadPrompt: %v", err)
			}
			if !bytes.Equal(p.ulaw, audio) {
				t.Errorf("mu-law audio changed in loading")
			}
			for i, u := range audio {
				if want := EncodeALaw(DecodeMuLaw(u)); p.alaw[i] != want {
					t.Fatalf("A-law of mu-law %#x = %#x, want %#x", u, p.alaw[i], want)
				}
			}
		})
	}
}

func TestLoadPromptDuration(t *testing.T) {
	p, err := LoadPrompt(bytes.NewReader(riffWAVE(fmtChunk(wavMuLaw, 1, 8000, 8), chunk("data", make([]byte, 12000)))))
	if err != nil {
		t.Fatal(err)
	}
	if p.Samples() != 12000 || p.Duration() != 1500*time.Millisecond {
		t.Errorf("Samples, Duration = %d, %v; want 12000, 1.5s", p.Samples(), p.Duration())
	}
}

// errAfter is a reader that fails once its data is read.
type errAfter struct{ r io.Reader }

func (e errAfter) Read(b []byte) (int, error) {
	n, err := e.r.Read(b)
	if err == io.EOF {
		err = errors.New("read past the data chunk")
	}
	return n, err
}

func TestLoadPromptStopsAtData(t *testing.T) {
	file := riffWAVE(fmtChunk(wavMuLaw, 1, 8000, 8), chunk("data", make([]byte, 320)))
	if _, err := LoadPrompt(errAfter{bytes.NewReader(file)}); err != nil {
		t.Fatalf("LoadPrompt read past the data chunk: %v", err)
	}
}

func TestLoadPromptMaxSize(t *testing.T) {
	fmtMu := fmtChunk(wavMuLaw, 1, 8000, 8)
	if _, err := LoadPrompt(bytes.NewReader(riffWAVE(fmtMu, chunk("data", make([]byte, maxPromptSamples))))); err != nil {
		t.Errorf("LoadPrompt(%d samples of mu-law): %v", maxPromptSamples, err)
	}
	if _, err := LoadPrompt(bytes.NewReader(riffWAVE(fmtMu, chunk("data", make([]byte, maxPromptSamples+1))))); !errors.Is(err, ErrBadPrompt) {
		t.Errorf("LoadPrompt(%d samples of mu-law) error = %v, want ErrBadPrompt", maxPromptSamples+1, err)
	}
	fmtPCM := fmtChunk(wavPCM, 1, 8000, 16)
	if _, err := LoadPrompt(bytes.NewReader(riffWAVE(fmtPCM, chunk("data", make([]byte, 2*maxPromptSamples))))); err != nil {
		t.Errorf("LoadPrompt(%d samples of PCM): %v", maxPromptSamples, err)
	}
}

func TestLoadPromptErrors(t *testing.T) {
	fmtPCM := fmtChunk(wavPCM, 1, 8000, 16)
	data := pcmData(tone(320, 1000))
	badAlign := fmtChunk(wavPCM, 1, 8000, 16)
	badAlign[8+12] = 4
	shortExt := extensibleFmtChunk(wavPCM, 16)
	binary.LittleEndian.PutUint16(shortExt[8+16:], 0)
	hugeData := binary.LittleEndian.AppendUint32([]byte("data"), 0xFFFFFFF0)
	tests := []struct {
		name string
		file []byte
		want string // in the error
	}{
		{"empty", nil, "riff header"},
		{"short header", []byte("RIFF\x00\x00"), "riff header"},
		{"RIFX", append([]byte("RIFX"), riffWAVE(fmtPCM, data)[4:]...), "not a RIFF WAVE"},
		{"AVI", append(riffWAVE()[:8], "AVI "...), "not a RIFF WAVE"},
		{"no chunks", riffWAVE(), "no data chunk"},
		{"no data chunk", riffWAVE(fmtPCM), "no data chunk"},
		{"data before fmt", riffWAVE(data, fmtPCM), "data chunk before fmt"},
		{"two fmt chunks", riffWAVE(fmtPCM, fmtPCM, data), "two fmt"},
		{"truncated chunk header", riffWAVE(fmtPCM, []byte("dat")), "chunk header"},
		{"truncated fmt chunk", riffWAVE(fmtPCM[:12]), "read fmt chunk"},
		{"fmt chunk too small", riffWAVE(chunk("fmt ", fmtPCM[8:22]), data), "fmt chunk of 14 bytes"},
		{"fmt chunk too big", riffWAVE(chunk("fmt ", make([]byte, 100)), data), "fmt chunk of 100 bytes"},
		{"stereo", riffWAVE(fmtChunk(wavPCM, 2, 8000, 16), data), "2 channels"},
		{"no channels", riffWAVE(fmtChunk(wavPCM, 0, 8000, 16), data), "0 channels"},
		{"16 kHz", riffWAVE(fmtChunk(wavPCM, 1, 16000, 16), data), "16000 Hz"},
		{"44.1 kHz mu-law", riffWAVE(fmtChunk(wavMuLaw, 1, 44100, 8), data), "44100 Hz"},
		{"8-bit PCM", riffWAVE(fmtChunk(wavPCM, 1, 8000, 8), data), "8-bit PCM"},
		{"24-bit PCM", riffWAVE(fmtChunk(wavPCM, 1, 8000, 24), data), "24-bit PCM"},
		{"16-bit mu-law", riffWAVE(fmtChunk(wavMuLaw, 1, 8000, 16), data), "16-bit mu-law"},
		{"A-law", riffWAVE(fmtChunk(6, 1, 8000, 8), data), "format 0x6"},
		{"float", riffWAVE(fmtChunk(3, 1, 8000, 32), data), "format 0x3"},
		{"GSM", riffWAVE(fmtChunk(0x31, 1, 8000, 0), data), "format 0x31"},
		{"block align wrong", riffWAVE(badAlign, data), "block align 4"},
		{"extensible cbSize 0", riffWAVE(shortExt, data), "extensible"},
		{"extensible A-law", riffWAVE(extensibleFmtChunk(6, 8), data), "format 0x6"},
		{"no audio", riffWAVE(fmtPCM, chunk("data", nil)), "no audio"},
		{"PCM odd size", riffWAVE(fmtPCM, chunk("data", make([]byte, 321))), "whole number"},
		{"data truncated", riffWAVE(fmtPCM, data[:100]), "truncated at 92 of 640"},
		{"data chunk huge", riffWAVE(fmtPCM, hugeData), "is over"},
		{"mu-law over the cap", riffWAVE(fmtChunk(wavMuLaw, 1, 8000, 8), binary.LittleEndian.AppendUint32([]byte("data"), maxPromptSamples+1)), "is over"},
		{"LIST chunk huge", riffWAVE(binary.LittleEndian.AppendUint32([]byte("LIST"), 1<<31), fmtPCM, data), "\"LIST\" chunk"},
		{"LIST chunk truncated", riffWAVE(fmtPCM, binary.LittleEndian.AppendUint32([]byte("LIST"), 1000)), "skip \"LIST\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := LoadPrompt(bytes.NewReader(tt.file))
			if !errors.Is(err, ErrBadPrompt) {
				t.Fatalf("LoadPrompt error = %v, want ErrBadPrompt", err)
			}
			if p != nil {
				t.Errorf("LoadPrompt returned a prompt with error %v", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("LoadPrompt error %q does not say %q", err, tt.want)
			}
		})
	}
}

func TestG711KnownValues(t *testing.T) {
	// Linear 0 is each law's silence; full scale is each law's loudest code.
	// The rest agree with SoX's (Sun's) g711.c, except mu-law -100: G.191
	// takes a negative sample in one's complement (magnitude 99, not 100),
	// which at a step boundary is one step nearer zero.
	tests := []struct {
		linear int16
		ulaw   byte
		alaw   byte
	}{
		{0, 0xFF, 0xD5},
		{-1, 0x7F, 0x55},
		{100, 0xF2, 0xD3},
		{-100, 0x73, 0x53},
		{1000, 0xCE, 0xFA},
		{-1000, 0x4E, 0x7A},
		{5000, 0xAB, 0x86},
		{-5000, 0x2B, 0x06},
		{12345, 0x97, 0xBD},
		{-12345, 0x17, 0x3D},
		{32000, 0x80, 0xAA},
		{-32000, 0x00, 0x2A},
		{32767, 0x80, 0xAA},
		{-32768, 0x00, 0x2A},
	}
	for _, tt := range tests {
		if got := EncodeMuLaw(tt.linear); got != tt.ulaw {
			t.Errorf("EncodeMuLaw(%d) = %#x, want %#x", tt.linear, got, tt.ulaw)
		}
		if got := EncodeALaw(tt.linear); got != tt.alaw {
			t.Errorf("EncodeALaw(%d) = %#x, want %#x", tt.linear, got, tt.alaw)
		}
	}
	decodes := []struct {
		code       byte
		ulaw, alaw int16
	}{
		{0xFF, 0, 848}, // mu-law silence
		{0x7F, 0, -848},
		{0xD5, 716, 8}, // A-law silence: its smallest positive value
		{0x55, -716, -8},
		{0x80, 32124, 5504},
		{0x00, -32124, -5504},
		{0xAA, 5372, 32256},
		{0x2A, -5372, -32256},
	}
	for _, tt := range decodes {
		if got := DecodeMuLaw(tt.code); got != tt.ulaw {
			t.Errorf("DecodeMuLaw(%#x) = %d, want %d", tt.code, got, tt.ulaw)
		}
		if got := DecodeALaw(tt.code); got != tt.alaw {
			t.Errorf("DecodeALaw(%#x) = %d, want %d", tt.code, got, tt.alaw)
		}
	}
}

func TestG711RoundTrip(t *testing.T) {
	laws := []struct {
		name   string
		encode func(int16) byte
		decode func(byte) int16
		// Half the largest step plus the encoder's truncation of the low
		// bits; both laws quantize to about 3% of the signal.
		small int
		clip  int // above this the law saturates
	}{
		{"mu-law", EncodeMuLaw, DecodeMuLaw, 8, 32124},
		{"A-law", EncodeALaw, DecodeALaw, 16, 32256},
	}
	for _, law := range laws {
		t.Run(law.name, func(t *testing.T) {
			prev := math.MinInt
			for x := math.MinInt16; x <= math.MaxInt16; x++ {
				y := int(law.decode(law.encode(int16(x))))
				if y < prev {
					t.Fatalf("not monotonic: %d decodes to %d, below %d", x, y, prev)
				}
				prev = y
				limit := law.small + abs(x)/32
				if abs(x) > law.clip {
					limit = abs(x) - law.clip + law.small
				}
				if d := abs(x - y); d > limit {
					t.Fatalf("%d round-trips to %d: off by %d, over %d", x, y, d, limit)
				}
			}
			// Every code's value is reproduced: decoding is the inverse of
			// encoding on the codec's own values.
			for c := range 256 {
				v := law.decode(byte(c))
				if got := law.decode(law.encode(v)); got != v {
					t.Errorf("code %#x: %d round-trips to %d", c, v, got)
				}
			}
		})
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// testPrompt is n samples of a tone, loaded from a generated WAV file.
func testPrompt(t *testing.T, n int) *Prompt {
	t.Helper()
	p, err := LoadPrompt(bytes.NewReader(riffWAVE(fmtChunk(wavPCM, 1, 8000, 16), pcmData(tone(n, 8000)))))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNewPacketizerRejectsPayloadType(t *testing.T) {
	for _, pt := range []uint8{3, 9, 18, 101} {
		if _, err := NewPacketizer(PacketizerParams{PayloadType: pt}); err == nil {
			t.Errorf("NewPacketizer(PT %d) did not fail", pt)
		}
	}
}

func TestPacketizer(t *testing.T) {
	for _, tt := range []struct {
		name    string
		pt      uint8
		silence byte
	}{
		{"PCMU", PayloadPCMU, 0xFF},
		{"PCMA", PayloadPCMA, 0xD5},
	} {
		t.Run(tt.name, func(t *testing.T) {
			const ssrc = 0xCAFEF00D
			z, err := NewPacketizer(PacketizerParams{PayloadType: tt.pt, SSRC: ssrc, Seq: 0xFFFE, Timestamp: 0xFFFFFF00})
			if err != nil {
				t.Fatal(err)
			}
			first := testPrompt(t, 400) // 2.5 frames
			second := testPrompt(t, 320)
			pkts := slices.Concat(slices.Collect(z.Packets(first)), slices.Collect(z.Packets(second)))
			if len(pkts) != 5 {
				t.Fatalf("%d packets, want 3 + 2", len(pkts))
			}
			wantSeq := []uint16{0xFFFE, 0xFFFF, 0, 1, 2}
			wantTS := []uint32{0xFFFFFF00, 0xFFFFFFA0, 0x40, 0xE0, 0x180}
			wantMarker := []bool{true, false, false, true, false}
			for i, pkt := range pkts {
				h := pkt.Header
				if h.Version != 2 || h.PayloadType != tt.pt || h.SSRC != ssrc {
					t.Errorf("packet %d: version %d, PT %d, SSRC %#x; want 2, %d, %#x", i, h.Version, h.PayloadType, h.SSRC, tt.pt, ssrc)
				}
				if h.SequenceNumber != wantSeq[i] || h.Timestamp != wantTS[i] || h.Marker != wantMarker[i] {
					t.Errorf("packet %d: seq %#x ts %#x marker %v; want %#x %#x %v",
						i, h.SequenceNumber, h.Timestamp, h.Marker, wantSeq[i], wantTS[i], wantMarker[i])
				}
				if len(pkt.Payload) != FrameSamples || cap(pkt.Payload) != FrameSamples {
					t.Errorf("packet %d: payload len %d cap %d, want %d", i, len(pkt.Payload), cap(pkt.Payload), FrameSamples)
				}
				b, err := pkt.Marshal()
				if err != nil || len(b) != 12+FrameSamples {
					t.Errorf("packet %d: Marshal = %d bytes, %v; want %d", i, len(b), err, 12+FrameSamples)
				}
			}
			audio := first.payload(tt.pt)
			got := slices.Concat(pkts[0].Payload, pkts[1].Payload, pkts[2].Payload)
			if !bytes.Equal(got[:400], audio) {
				t.Errorf("first prompt's payloads are not its audio")
			}
			if pad := got[400:]; !bytes.Equal(pad, bytes.Repeat([]byte{tt.silence}, 80)) {
				t.Errorf("last frame padded with % x, want 80 × %#x", pad, tt.silence)
			}
			if !bytes.Equal(slices.Concat(pkts[3].Payload, pkts[4].Payload), second.payload(tt.pt)) {
				t.Errorf("second prompt's payloads are not its audio")
			}
		})
	}
}

func TestPacketizerBargeIn(t *testing.T) {
	z, err := NewPacketizer(PacketizerParams{PayloadType: PayloadPCMU, SSRC: 1, Seq: 100, Timestamp: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var sent []*rtp.Packet
	for pkt := range z.Packets(testPrompt(t, 8000)) {
		sent = append(sent, pkt)
		if len(sent) == 2 {
			break // a digit came in
		}
	}
	next := slices.Collect(z.Packets(testPrompt(t, 160)))
	if len(next) != 1 {
		t.Fatalf("%d packets for one frame", len(next))
	}
	if h := next[0].Header; h.SequenceNumber != 102 || h.Timestamp != 1320 || !h.Marker {
		t.Errorf("after barge-in: seq %d ts %d marker %v; want 102 1320 true", h.SequenceNumber, h.Timestamp, h.Marker)
	}
}

func TestPacketizerIdle(t *testing.T) {
	z, err := NewPacketizer(PacketizerParams{PayloadType: PayloadPCMA, SSRC: 1, Seq: 7, Timestamp: 0xFFFFFF00})
	if err != nil {
		t.Fatal(err)
	}
	for range z.Packets(testPrompt(t, 160)) {
	}
	z.Idle(1500 * time.Millisecond)
	z.Idle(-time.Second) // no effect
	pkts := slices.Collect(z.Packets(testPrompt(t, 160)))
	const want = (0xFFFFFF00 + 160 + 12000) % (1 << 32)
	if h := pkts[0].Header; h.SequenceNumber != 8 || h.Timestamp != want {
		t.Errorf("after 1.5 s idle: seq %d ts %#x; want 8 %#x", h.SequenceNumber, h.Timestamp, want)
	}
}

func FuzzLoadPrompt(f *testing.F) {
	f.Add(riffWAVE(fmtChunk(wavPCM, 1, 8000, 16), pcmData(tone(200, 1000))))
	f.Add(riffWAVE(fmtChunk(wavMuLaw, 1, 8000, 8), chunk("data", []byte{0xFF, 0x7F, 0x00, 0x80})))
	f.Add(riffWAVE(extensibleFmtChunk(wavPCM, 16), pcmData(tone(10, 1000))))
	f.Add(riffWAVE(chunk("LIST", []byte("INFO")), fmtChunk(wavPCM, 2, 44100, 16), pcmData(tone(4, 1))))
	f.Fuzz(func(t *testing.T, file []byte) {
		p, err := LoadPrompt(bytes.NewReader(file))
		if err != nil {
			if !errors.Is(err, ErrBadPrompt) {
				t.Fatalf("LoadPrompt error %v does not wrap ErrBadPrompt", err)
			}
			if p != nil {
				t.Fatalf("LoadPrompt returned a prompt with error %v", err)
			}
			return
		}
		n := p.Samples()
		if n < 1 || n > maxPromptSamples || len(p.alaw) != n || n > len(file) {
			t.Fatalf("prompt of %d mu-law and %d A-law samples from a %d-byte file", n, len(p.alaw), len(file))
		}
		z, err := NewPacketizer(PacketizerParams{PayloadType: PayloadPCMA})
		if err != nil {
			t.Fatal(err)
		}
		count := 0
		for pkt := range z.Packets(p) {
			if len(pkt.Payload) != FrameSamples {
				t.Fatalf("payload of %d bytes", len(pkt.Payload))
			}
			count++
		}
		if want := (n + FrameSamples - 1) / FrameSamples; count != want {
			t.Fatalf("%d packets for %d samples, want %d", count, n, want)
		}
	})
}
