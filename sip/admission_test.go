package sip

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/hotlined/hotlined/configs"
)

func TestAdmissionHalfOpen(t *testing.T) {
	a := &admission{maxHalfOpen: 3, maxHalfOpenPerSource: 2, proxyMaxHalfOpen: 5, halfOpen: map[netip.Addr]int{},
		proxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")}}
	x, y, z := a.classify("192.0.2.1:5060"), a.classify("192.0.2.2:5060"), a.classify("192.0.2.3:5060")
	proxy := a.classify("[::ffff:10.0.0.1]:5060")
	if !proxy.proxy || !proxy.trusted || x.proxy || !x.trusted {
		t.Fatalf("classify: proxy %+v, other %+v", proxy, x)
	}
	var releases []func()
	take := func(s source) bool {
		r, ok := a.acquireHalfOpen(s)
		if ok {
			releases = append(releases, r)
		}
		return ok
	}
	for i, tc := range []struct {
		src  source
		want bool
	}{
		{x, true}, {x, true}, {x, false}, // per source
		{y, true}, {z, false}, // in all
		{proxy, true}, {proxy, true}, {proxy, true}, {proxy, true}, {proxy, true}, {proxy, false}, // the proxy's own budget
	} {
		if got := take(tc.src); got != tc.want {
			t.Errorf("acquire %d from %v = %v, want %v", i, tc.src.ip, got, tc.want)
		}
	}
	releases[0]()
	releases[0]() // twice: once counted
	if !take(z) || take(z) {
		t.Error("after one release, exactly one more half-open call fits")
	}
	if got := a.halfOpenCount(); got != 8 {
		t.Errorf("halfOpenCount = %d, want 8", got)
	}
}

// responses reads what the server sends for callID for d and returns the
// status codes.
func (p *peer) responses(callID string, d time.Duration) []int {
	var codes []int
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if res, ok := p.read(time.Until(deadline)).(*sipmsg.Response); ok && res.CallID().Value() == callID {
			codes = append(codes, res.StatusCode)
		}
	}
	return codes
}

// Issue 12, input 14: trust before the rate limit, one answer per refused
// request, OPTIONS 503 when calls would get 503, in-dialog requests not
// limited.
func TestScreening(t *testing.T) {
	ts := startServer(t, func(cfg *configs.Config) {
		cfg.SIP.TrustedSources = []string{"127.0.0.1/32"}
		cfg.SIP.RatePerSource, cfg.SIP.BurstPerSource = 0.001, 3
		cfg.SIP.MaxCalls = 2
	})
	untrusted := newPeer(t, ts.udp, "127.0.0.2")
	for i := range 6 {
		d := untrusted.newDialog("sip:10000@" + ts.udp.String())
		untrusted.send(untrusted.message(d, "INVITE", 1, "application/sdp", sdpOffer(6000)))
		wait := 200 * time.Millisecond
		if i == 0 {
			wait = 2500 * time.Millisecond // past Timer G's first retransmissions (0.5 s, 1 s)
		}
		if got := untrusted.responses(d.callID, wait); len(got) != 1 || got[0] != 403 {
			t.Errorf("untrusted INVITE %d: responses %v, want one 403", i, got)
		}
	}

	// A method we do not handle is screened too: 403, not 405.
	reg := untrusted.newDialog("sip:10000@" + ts.udp.String())
	untrusted.send(untrusted.message(reg, "REGISTER", 1, "", ""))
	if res := untrusted.final(reg.callID, 1, "REGISTER", 5*time.Second); res == nil || res.StatusCode != 403 {
		t.Errorf("untrusted REGISTER: %v, want 403", res)
	}

	p := newPeer(t, ts.udp, "127.0.0.1")
	d := p.newDialog("sip:10000@" + ts.udp.String())
	if res := p.invite(d, "application/sdp", sdpOffer(6000)); res.StatusCode != 200 {
		t.Fatalf("INVITE: %d", res.StatusCode)
	}
	// The budget of 3 is spent on INVITE and two OPTIONS; in-dialog INFOs
	// and the BYE go through all the same.
	for range 2 {
		o := p.newDialog("sip:10000@" + ts.udp.String())
		p.send(p.message(o, "OPTIONS", 1, "", ""))
		if res := p.final(o.callID, 1, "OPTIONS", 5*time.Second); res == nil || res.StatusCode != 200 {
			t.Fatalf("OPTIONS within budget: %v", res)
		}
	}
	for i := range 10 {
		if res := p.inDialog(d, "INFO", "application/dtmf-relay", "Signal=1\r\nDuration=100\r\n"); res.StatusCode != 200 {
			t.Errorf("in-dialog INFO %d: %d, want 200 (not rate limited)", i, res.StatusCode)
		}
	}
	o := p.newDialog("sip:10000@" + ts.udp.String())
	p.send(p.message(o, "OPTIONS", 1, "", ""))
	if res := p.final(o.callID, 1, "OPTIONS", 5*time.Second); res == nil || res.StatusCode != 503 {
		t.Errorf("OPTIONS over budget: %v, want 503", res)
	}
	p.hangup(d)
	if got := ts.counter(t, "hotlined_sip_calls_total", "outcome=rejected_forbidden"); got != 6 {
		t.Errorf("rejected_forbidden = %v, want 6", got)
	}
}

