package sip

import (
	"net"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/hotlined/hotlined/workorder"
)

// rtpSocket is a UDP socket on ip that sends RFC 4733 key presses to the
// server's media port.
type rtpSocket struct {
	t    *testing.T
	conn *net.UDPConn
	to   *net.UDPAddr
	seq  uint16
	ts   uint32
	ssrc uint32
}

func newRTPSocket(t *testing.T, ip string, ssrc uint32) *rtpSocket {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rtpSocket{t: t, conn: conn, ssrc: ssrc, seq: 1000, ts: 80000}
}

func (r *rtpSocket) port() int { return r.conn.LocalAddr().(*net.UDPAddr).Port }

// keys sends each key as one press (start and end packets).
func (r *rtpSocket) keys(keys string) {
	for _, k := range keys {
		ev := uint8(k - '0')
		switch k {
		case '*':
			ev = 10
		case '#':
			ev = 11
		}
		for _, pkt := range press(r.ssrc, r.seq, r.ts, ev) {
			b, err := pkt.Marshal()
			if err != nil {
				r.t.Fatal(err)
			}
			if _, err := r.conn.WriteToUDP(b, r.to); err != nil {
				r.t.Fatal(err)
			}
		}
		r.seq += 6
		r.ts += 4000
	}
}

// received reports whether an RTP packet arrives within d.
func (r *rtpSocket) received(d time.Duration) bool {
	buf := make([]byte, 1500)
	_ = r.conn.SetReadDeadline(time.Now().Add(d))
	n, _, err := r.conn.ReadFromUDP(buf)
	if err != nil {
		return false
	}
	var pkt rtp.Packet
	return pkt.Unmarshal(buf[:n]) == nil
}

var mediaPortRe = regexp.MustCompile(`m=audio (\d+) `)

// callWithMedia places a call whose SDP offers media at addr:port and
// returns the dialog and the server's media address.
func callWithMedia(t *testing.T, ts *testServer, p *peer, sdpIP string, port int) (*dialog, *net.UDPAddr) {
	t.Helper()
	offer := "v=0\r\no=peer 1 1 IN IP4 " + sdpIP + "\r\ns=-\r\nc=IN IP4 " + sdpIP + "\r\nt=0 0\r\n" +
		"m=audio " + strconv.Itoa(port) + " RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
	d := p.newDialog("sip:10000@" + ts.udp.String())
	res := p.invite(d, "application/sdp", offer)
	if res.StatusCode != 200 {
		t.Fatalf("INVITE: %d", res.StatusCode)
	}
	m := mediaPortRe.FindStringSubmatch(string(res.Body()))
	if m == nil {
		t.Fatalf("no media port in the answer:\n%s", res.Body())
	}
	mp, _ := strconv.Atoi(m[1])
	return d, &net.UDPAddr{IP: ts.udp.IP, Port: mp}
}

// waitIntake waits for the first order intake.
func waitIntake(t *testing.T, ts *testServer) workorder.Intake {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		ts.orders.mu.Lock()
		n := len(ts.orders.intakes)
		var in workorder.Intake
		if n > 0 {
			in = ts.orders.intakes[0]
		}
		ts.orders.mu.Unlock()
		if n > 0 {
			return in
		}
		if time.Now().After(deadline) {
			t.Fatal("no work order taken")
		}
	}
}

// Issue 12, input 12: RTP from a third party neither presses keys in the
// call nor draws its prompts.
func TestRTPInjectionIsDropped(t *testing.T) {
	ts := startServer(t, nil)
	p := newPeer(t, ts.udp, "127.0.0.1")
	caller := newRTPSocket(t, "127.0.0.1", 0x1111)
	attacker := newRTPSocket(t, "127.0.0.5", 0x2222)
	d, media := callWithMedia(t, ts, p, "127.0.0.1", caller.port())
	caller.to, attacker.to = media, media

	// The attacker goes first: "4 4 #" would make a major complaint.
	attacker.keys("44#")
	if attacker.received(300 * time.Millisecond) {
		t.Error("the attacker received our prompts")
	}
	caller.keys("1") // a query: the menu's leaf at once
	in := waitIntake(t, ts)
	if in.IVRPath != "1" {
		t.Errorf("order from IVR path %q, want 1: injected keys were taken", in.IVRPath)
	}
	if !caller.received(5 * time.Second) {
		t.Error("the caller received no prompt")
	}
	if got := ts.counter(t, "hotlined_sip_rtp_dropped_total"); got < 18 {
		t.Errorf("rtp_dropped = %v, want the attacker's 18 packets at least", got)
	}
	p.hangup(d)
}

// Behind NAT the SDP names an address we cannot reach; media from the
// address the INVITE came from is the caller's, and prompts go there.
func TestRTPLatchesToTheSignallingAddressBehindNAT(t *testing.T) {
	ts := startServer(t, nil)
	p := newPeer(t, ts.udp, "127.0.0.1")
	caller := newRTPSocket(t, "127.0.0.1", 0x3333)
	d, media := callWithMedia(t, ts, p, "192.0.2.77", 40000) // TEST-NET: never answers
	caller.to = media
	caller.keys("1")
	if in := waitIntake(t, ts); in.IVRPath != "1" {
		t.Errorf("order from IVR path %q, want 1", in.IVRPath)
	}
	if !caller.received(5 * time.Second) {
		t.Error("prompts did not follow the latched address")
	}
	p.hangup(d)
}
