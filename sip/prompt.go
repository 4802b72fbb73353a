package sip

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"iter"
	"time"

	"github.com/pion/rtp"
)

// Prompts are 8 kHz mono G.711, sent in 20 ms RTP frames.
const (
	SampleRate    = 8000
	FrameSamples  = 160 // samples, and timestamp units, per frame
	FrameDuration = 20 * time.Millisecond
)

// G.711 payload types (RFC 3551).
const (
	PayloadPCMU uint8 = 0
	PayloadPCMA uint8 = 8
)

// maxPromptSamples caps a prompt at 2 MiB of G.711: 262 s of audio.
const maxPromptSamples = 2 << 20

// maxWAVChunk caps a chunk before the audio (LIST, fact, ...); real ones hold
// a few tags.
const maxWAVChunk = 64 << 10

// ErrBadPrompt marks a prompt file we cannot play.
var ErrBadPrompt = errors.New("bad prompt")

// WAV format tags.
const (
	wavPCM        = 1
	wavMuLaw      = 7
	wavExtensible = 0xFFFE
)

// Prompt is audio ready to send, held in both G.711 laws so a call with
// either codec plays it without work. A Prompt never changes once loaded
// and can be shared by all calls.
type Prompt struct {
	ulaw []byte
	alaw []byte
}

// LoadPrompt reads a WAV file: 8000 Hz mono, G.711 mu-law (format 7) or
// 16-bit PCM (format 1), at most 2 MiB of audio. Anything else is an error
// wrapping ErrBadPrompt that says what was found. Chunks after the audio are
// not read.
func LoadPrompt(r io.Reader) (*Prompt, error) {
	var riff [12]byte
	if _, err := io.ReadFull(r, riff[:]); err != nil {
		return nil, fmt.Errorf("%w: read riff header: %v", ErrBadPrompt, noEOF(err))
	}
	if string(riff[0:4]) != "RIFF" || string(riff[8:12]) != "WAVE" {
		return nil, fmt.Errorf("%w: not a RIFF WAVE file", ErrBadPrompt)
	}
	var (
		format  uint16
		haveFmt bool
	)
	for {
		var hdr [8]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if err == io.EOF {
				return nil, fmt.Errorf("%w: no data chunk", ErrBadPrompt)
			}
			return nil, fmt.Errorf("%w: read chunk header: %v", ErrBadPrompt, noEOF(err))
		}
		id, size := string(hdr[0:4]), binary.LittleEndian.Uint32(hdr[4:8])
		switch id {
		case "fmt ":
			if haveFmt {
				return nil, fmt.Errorf("%w: two fmt chunks", ErrBadPrompt)
			}
			if size < 16 || size > 40 {
				return nil, fmt.Errorf("%w: fmt chunk of %d bytes, want 16 to 40", ErrBadPrompt, size)
			}
			body := make([]byte, size+size%2)
			if _, err := io.ReadFull(r, body); err != nil {
				return nil, fmt.Errorf("%w: read fmt chunk: %v", ErrBadPrompt, noEOF(err))
			}
			f, err := parseWAVFormat(body[:size])
			if err != nil {
				return nil, err
			}
			format, haveFmt = f, true
		case "data":
			if !haveFmt {
				return nil, fmt.Errorf("%w: data chunk before fmt chunk", ErrBadPrompt)
			}
			return readWAVData(r, format, size)
		default:
			if size > maxWAVChunk {
				return nil, fmt.Errorf("%w: %q chunk of %d bytes is over %d", ErrBadPrompt, id, size, maxWAVChunk)
			}
			if _, err := io.CopyN(io.Discard, r, int64(size)+int64(size%2)); err != nil {
				return nil, fmt.Errorf("%w: skip %q chunk: %v", ErrBadPrompt, id, noEOF(err))
			}
		}
	}
}

