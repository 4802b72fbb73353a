package sip

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/hotlined/hotlined/configs"
	"github.com/hotlined/hotlined/workorder"
)

// fakeOrders records the intakes it is given and returns a new order for
// each: the work-order service is ours, so a hand-written fake stands in.
type fakeOrders struct {
	mu      sync.Mutex
	intakes []workorder.Intake
	// gate, when set, holds every Submit until it is closed: a Redis
	// that is behind.
	gate chan struct{}
}

var _ Orders = (*fakeOrders)(nil)

// hold makes Submit wait until the returned function is called.
func (f *fakeOrders) hold() (release func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gate = make(chan struct{})
	return sync.OnceFunc(func() { close(f.gate) })
}

func (f *fakeOrders) Submit(ctx context.Context, in workorder.Intake) (workorder.Result, error) {
	f.mu.Lock()
	gate := f.gate
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return workorder.Result{}, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.intakes = append(f.intakes, in)
	id := fmt.Sprintf("WO-20261130-%s-%06d", in.Province, len(f.intakes))
	return workorder.Result{Order: &workorder.Order{ID: id, Class: "complaint", Priority: 2},
		Outcome: workorder.OutcomeCreated}, nil
}

// syncBuffer collects log lines for the test to read.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type testServer struct {
	*Server
	orders *fakeOrders
	logs   *syncBuffer
	reg    *prometheus.Registry
	udp    *net.UDPAddr
	tcp    string
}

// startServer runs a Server on 127.0.0.1 port 0 (UDP and TCP) with the
// shipped config, edited by edit, and the fake order service.
func startServer(t testing.TB, edit func(*configs.Config)) *testServer {
	t.Helper()
	env := map[string]string{"HOTLINED_SIP_LISTEN": "udp:127.0.0.1:0,tcp:127.0.0.1:0"}
	cfg, err := configs.Load("../configs/hotlined.yaml", func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	cfg.SIP.AnswerDelay = 0
	// The peer of these tests answers REFER; bridge tests set their mode.
	cfg.SIP.TransferMode = configs.TransferRefer
	if edit != nil {
		edit(cfg)
	}
	ts := &testServer{orders: &fakeOrders{}, logs: &syncBuffer{}, reg: prometheus.NewRegistry()}
	srv, err := New(Params{Config: cfg, Orders: ts.orders, Registerer: ts.reg,
		Logger: zerolog.New(ts.logs).Level(zerolog.DebugLevel)})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(t.Context()); err != nil {
		t.Fatal(err)
	}
	ts.Server = srv
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		if t.Failed() {
			logs := ts.logs.String()
			if len(logs) > 20000 {
				logs = logs[len(logs)-20000:]
			}
			t.Logf("server log (tail):\n%s", logs)
		}
	})
	for _, a := range srv.Addrs() {
		switch {
		case strings.HasPrefix(a, "udp:"):
			ts.udp, _ = net.ResolveUDPAddr("udp", strings.TrimPrefix(a, "udp:"))
		case strings.HasPrefix(a, "tcp:"):
			ts.tcp = strings.TrimPrefix(a, "tcp:")
		}
	}
	return ts
}