func TestOptionsSaysWhenCallsWouldBeRefused(t *testing.T) {
	ts := startServer(t, func(cfg *configs.Config) { cfg.SIP.MaxCalls = 1 })
	p := newPeer(t, ts.udp, "127.0.0.1")
	options := func() int {
		o := p.newDialog("sip:10000@" + ts.udp.String())
		p.send(p.message(o, "OPTIONS", 1, "", ""))
		res := p.final(o.callID, 1, "OPTIONS", 5*time.Second)
		if res == nil {
			t.Fatal("no answer to OPTIONS")
		}
		return res.StatusCode
	}
	if got := options(); got != 200 {
		t.Errorf("OPTIONS idle: %d", got)
	}
	d := p.newDialog("sip:10000@" + ts.udp.String())
	if res := p.invite(d, "application/sdp", sdpOffer(6000)); res.StatusCode != 200 {
		t.Fatalf("INVITE: %d", res.StatusCode)
	}
	if got := options(); got != 503 {
		t.Errorf("OPTIONS at max_calls: %d, want 503", got)
	}
	if res := p.invite(p.newDialog("sip:10000@"+ts.udp.String()), "application/sdp", sdpOffer(6000)); res.StatusCode != 503 {
		t.Errorf("INVITE at max_calls: %d, want 503", res.StatusCode)
	}
	p.hangup(d)
	ts.Drain()
	if got := options(); got != 503 {
		t.Errorf("OPTIONS while draining: %d, want 503", got)
	}
}

// Issue 12, input 10 (small): an INVITE never ACKed frees its slot after
// sip.ack_timeout; the half-open cap per source refuses more meanwhile.
func TestHalfOpenCallsFreeTheirSlots(t *testing.T) {
	ts := startServer(t, func(cfg *configs.Config) {
		cfg.SIP.AckTimeout = configs.Duration(500 * time.Millisecond)
		cfg.SIP.MaxHalfOpenPerSource = 2
	})
	p := newPeer(t, ts.udp, "127.0.0.3")
	var codes []int
	for range 3 {
		d := p.newDialog("sip:10000@" + ts.udp.String())
		p.send(p.message(d, "INVITE", 1, "application/sdp", sdpOffer(6000)))
		res := p.final(d.callID, 1, "INVITE", 5*time.Second)
		if res == nil {
			t.Fatal("no final response")
		}
		codes = append(codes, res.StatusCode) // never ACKed
	}
	if fmt.Sprint(codes) != "[200 200 503]" {
		t.Errorf("three unACKed INVITEs from one source: %v, want 200 200 503", codes)
	}
	other := newPeer(t, ts.udp, "127.0.0.4")
	d := other.newDialog("sip:10000@" + ts.udp.String())
	if res := other.invite(d, "application/sdp", sdpOffer(6000)); res.StatusCode != 200 {
		t.Errorf("another source meanwhile: %d, want 200", res.StatusCode)
	}
	deadline := time.Now().Add(10 * time.Second)
	for ts.counter(t, "hotlined_sip_ack_timeouts_total") < 2 || ts.activeCalls.Load() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("ack timeouts %v, active calls %d: want 2 and 1", ts.counter(t, "hotlined_sip_ack_timeouts_total"), ts.activeCalls.Load())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := ts.admit.halfOpenCount(); n != 0 {
		t.Errorf("half-open after the timeouts: %d", n)
	}
	other.hangup(d)
}

// Issue 15: a call whose work order waits on Redis holds a pending slot;
// at sip.max_pending_orders a new INVITE gets 503 before it is answered
// (nothing accepted, nothing lost), OPTIONS says so too, and calls are
// taken again once the writes are through.
func TestPendingOrdersRefuseNewCalls(t *testing.T) {
	ts := startServer(t, func(cfg *configs.Config) { cfg.SIP.MaxPendingOrders = 1 })
	release := ts.orders.hold()
	defer release()
	p := newPeer(t, ts.udp, "127.0.0.1")
	target := "sip:10000@" + ts.udp.String()
	first := p.newDialog(target, "X-IVR-Path: 41")
	if res := p.invite(first, "application/sdp", sdpOffer(6000)); res.StatusCode != 200 {
		t.Fatalf("first INVITE: %d", res.StatusCode)
	}
	for deadline := time.Now().Add(5 * time.Second); ts.pendingOrders.Load() != 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("pending orders %d, want 1", ts.pendingOrders.Load())
		}
	}
	res := p.invite(p.newDialog(target, "X-IVR-Path: 41"), "application/sdp", sdpOffer(6002))
	if res.StatusCode != 503 || res.Reason != "Storage Busy" || res.GetHeader("Retry-After") == nil {
		t.Errorf("INVITE with an order waiting on Redis: %d %s, want 503 Storage Busy with Retry-After", res.StatusCode, res.Reason)
	}
	o := p.newDialog(target)
	p.send(p.message(o, "OPTIONS", 1, "", ""))
	if res := p.final(o.callID, 1, "OPTIONS", 5*time.Second); res == nil || res.StatusCode != 503 {
		t.Errorf("OPTIONS with an order waiting on Redis: %v, want 503", res)
	}
	if n := ts.counter(t, "hotlined_sip_calls_total", "outcome=rejected_storage_busy"); n != 1 {
		t.Errorf("calls refused as storage busy: %v, want 1", n)
	}

	release()
	for deadline := time.Now().Add(5 * time.Second); ts.pendingOrders.Load() != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("pending orders %d after the release, want 0", ts.pendingOrders.Load())
		}
	}
	third := p.newDialog(target, "X-IVR-Path: 41")
	if res := p.invite(third, "application/sdp", sdpOffer(6004)); res.StatusCode != 200 {
		t.Errorf("INVITE after the writes: %d, want 200", res.StatusCode)
	}
	p.hangup(first)
	p.hangup(third)
	ts.orders.mu.Lock()
	defer ts.orders.mu.Unlock()
	if len(ts.orders.intakes) != 2 {
		t.Errorf("orders written %d, want 2 (the refused call made none)", len(ts.orders.intakes))
	}
}