// parseWAVFormat checks a fmt chunk and returns its format: wavPCM or
// wavMuLaw.
func parseWAVFormat(b []byte) (uint16, error) {
	le := binary.LittleEndian
	format, channels, rate := le.Uint16(b[0:]), le.Uint16(b[2:]), le.Uint32(b[4:])
	byteRate, blockAlign, bits := le.Uint32(b[8:]), le.Uint16(b[12:]), le.Uint16(b[14:])
	if format == wavExtensible {
		// WAVE_FORMAT_EXTENSIBLE: the real tag opens the SubFormat GUID.
		if len(b) < 40 || le.Uint16(b[16:]) < 22 {
			return 0, fmt.Errorf("%w: extensible fmt chunk of %d bytes, want 40", ErrBadPrompt, len(b))
		}
		format = le.Uint16(b[24:])
	}
	if channels != 1 {
		return 0, fmt.Errorf("%w: %d channels, want mono", ErrBadPrompt, channels)
	}
	if rate != SampleRate {
		return 0, fmt.Errorf("%w: %d Hz, want %d", ErrBadPrompt, rate, SampleRate)
	}
	var width uint16
	switch format {
	case wavPCM:
		if bits != 16 {
			return 0, fmt.Errorf("%w: %d-bit PCM, want 16-bit", ErrBadPrompt, bits)
		}
		width = 2
	case wavMuLaw:
		if bits != 8 {
			return 0, fmt.Errorf("%w: %d-bit mu-law, want 8-bit", ErrBadPrompt, bits)
		}
		width = 1
	default:
		return 0, fmt.Errorf("%w: format %#x, want 16-bit PCM (1) or mu-law (7)", ErrBadPrompt, format)
	}
	if blockAlign != width || byteRate != SampleRate*uint32(width) {
		return 0, fmt.Errorf("%w: block align %d and byte rate %d do not fit %d-byte samples at %d Hz",
			ErrBadPrompt, blockAlign, byteRate, width, SampleRate)
	}
	return format, nil
}

// readWAVData reads the audio of a data chunk of size bytes.
func readWAVData(r io.Reader, format uint16, size uint32) (*Prompt, error) {
	width := uint32(1)
	if format == wavPCM {
		width = 2
	}
	if size == 0 {
		return nil, fmt.Errorf("%w: no audio", ErrBadPrompt)
	}
	if size%width != 0 {
		return nil, fmt.Errorf("%w: data chunk of %d bytes is not a whole number of %d-byte samples", ErrBadPrompt, size, width)
	}
	if size/width > maxPromptSamples {
		return nil, fmt.Errorf("%w: %d samples (%s) is over %d", ErrBadPrompt, size/width,
			time.Duration(size/width)*time.Second/SampleRate, maxPromptSamples)
	}
	data := make([]byte, size)
	if n, err := io.ReadFull(r, data); err != nil {
		return nil, fmt.Errorf("%w: data chunk truncated at %d of %d bytes", ErrBadPrompt, n, size)
	}
	p := &Prompt{}
	if format == wavMuLaw {
		p.ulaw = data
		p.alaw = make([]byte, len(data))
		for i, u := range data {
			p.alaw[i] = EncodeALaw(DecodeMuLaw(u))
		}
		return p, nil
	}
	n := len(data) / 2
	p.ulaw, p.alaw = make([]byte, n), make([]byte, n)
	for i := range n {
		s := int16(binary.LittleEndian.Uint16(data[2*i:]))
		p.ulaw[i], p.alaw[i] = EncodeMuLaw(s), EncodeALaw(s)
	}
	return p, nil
}

// noEOF turns a bare EOF, which reads as success to some, into
// io.ErrUnexpectedEOF: a WAV file that stops early is truncated.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Samples is the prompt's length in samples.
func (p *Prompt) Samples() int { return len(p.ulaw) }

// MuLaw is the prompt's audio as G.711 mu-law bytes (shared: do not modify).
func (p *Prompt) MuLaw() []byte { return p.ulaw }

// Duration is how long the prompt plays.
func (p *Prompt) Duration() time.Duration {
	return time.Duration(len(p.ulaw)) * time.Second / SampleRate
}

// payload is the prompt in the law of a G.711 payload type.
func (p *Prompt) payload(pt uint8) []byte {
	if pt == PayloadPCMA {
		return p.alaw
	}
	return p.ulaw
}

// G.711 as ITU-T G.191 codes it (g711.c): 16-bit linear samples in, the
// top 14 bits (mu-law) or 13 bits (A-law) used, negative values taken in
// one's complement. The silence codes are what linear 0 encodes to.
const (
	muLawSilence byte = 0xFF
	aLawSilence  byte = 0xD5
)

// EncodeMuLaw encodes a 16-bit linear sample as G.711 mu-law.
func EncodeMuLaw(s int16) byte {
	x := int32(s)
	if x < 0 {
		x = ^x
	}
	abs := x>>2 + 33 // 14-bit magnitude plus the bias
	if abs > 0x1FFF {
		abs = 0x1FFF
	}
	seg := int32(1)
	for i := abs >> 6; i != 0; i >>= 1 {
		seg++
	}
	out := byte(8-seg)<<4 | byte(0xF-(abs>>seg)&0xF)
	if s >= 0 {
		out |= 0x80
	}
	return out
}

// DecodeMuLaw decodes a G.711 mu-law byte to a 16-bit linear sample.
func DecodeMuLaw(u byte) int16 {
	m := int32(^u)
	exp := (m >> 4) & 0x7
	step := int32(4) << (exp + 1)
	v := int32(0x80)<<exp + step*(m&0xF) + step/2 - 4*33
	if u < 0x80 {
		v = -v
	}
	return int16(v)
}

