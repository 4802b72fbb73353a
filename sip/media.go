package sip

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// media is one call's RTP session: it reads the caller's packets for RFC
// 4733 DTMF and plays prompts to the caller with exact 20 ms pacing.
type media struct {
	conn net.PacketConn
	log  zerolog.Logger
	keys chan<- byte // the call's one digit stream

	// signalling is the address the INVITE came from: behind NAT the
	// caller's media comes from there, not from the SDP's address.
	signalling netip.Addr
	// dropped counts packets from sources we do not take media from.
	dropped prometheus.Counter

	mu       sync.Mutex
	remote   net.Addr     // where prompts go: the SDP's address, then the latched source
	sdpAddr  *net.UDPAddr // the address in the peer's SDP
	latched  bool
	pt       uint8
	dtmfPT   int // -1: none negotiated
	ready    bool
	mute     bool // our direction is recvonly or inactive: send nothing (RFC 3264 5.1)
	packets  *Packetizer
	detector DTMFDetector
	offer    mediaOffer // the last SDP agreed: codec, telephone-event

	// peer is the other leg of a bridged call: what we receive is relayed
	// to it unchanged (headers, SSRC, DTMF events and all), not read.
	peer atomic.Pointer[media]
	// relayed counts the packets relayed to peer.
	relayed prometheus.Counter
}

// openMedia binds an RTP port from [lo, hi] on host: an even port (RTP,
// RFC 3550 11), drawn at random, then, when 20 draws were taken, every even
// port in turn from a random one, so a busy range still yields a free port
// if it has one.
func openMedia(host string, lo, hi int, keys chan<- byte, log zerolog.Logger) (*media, error) {
	var lastErr error
	// configs ensures hi > lo, so the range holds an even port.
	first, last := lo+lo%2, hi-hi%2
	n := (last-first)/2 + 1
	try := func(port int) *media {
		conn, err := net.ListenPacket("udp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			lastErr = err
			return nil
		}
		return &media{conn: conn, keys: keys, log: log, dtmfPT: -1}
	}
	for attempt := 0; attempt < 20; attempt++ {
		if m := try(first + 2*rand.IntN(n)); m != nil {
			return m, nil
		}
	}
	start := rand.IntN(n)
	for i := range n {
		if m := try(first + 2*((start+i)%n)); m != nil {
			return m, nil
		}
	}
	return nil, fmt.Errorf("no free rtp port in %d-%d: %w", lo, hi, lastErr)
}

// Port is the local RTP port.
func (m *media) Port() int { return m.conn.LocalAddr().(*net.UDPAddr).Port }

// negotiated sets the codec and the caller's address once SDP is agreed.
func (m *media) negotiated(n mediaOffer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pt, m.dtmfPT, m.offer = n.codec.pt, n.dtmfPT, n
	m.mute = !n.direction.answer().sends()
	if n.remoteAddr != "" && n.remotePort > 0 {
		if addr, err := net.ResolveUDPAddr("udp", net.JoinHostPort(n.remoteAddr, strconv.Itoa(n.remotePort))); err == nil {
			if m.sdpAddr == nil || !addr.IP.Equal(m.sdpAddr.IP) || addr.Port != m.sdpAddr.Port {
				// New media address (first SDP, or moved by a re-INVITE):
				// latch afresh.
				m.sdpAddr, m.remote, m.latched = addr, addr, false
			}
		}
	}
	if m.packets == nil {
		// The audio follows the codec's name; the header carries whatever
		// payload type the SDP gave it (see Play).
		audio := PayloadPCMU
		if n.codec.name == "PCMA" {
			audio = PayloadPCMA
		}
		m.packets, _ = NewPacketizer(PacketizerParams{PayloadType: audio, SSRC: rand.Uint32(),
			Seq: uint16(rand.Uint32()), Timestamp: rand.Uint32()})
	}
	m.ready = true
}

// accept says whether media from from is the caller's (symmetric RTP, RFC
// 4961, with latching): once latched, only from the latched address; before
// that, from the SDP's IP address or, behind NAT, from the IP address the
// INVITE came from, and the first such packet latches its address, which
// is where prompts go from then on. m.mu is held.
func (m *media) accept(from net.Addr) bool {
	ua, ok := from.(*net.UDPAddr)
	if !ok {
		return false
	}
	if m.latched {
		r, ok := m.remote.(*net.UDPAddr)
		return ok && r.Port == ua.Port && r.IP.Equal(ua.IP)
	}
	ip, _ := netip.AddrFromSlice(ua.IP)
	ip = ip.Unmap()
	if (m.sdpAddr != nil && m.sdpAddr.IP.Equal(ua.IP)) || (m.signalling.IsValid() && ip == m.signalling) {
		m.remote, m.latched = ua, true
		return true
	}
	return false
}

