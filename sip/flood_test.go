package sip

import (
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/internal/phone"
)

// floodInvite is an INVITE that is never ACKed, from number.
func floodInvite(server, local, callID, number string) []byte {
	sdp := sdpOffer(6000)
	return []byte(fmt.Sprintf("INVITE sip:10000@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-%s\r\n"+
		"From: <sip:%s@%s>;tag=%s\r\nTo: <sip:10000@%s>\r\nCall-ID: %s\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"+
		"Contact: <sip:x@%s>\r\nP-Asserted-Identity: <tel:+86%s>\r\nContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s",
		server, local, callID, number, local, callID, server, callID, local, number, len(sdp), sdp))
}

// rssKB is the peak resident set size of this process (VmHWM).
func rssKB() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "?"
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

// Issue 12, input 10: while sources that are not proxies flood INVITEs they
// never ACK (one at 250/s, twenty at 100/s each, 3 s, loopback only), a
// trusted proxy's calls still go through, and no full number reaches the
// log.
func TestFloodOfHalfOpenInvites(t *testing.T) {
	ts := startServer(t, func(cfg *configs.Config) {
		cfg.SIP.MaxCalls = 300
		cfg.SIP.MaxHalfOpen = 100
		cfg.SIP.MaxHalfOpenPerSource = 10
		cfg.SIP.AckTimeout = configs.Duration(time.Second)
		cfg.SIP.TrustedSources = []string{"127.0.0.0/8"}
		cfg.SIP.TrustedProxies = []string{"127.0.0.1/32"}
	})
	const floodFor = 3 * time.Second
	var (
		sent    atomic.Int64
		wg      sync.WaitGroup
		numbers sync.Map // every number sent, to look for in the log
	)
	stop := make(chan struct{})
	flood := func(src int, perSecond int) {
		defer wg.Done()
		local := fmt.Sprintf("127.0.1.%d", src)
		conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(local)})
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		tick := time.NewTicker(time.Second / time.Duration(perSecond))
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			number := fmt.Sprintf("1890201%02d%02d", src, i%100)
			numbers.Store(number, true)
			msg := floodInvite(ts.udp.String(), conn.LocalAddr().String(), fmt.Sprintf("flood-%d-%d", src, i), number)
			if _, err := conn.WriteToUDP(msg, ts.udp); err == nil {
				sent.Add(1)
			}
		}
	}
	wg.Add(21)
	go flood(1, 250)
	for src := 2; src <= 21; src++ {
		go flood(src, 100)
	}

	var peak, peakHalf atomic.Int64
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			if n := ts.activeCalls.Load(); n > peak.Load() {
				peak.Store(n)
			}
			if n := int64(ts.admit.halfOpenCount()); n > peakHalf.Load() {
				peakHalf.Store(n)
			}
		}
	}()

	floodStart := time.Now()
	time.Sleep(300 * time.Millisecond) // the flood is on
	proxy := newPeer(t, ts.udp, "127.0.0.1")
	attempted, succeeded := 0, 0
	for attempted < 20 && time.Since(floodStart) < floodFor {
		time.Sleep(100 * time.Millisecond)
		attempted++
		number := fmt.Sprintf("18902002%03d", attempted)
		numbers.Store(number, true)
		d := proxy.newDialog("sip:10000@"+ts.udp.String(), fmt.Sprintf("P-Asserted-Identity: <sip:+86%s@127.0.0.1>", number))
		proxy.send(proxy.message(d, "INVITE", 1, "application/sdp", sdpOffer(6000)))
		res := proxy.final(d.callID, 1, "INVITE", 5*time.Second)
		if res == nil || res.StatusCode != 200 {
			t.Logf("trusted call %d: %v", attempted, res)
			continue
		}
		d.res = res
		d.toTag, _ = res.To().Params.Get("tag")
		proxy.send(proxy.message(d, "ACK", 1, "", ""))
		if bye := proxy.inDialog(d, "BYE", "", ""); bye.StatusCode == 200 {
			succeeded++
		}
	}
	time.Sleep(floodFor - time.Since(floodStart))
	close(stop)
	wg.Wait()
	<-sampled
	// Every half-open slot comes back once the ACK timeout has passed.
	for deadline := time.Now().Add(15 * time.Second); ts.activeCalls.Load() != 0 || ts.admit.halfOpenCount() != 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after the flood: %d calls, %d half-open still held", ts.activeCalls.Load(), ts.admit.halfOpenCount())
		}
	}
	rss := rssKB()
	t.Logf("flood: %d INVITEs never ACKed from 21 sources in %v; trusted proxy calls %d/%d succeeded; "+
		"peak call slots used %d of %d, peak half-open %d (cap %d for non-proxies); no_ack %v, rejected_half_open %v; peak RSS of the test process %s; "+
		"log %d lines, %d bytes",
		sent.Load(), floodFor, succeeded, attempted, peak.Load(), ts.cfg.SIP.MaxCalls, peakHalf.Load(), ts.cfg.SIP.MaxHalfOpen,
		ts.counter(t, "hotlined_sip_calls_total", "outcome=no_ack"), ts.counter(t, "hotlined_sip_calls_total", "outcome=rejected_half_open"), rss,
		strings.Count(ts.logs.String(), "\n"), len(ts.logs.String()))
	if attempted == 0 || succeeded != attempted {
		t.Errorf("trusted calls during the flood: %d/%d succeeded", succeeded, attempted)
	}
	// Besides the flood's half-open calls only the proxy's calls hold slots.
	if peak.Load() > int64(ts.cfg.SIP.MaxHalfOpen+attempted) {
		t.Errorf("peak call slots %d: the flood took more than max_half_open (%d)", peak.Load(), ts.cfg.SIP.MaxHalfOpen)
	}
	logs := ts.logs.String()
	numbers.Range(func(k, _ any) bool {
		if n := k.(string); strings.Contains(logs, n) || strings.Contains(logs, n[3:]) {
			t.Errorf("number %s in the log unmasked", phone.Mask(n))
			return false
		}
		return true
	})
}
