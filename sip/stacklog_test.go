package sip

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

func TestStackLogMasksCutsAndLimits(t *testing.T) {
	var buf bytes.Buffer
	muted := prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})
	h := newStackLog(zerolog.New(&buf).Level(zerolog.InfoLevel), muted)
	log := slog.New(h).With("caller", "Transport<UDP>")
	raw := "INVITE sip:10000@h SIP/2.0\r\nFrom: <sip:+8618902001111@h>\r\nP-Asserted-Identity: <tel:18902002221>\r\n" + strings.Repeat("x", 2000)
	log.Error("failed to parse", "data", raw, "error", "bad header 18902003331")
	log.Debug("dropped: below warn while our logger is at info", "data", raw)
	out := buf.String()
	for _, n := range []string{"18902001111", "18902002221", "18902003331"} {
		if strings.Contains(out, n) {
			t.Errorf("number %s in the log:\n%s", n, out)
		}
	}
	if !strings.Contains(out, `"level":"warn"`) || !strings.Contains(out, "189****2221") || !strings.Contains(out, `"caller":"Transport<UDP>"`) {
		t.Errorf("line not as expected:\n%s", out)
	}
	if len(out) > 1500 || strings.Count(out, "\n") != 1 {
		t.Errorf("want one line under 1500 bytes, got %d bytes:\n%s", len(out), out)
	}

	// The bucket holds stackLogBurst lines; the rest are counted.
	buf.Reset()
	for i := range 1000 {
		log.Warn("line", "i", i)
	}
	if n := strings.Count(buf.String(), "\n"); n < stackLogBurst-1 || n > stackLogBurst+5 {
		t.Errorf("%d lines of 1000 passed, want about %d", n, stackLogBurst)
	}
	h.shared.mu.Lock()
	h.shared.last = h.shared.last.Add(-time.Second) // a second later
	h.shared.mu.Unlock()
	buf.Reset()
	log.Warn("after a second")
	if !strings.Contains(buf.String(), `"suppressed_before":`) {
		t.Errorf("the line after the drops does not say how many: %s", buf.String())
	}
	if !h.Enabled(context.Background(), slog.LevelWarn) || h.Enabled(context.Background(), slog.LevelDebug) {
		t.Error("Enabled: want warn and above with our logger at info")
	}
}

// Issue 12, input 13: malformed INVITEs full of numbers leave a bounded,
// masked trace in the log.
func TestMalformedFloodLogsBoundedAndMasked(t *testing.T) {
	ts := startServer(t, nil)
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i := range 500 {
		// A Content-Length that lies makes sipgo's parser fail and log the data.
		msg := fmt.Sprintf("INVITE sip:10000@h SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bK-m%d\r\n"+
			"From: <sip:+86189030%05d@h>;tag=1\r\nTo: <sip:10000@h>\r\nCall-ID: m%d\r\nCSeq: 1 INVITE\r\n"+
			"Content-Length: 99999\r\n\r\nv=0", i, i, i)
		if _, err := conn.WriteToUDP([]byte(msg), ts.udp); err != nil {
			t.Fatal(err)
		}
	}
	// An OPTIONS answered after the flood: the server read it all.
	p := newPeer(t, ts.udp, "127.0.0.1")
	o := p.newDialog("sip:10000@" + ts.udp.String())
	answered := false
	for try := 0; try < 20 && !answered; try++ { // retransmitted as a UAC would: the flood may fill the socket buffer
		p.send(p.message(o, "OPTIONS", 1, "", ""))
		answered = p.final(o.callID, 1, "OPTIONS", 500*time.Millisecond) != nil
	}
	if !answered {
		t.Fatal("no answer to OPTIONS after the flood")
	}
	logs := ts.logs.String()
	stackLines := strings.Count(logs, `"lib":"sipgo"`)
	if stackLines == 0 || stackLines > stackLogBurst+stackLogRate*10 {
		t.Errorf("%d lines from the SIP library for 500 malformed messages", stackLines)
	}
	if strings.Contains(logs, "18903") || strings.Contains(logs, "86189") {
		t.Error("a number from the malformed messages is in the log unmasked")
	}
	t.Logf("500 malformed INVITEs: %d library log lines, %d bytes of log, %v suppressed",
		stackLines, len(logs), ts.counter(t, "hotlined_sip_stack_log_suppressed_total"))
}