// read handles the caller's RTP until the socket is closed: DTMF events go
// to the digit stream. Packets from other sources than the caller's (see
// accept) are counted and dropped: a third party cannot press keys in the
// call nor draw its prompts.
func (m *media) read() {
	buf := make([]byte, 1500)
	var pkt rtp.Packet
	for {
		n, from, err := m.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		m.mu.Lock()
		if !m.accept(from) {
			m.mu.Unlock()
			if m.dropped != nil {
				m.dropped.Inc()
			}
			continue
		}
		m.mu.Unlock()
		if p := m.peer.Load(); p != nil {
			// Bridged: the other phone hears this phone, keys included.
			if p.forward(buf[:n]) && m.relayed != nil {
				m.relayed.Inc()
			}
			continue
		}
		if err := pkt.Unmarshal(buf[:n]); err != nil {
			continue // not RTP: dropped
		}
		m.mu.Lock()
		dtmfPT := m.dtmfPT
		var key byte
		var ok bool
		if dtmfPT >= 0 && int(pkt.PayloadType) == dtmfPT {
			key, ok, err = m.detector.Feed(&pkt, uint8(dtmfPT))
		}
		m.mu.Unlock()
		if err != nil {
			m.log.Debug().Err(err).Msg("rtp dtmf dropped")
			continue
		}
		if ok {
			select {
			case m.keys <- key:
			default:
				m.log.Warn().Msg("digit dropped: the caller types faster than the menu reads")
			}
		}
	}
}

// Play sends the prompts in order, one 20 ms frame at a time on an absolute
// schedule (no drift), until they end (true) or ctx ends (false: barge-in
// or hang-up).
func (m *media) Play(ctx context.Context, prompts ...*Prompt) bool {
	m.mu.Lock()
	ready, z := m.ready, m.packets
	m.mu.Unlock()
	if !ready {
		return true // no media agreed (late offer without answer yet): nothing to play
	}
	start := time.Now()
	i := 0
	buf := make([]byte, 0, 12+FrameSamples)
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for _, p := range prompts {
		for pkt := range z.Packets(p) {
			if d := time.Until(start.Add(time.Duration(i) * FrameDuration)); d > 0 {
				timer.Reset(d)
				select {
				case <-ctx.Done():
					return false
				case <-timer.C:
				}
			} else if ctx.Err() != nil {
				return false
			}
			m.mu.Lock()
			pkt.PayloadType = m.pt
			remote, mute := m.remote, m.mute
			m.mu.Unlock()
			// On hold the prompt runs on in silence, so the menu's timing
			// stays as it was.
			if remote != nil && !mute {
				b, err := pkt.Header.MarshalTo(buf[:cap(buf)])
				if err == nil {
					out := append(buf[:b], pkt.Payload...)
					if _, err := m.conn.WriteTo(out, remote); err != nil && !errors.Is(err, net.ErrClosed) {
						m.log.Debug().Err(err).Msg("rtp write")
					}
				}
			}
			i++
		}
	}
	return true
}

// forward sends a packet received on the other leg to this leg's phone
// (its latched or SDP address) unless our direction is muted (held); it
// reports whether it did.
func (m *media) forward(pkt []byte) bool {
	m.mu.Lock()
	remote, mute := m.remote, m.mute
	m.mu.Unlock()
	if remote == nil || mute {
		return false
	}
	if _, err := m.conn.WriteTo(pkt, remote); err != nil {
		if !errors.Is(err, net.ErrClosed) {
			m.log.Debug().Err(err).Msg("rtp relay write")
		}
		return false
	}
	return true
}

// agreed is the last SDP agreed on this leg.
func (m *media) agreed() mediaOffer {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.offer
}

// Close releases the port.
func (m *media) Close() error { return m.conn.Close() }

// Prompts are the loaded prompt files by name.
type Prompts map[string]*Prompt

// LoadPrompts reads every WAV file of dir; a file that is not a valid 8 kHz
// prompt is an error naming it.
func LoadPrompts(dir string) (Prompts, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.wav"))
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no .wav prompts in %s", dir)
	}
	out := Prompts{}
	for _, n := range names {
		f, err := os.Open(n)
		if err != nil {
			return nil, err
		}
		p, err := LoadPrompt(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("prompt %s: %w", n, err)
		}
		out[filepath.Base(n[:len(n)-len(".wav")])] = p
	}
	return out, nil
}