// counter reads a counter of the server's registry; labels as name=value.
func (ts *testServer) counter(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := ts.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, l := range labels {
				k, v, _ := strings.Cut(l, "=")
				found := false
				for _, lp := range m.GetLabel() {
					found = found || (lp.GetName() == k && lp.GetValue() == v)
				}
				if !found {
					continue metrics
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

// peer is a raw SIP user agent over UDP: the test writes every message
// byte for byte, as a carrier, an SBC or an attacker would.
type peer struct {
	t      testing.TB
	conn   *net.UDPConn
	server *net.UDPAddr
	parser *sipmsg.Parser
	seq    int
	// pending holds requests the server sent us (BYE, REFER) while we
	// waited for responses.
	pending []*sipmsg.Request
	// provisional holds the 1xx statuses received, by Call-ID.
	provisional map[string][]int
}

func newPeer(t testing.TB, server *net.UDPAddr, ip string) *peer {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &peer{t: t, conn: conn, server: server, parser: sipmsg.NewParser(), provisional: map[string][]int{}}
}

func (p *peer) addr() string { return p.conn.LocalAddr().String() }

// dialog is one call as the peer sees it.
type dialog struct {
	callID, fromTag, toTag, ruri string
	cseq                         int
	headers                      []string // extra lines for the INVITE
	res                          *sipmsg.Response
}

func (p *peer) newDialog(ruri string, headers ...string) *dialog {
	p.seq++
	return &dialog{callID: fmt.Sprintf("call-%d-%s", p.seq, p.addr()), fromTag: "ft" + strconv.Itoa(p.seq),
		ruri: ruri, cseq: 1, headers: headers}
}

// message builds a request of d; body with its content type.
func (p *peer) message(d *dialog, method string, cseq int, contentType, body string, extra ...string) string {
	var b strings.Builder
	branch := fmt.Sprintf("z9hG4bK-%s-%d-%s", d.callID, cseq, method)
	if method == "ACK" && d.toTag == "" {
		branch = fmt.Sprintf("z9hG4bK-%s-%d-INVITE", d.callID, cseq) // ACK of a non-2xx: same branch
	}
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=%s;rport\r\n", method, d.ruri, p.addr(), branch)
	from := fmt.Sprintf("From: <sip:18900000000@%s>;tag=%s", p.addr(), d.fromTag)
	for _, h := range append(d.headers, extra...) {
		if strings.HasPrefix(h, "From:") {
			from = h // the dialog's From, in every request of it
		}
	}
	b.WriteString(from + "\r\n")
	to := "<sip:10000@" + p.server.String() + ">"
	if d.toTag != "" {
		to += ";tag=" + d.toTag
	}
	fmt.Fprintf(&b, "To: %s\r\nCall-ID: %s\r\nCSeq: %d %s\r\nMax-Forwards: 70\r\nContact: <sip:peer@%s>\r\n",
		to, d.callID, cseq, method, p.addr())
	if method == "INVITE" && d.toTag == "" {
		for _, h := range d.headers {
			if !strings.HasPrefix(h, "From:") {
				b.WriteString(h + "\r\n")
			}
		}
	}
	for _, h := range extra {
		if !strings.HasPrefix(h, "From:") {
			b.WriteString(h + "\r\n")
		}
	}
	if contentType != "" {
		b.WriteString("Content-Type: " + contentType + "\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
	return b.String()
}

func (p *peer) send(msg string) {
	if _, err := p.conn.WriteToUDP([]byte(msg), p.server); err != nil {
		p.t.Fatal(err)
	}
}

// read returns the next message, nil after timeout.
func (p *peer) read(timeout time.Duration) sipmsg.Message {
	buf := make([]byte, 65535)
	_ = p.conn.SetReadDeadline(time.Now().Add(timeout))
	n, _, err := p.conn.ReadFromUDP(buf)
	if err != nil {
		return nil
	}
	msg, err := p.parser.ParseSIP(buf[:n])
	if err != nil {
		p.t.Fatalf("server sent an unparsable message: %v\n%s", err, buf[:n])
	}
	return msg
}

// final waits for the final response to (callID, cseq method), answering
// nothing; requests from the server are kept in pending.
func (p *peer) final(callID string, cseq int, method string, timeout time.Duration) *sipmsg.Response {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		switch m := p.read(time.Until(deadline)).(type) {
		case *sipmsg.Response:
			if m.StatusCode < 200 && m.StatusCode > 100 {
				p.provisional[m.CallID().Value()] = append(p.provisional[m.CallID().Value()], m.StatusCode)
			}
			if m.CallID().Value() == callID && int(m.CSeq().SeqNo) == cseq && string(m.CSeq().MethodName) == method && m.StatusCode >= 200 {
				return m
			}
		case *sipmsg.Request:
			p.pending = append(p.pending, m)
		}
	}
	return nil
}

// invite sends d's INVITE and waits for its final response; a 2xx is
// ACKed (with ackBody as the answer of a late offer).
func (p *peer) invite(d *dialog, contentType, body string) *sipmsg.Response {
	p.t.Helper()
	p.send(p.message(d, "INVITE", d.cseq, contentType, body))
	res := p.final(d.callID, d.cseq, "INVITE", 10*time.Second)
	if res == nil {
		p.t.Fatalf("no final response to INVITE %s", d.callID)
	}
	d.res = res
	if tag, ok := res.To().Params.Get("tag"); ok {
		d.toTag = tag
	}
	if res.IsSuccess() {
		p.send(p.message(d, "ACK", d.cseq, "", ""))
	} else {
		p.send(p.message(d, "ACK", d.cseq, "", ""))
		d.toTag = ""
	}
	return res
}

// inDialog sends a request in d and waits for its final response.
func (p *peer) inDialog(d *dialog, method, contentType, body string, extra ...string) *sipmsg.Response {
	p.t.Helper()
	d.cseq++
	p.send(p.message(d, method, d.cseq, contentType, body, extra...))
	res := p.final(d.callID, d.cseq, method, 10*time.Second)
	if res == nil {
		p.t.Fatalf("no final response to %s in %s", method, d.callID)
	}
	return res
}

// hangup sends BYE.
func (p *peer) hangup(d *dialog) {
	p.t.Helper()
	if res := p.inDialog(d, "BYE", "", ""); res.StatusCode != 200 {
		p.t.Errorf("BYE: %d", res.StatusCode)
	}
}

// sdpOffer is an offer from the peer with media at port on 127.0.0.1.
func sdpOffer(port int, extra ...string) string {
	s := "v=0\r\no=peer 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio " + strconv.Itoa(port) + " RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n" +
		"a=rtpmap:101 telephone-event/8000\r\n"
	for _, e := range extra {
		s += e + "\r\n"
	}
	return s
}