// EncodeALaw encodes a 16-bit linear sample as G.711 A-law.
func EncodeALaw(s int16) byte {
	x := int32(s)
	if x < 0 {
		x = ^x
	}
	x >>= 4 // 12-bit magnitude
	if x > 15 {
		exp := int32(1)
		for x > 16+15 {
			x >>= 1
			exp++
		}
		x += (exp - 1) << 4 // the mantissa's leading 1 (16) becomes exp<<4
	}
	out := byte(x)
	if s >= 0 {
		out |= 0x80
	}
	return out ^ 0x55
}

// DecodeALaw decodes a G.711 A-law byte to a 16-bit linear sample.
func DecodeALaw(a byte) int16 {
	x := int32(a ^ 0x55)
	exp := (x & 0x7F) >> 4
	m := x & 0xF
	if exp > 0 {
		m += 16
	}
	m = m<<4 + 8
	if exp > 1 {
		m <<= exp - 1
	}
	if x < 0x80 {
		m = -m
	}
	return int16(m)
}

// PacketizerParams fixes an outbound RTP stream.
type PacketizerParams struct {
	PayloadType uint8  // PayloadPCMU or PayloadPCMA
	SSRC        uint32 // fixed for the call
	Seq         uint16 // of the first packet; random, per RFC 3550
	Timestamp   uint32 // of the first packet; random, per RFC 3550
}

// Packetizer cuts prompts into 20 ms RTP packets for one call. Sequence
// numbers and timestamps go on from one prompt to the next; each prompt is
// a talkspurt whose first packet has the marker bit. A Packetizer is not
// safe for concurrent use.
//
// Pacing is the caller's: it sends packet i of a prompt at
// start + i*FrameDuration, each deadline reckoned from start rather than
// from the previous send, so the schedule does not drift:
//
//	start, i := time.Now(), 0
//	for pkt := range z.Packets(prompt) {
//		// wait until start.Add(time.Duration(i) * FrameDuration), then send pkt
//		i++
//		// a digit in? break: barge-in
//	}
type Packetizer struct {
	pt      uint8
	ssrc    uint32
	seq     uint16
	ts      uint32
	silence byte
}

// NewPacketizer starts an RTP stream. The payload type must be PCMU (0) or
// PCMA (8).
func NewPacketizer(p PacketizerParams) (*Packetizer, error) {
	var silence byte
	switch p.PayloadType {
	case PayloadPCMU:
		silence = muLawSilence
	case PayloadPCMA:
		silence = aLawSilence
	default:
		return nil, fmt.Errorf("new packetizer: payload type %d is not PCMU (0) or PCMA (8)", p.PayloadType)
	}
	return &Packetizer{pt: p.PayloadType, ssrc: p.SSRC, seq: p.Seq, ts: p.Timestamp, silence: silence}, nil
}

// Packets yields the prompt as RTP packets, one per 20 ms frame, the last
// padded with silence. The stream moves on as each packet is yielded, so
// break out of the loop after sending a packet, not between taking one and
// sending it, or a sequence number goes unused. A payload may share memory
// with the prompt: do not change it.
func (z *Packetizer) Packets(p *Prompt) iter.Seq[*rtp.Packet] {
	return func(yield func(*rtp.Packet) bool) {
		audio := p.payload(z.pt)
		for off := 0; off < len(audio); off += FrameSamples {
			end := min(off+FrameSamples, len(audio))
			frame := audio[off:end:end] // an append cannot reach the next frame
			if len(frame) < FrameSamples {
				padded := make([]byte, FrameSamples)
				n := copy(padded, frame)
				for i := n; i < FrameSamples; i++ {
					padded[i] = z.silence
				}
				frame = padded
			}
			pkt := &rtp.Packet{
				Header: rtp.Header{
					Version:        2,
					Marker:         off == 0,
					PayloadType:    z.pt,
					SequenceNumber: z.seq,
					Timestamp:      z.ts,
					SSRC:           z.ssrc,
				},
				Payload: frame,
			}
			z.seq++
			z.ts += FrameSamples
			if !yield(pkt) {
				return
			}
		}
	}
}

// Idle moves the timestamp on over a pause of d between prompts, so that
// timestamps keep pace with the clock as RFC 3550 asks; sequence numbers
// do not move, since nothing was sent. Calling it is optional: without it
// the next prompt's timestamps follow on from the last packet sent.
func (z *Packetizer) Idle(d time.Duration) {
	if d > 0 {
		z.ts += uint32(d / (time.Second / SampleRate)) // mod 2^32, as timestamps wrap
	}
}
